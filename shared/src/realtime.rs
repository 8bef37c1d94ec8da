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
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::MySqlPool;
use tokio::task::JoinSet;

use crate::secret;
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

        let mut posts = JoinSet::new();
        for (user, event) in deliveries {
            let Some(connection_ids) = by_user.get(&user) else {
                continue;
            };
            let data = event.to_string().into_bytes();
            for connection_id in connection_ids {
                let client = self.client.clone();
                let connection_id = connection_id.clone();
                let data = data.clone();
                posts.spawn(async move {
                    let outcome = post(&client, &connection_id, data).await;
                    (connection_id, outcome)
                });
            }
        }

        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut gone = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, posts.join_next()).await {
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
                        unfinished = posts.len(),
                        "real-time delivery deadline passed"
                    );
                    posts.abort_all();
                    break;
                }
            }
        }
        for connection_id in gone {
            if let Err(err) = store::delete_connection(pool, &connection_id).await {
                tracing::warn!(connection_id, error = %err, "could not forget a gone connection");
            }
        }
    }
}

async fn post(client: &Client, connection_id: &str, data: Vec<u8>) -> Delivery {
    let sent = client
        .post_to_connection()
        .connection_id(connection_id)
        .data(Blob::new(data))
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
