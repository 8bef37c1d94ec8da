//! The delivery queue: an SQS FIFO queue whose message groups are one
//! conversation's delivery shards, so a shard's passes run one at a time and
//! in order. A message only says "this shard has something to deliver"; what
//! to deliver is read from the database by the pass.

use anyhow::Context;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};

use crate::secret;

/// A shard of a conversation with changes to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nudge {
    pub conversation_id: i64,
    /// Which of `shards`: the shard of a user is `user_id % shards`.
    pub shard: i64,
    pub shards: i64,
    /// Where a shard that has never delivered starts: the log's changes
    /// after this version are new.
    pub since: i64,
}

impl Nudge {
    /// The FIFO message group: passes of one shard never overlap.
    pub fn group(&self) -> String {
        format!("{}:{}", self.conversation_id, self.shard)
    }
}

/// A nudge request that has not been answered in this time is tried once
/// more, then given up: the change has committed, and a client catches up by
/// `version`.
pub const NUDGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// SQS takes at most 10 messages per batch.
const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    client: Client,
    url: String,
}

impl DeliveryQueue {
    pub fn new(client: Client, url: String) -> Self {
        DeliveryQueue { client, url }
    }

    /// The queue at `url`, signed with the credentials Lambda puts in the
    /// environment; `endpoint` overrides the regional endpoint (local runs).
    pub fn from_env(url: &str, endpoint: Option<&str>) -> anyhow::Result<Self> {
        let region = std::env::var("AWS_REGION")
            .context("AWS_REGION must be set to use the delivery queue")?;
        let mut config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .http_client(crate::aws_http::client());
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(DeliveryQueue::new(
            Client::from_conf(config.build()),
            url.to_string(),
        ))
    }

    /// Sends every nudge, ten to a request. Each has its own de-duplication
    /// id: two changes are two nudges, even within SQS's five minutes. A
    /// request that fails or does not answer in time is sent once more with
    /// the same ids, so SQS keeps one copy if the first did arrive.
    pub async fn send(&self, nudges: &[Nudge]) -> anyhow::Result<()> {
        for chunk in nudges.chunks(BATCH) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, nudge) in chunk.iter().enumerate() {
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(nudge)?)
                        .message_group_id(nudge.group())
                        .message_deduplication_id(secret::random_token())
                        .build()?,
                );
            }
            if let Err(first) = self.send_batch(entries.clone()).await {
                tracing::info!(error = format!("{first:#}"), "nudge sent again");
                self.send_batch(entries).await?;
            }
        }
        Ok(())
    }

    async fn send_batch(&self, entries: Vec<SendMessageBatchRequestEntry>) -> anyhow::Result<()> {
        let sending = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send();
        let sent = tokio::time::timeout(NUDGE_TIMEOUT, sending)
            .await
            .map_err(|_| anyhow::anyhow!("the delivery queue did not answer in {NUDGE_TIMEOUT:?}"))?
            .map_err(|err| anyhow::anyhow!(DisplayErrorContext(err).to_string()))?;
        if let Some(failed) = sent.failed().first() {
            anyhow::bail!(
                "the delivery queue refused a nudge: {} {}",
                failed.code(),
                failed.message().unwrap_or_default()
            );
        }
        Ok(())
    }
}
