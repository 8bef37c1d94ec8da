//! Real-time delivery: tickets that open a WebSocket, and the publisher that
//! posts events to every open connection of their recipients through the API
//! Gateway Management API.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Region};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use sqlx::MySqlPool;
use tokio::task::JoinSet;

use crate::secret;
use crate::store::messages::Message;
use crate::store::realtime as store;

/// A ticket opens one connection within this time of being issued.
pub const TICKET_TTL_SECONDS: i64 = 60;

/// How long a change waits for its events to reach the gateway before it
/// answers anyway: the client catches up by `version`.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(2);

/// Issues a single-use ticket for `user_id`; only its digest is stored.
pub async fn issue_ticket(
    pool: &MySqlPool,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let ticket = secret::random_token();
    let expires_at = now + TimeDelta::seconds(TICKET_TTL_SECONDS);
    store::insert_ticket(
        pool,
        user_id,
        &secret::digest_token(&ticket),
        now,
        expires_at,
    )
    .await?;
    Ok(ticket)
}

/// Spends `ticket` and returns the user it stands for, or `None` when it is
/// unknown, used or expired.
pub async fn redeem_ticket(
    pool: &MySqlPool,
    ticket: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    store::consume_ticket(pool, &secret::digest_token(ticket), now).await
}

/// Posts events to open connections; built once per cold start.
pub struct Publisher {
    client: Client,
    deadline: Duration,
}

/// What became of one post.
enum Delivery {
    Sent,
    Gone,
    Failed(String),
}

impl Publisher {
    pub fn new(client: Client) -> Self {
        Publisher {
            client,
            deadline: PUBLISH_DEADLINE,
        }
    }

    /// A client of the Management API at `endpoint`
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`), signed
    /// with the credentials Lambda puts in the environment, as the secrets
    /// client is.
    pub fn from_env(endpoint: &str) -> anyhow::Result<Self> {
        let region = std::env::var("AWS_REGION")
            .context("AWS_REGION must be set to publish real-time events")?;
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .endpoint_url(endpoint)
            .build();
        Ok(Publisher::new(Client::from_conf(config)))
    }

    /// Sends each event to every open connection of its user, all at once,
    /// and waits at most the publish deadline. A connection the gateway
    /// reports gone (410) is forgotten; any other failure is logged. Never
    /// fails the caller: the change has committed already.
    pub async fn publish(&self, pool: &MySqlPool, deliveries: Vec<(i64, Value)>) {
        if deliveries.is_empty() {
            return;
        }
        let mut users: Vec<i64> = deliveries.iter().map(|(user, _)| *user).collect();
        users.sort_unstable();
        users.dedup();
        let connections = match store::connections_of(pool, &users).await {
            Ok(connections) => connections,
            Err(err) => {
                tracing::warn!(error = %err, "real-time delivery skipped: connections unreadable");
                return;
            }
        };
        let mut by_user: HashMap<i64, Vec<String>> = HashMap::new();
        for connection in connections {
            by_user
                .entry(connection.user_id)
                .or_default()
                .push(connection.connection_id);
        }
        let mut posts = Vec::new();
        for (user, event) in deliveries {
            let data = Bytes::from(event.to_string());
            for connection_id in by_user.get(&user).into_iter().flatten() {
                posts.push((connection_id.clone(), data.clone()));
            }
        }
        self.post_all(pool, posts).await;
    }

    /// Sends one event to every open connection of every participant of a
    /// conversation, as [`Self::publish`] does.
    pub async fn publish_to_participants(
        &self,
        pool: &MySqlPool,
        conversation_id: i64,
        event: &Value,
    ) {
        let connections = match store::participant_connections(pool, conversation_id).await {
            Ok(connections) => connections,
            Err(err) => {
                tracing::warn!(error = %err, "real-time delivery skipped: connections unreadable");
                return;
            }
        };
        let data = Bytes::from(event.to_string());
        let posts = connections
            .into_iter()
            .map(|connection| (connection.connection_id, data.clone()))
            .collect();
        self.post_all(pool, posts).await;
    }

    async fn post_all(&self, pool: &MySqlPool, posts: Vec<(String, Bytes)>) {
        let mut running = JoinSet::new();
        for (connection_id, data) in posts {
            let client = self.client.clone();
            running.spawn(async move {
                let outcome = post(&client, &connection_id, data).await;
                (connection_id, outcome)
            });
        }
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut gone = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(None) => break,
                Ok(Some(Ok((connection_id, outcome)))) => match outcome {
                    Delivery::Sent => {}
                    Delivery::Gone => gone.push(connection_id),
                    Delivery::Failed(error) => {
                        tracing::warn!(connection_id, error, "real-time delivery failed");
                    }
                },
                Ok(Some(Err(err))) => {
                    tracing::warn!(error = %err, "real-time delivery task failed")
                }
                Err(_) => {
                    tracing::warn!(
                        unfinished = running.len(),
                        "real-time delivery deadline passed"
                    );
                    running.abort_all();
                    break;
                }
            }
        }
        // Only the connections reported gone: never the sender's own.
        for connection_id in gone {
            if let Err(err) = store::delete_connection(pool, &connection_id).await {
                tracing::warn!(connection_id, error = %err, "could not forget a gone connection");
            }
        }
    }
}

/// `message.created`, `message.updated` or `message.deleted` (a tombstone).
pub fn message_event(kind: MessageEvent, message: &Message) -> Value {
    json!({
        "type": kind.as_str(),
        "conversation_id": message.conversation_id,
        "version": message.version,
        "message": message,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageEvent {
    Created,
    Updated,
    Deleted,
}

impl MessageEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageEvent::Created => "message.created",
            MessageEvent::Updated => "message.updated",
            MessageEvent::Deleted => "message.deleted",
        }
    }
}

async fn post(client: &Client, connection_id: &str, data: Bytes) -> Delivery {
    let sent = client
        .post_to_connection()
        .connection_id(connection_id)
        .data(Blob::new(data.to_vec()))
        .send()
        .await;
    match sent {
        Ok(_) => Delivery::Sent,
        Err(err) => {
            if err
                .as_service_error()
                .is_some_and(|service| service.is_gone_exception())
            {
                Delivery::Gone
            } else {
                Delivery::Failed(
                    aws_sdk_apigatewaymanagement::error::DisplayErrorContext(err).to_string(),
                )
            }
        }
    }
}
