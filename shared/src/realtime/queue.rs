//! The delivery queue: an SQS FIFO queue whose message groups are one
//! conversation's delivery shards, so a shard's passes run one at a time and
//! in order. A message only says "this shard has something to deliver"; what
//! to deliver is read from the database by the pass.

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Uri};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws_http::SignedHttp;
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
    http: SignedHttp,
    url: String,
    /// Where requests go: the queue URL's own origin, or a local override.
    endpoint: String,
}

/// What SQS answers a batch: the entries it refused, if any.
#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(rename = "Failed", default)]
    failed: Vec<Refused>,
}

#[derive(Deserialize)]
struct Refused {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

impl DeliveryQueue {
    /// The queue at `url`; `endpoint` overrides where requests go (local
    /// runs), which is otherwise the queue URL's origin.
    pub fn new(url: &str, endpoint: Option<&str>, http: SignedHttp) -> anyhow::Result<Self> {
        let endpoint = match endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_string(),
            None => {
                let parsed: Uri = url.parse().context("DELIVERY_QUEUE_URL is not a URL")?;
                let (Some(scheme), Some(authority)) = (parsed.scheme(), parsed.authority()) else {
                    anyhow::bail!("DELIVERY_QUEUE_URL is not an absolute URL");
                };
                format!("{scheme}://{authority}")
            }
        };
        Ok(DeliveryQueue {
            http,
            url: url.to_string(),
            endpoint,
        })
    }

    /// Where the queue's requests go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The queue at `url`, signed with the credentials Lambda puts in the
    /// environment.
    pub fn from_env(url: &str, endpoint: Option<&str>) -> anyhow::Result<Self> {
        DeliveryQueue::new(url, endpoint, SignedHttp::from_env("sqs")?)
    }

    /// Sends every nudge, ten to a request. Each has its own de-duplication
    /// id: two changes are two nudges, even within SQS's five minutes. A
    /// request that fails or does not answer in time is sent once more with
    /// the same ids, so SQS keeps one copy if the first did arrive.
    pub async fn send(&self, nudges: &[Nudge]) -> anyhow::Result<()> {
        for chunk in nudges.chunks(BATCH) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .map(|(i, nudge)| {
                    json!({
                        "Id": i.to_string(),
                        "MessageBody": json!(nudge).to_string(),
                        "MessageGroupId": nudge.group(),
                        "MessageDeduplicationId": secret::random_token(),
                    })
                })
                .collect();
            let body = Bytes::from(json!({"QueueUrl": self.url, "Entries": entries}).to_string());
            if let Err(first) = self.send_batch(body.clone()).await {
                tracing::info!(error = format!("{first:#}"), "nudge sent again");
                self.send_batch(body).await?;
            }
        }
        Ok(())
    }

    /// One `SendMessageBatch` in SQS's JSON protocol.
    async fn send_batch(&self, body: Bytes) -> anyhow::Result<()> {
        let answer = self
            .http
            .send(
                Method::POST,
                &format!("{}/", self.endpoint),
                &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amz-target", "AmazonSQS.SendMessageBatch"),
                ],
                body,
                NUDGE_TIMEOUT,
            )
            .await
            .map_err(|err| anyhow::anyhow!("the delivery queue did not answer: {err:#}"))?;
        anyhow::ensure!(
            answer.status.is_success(),
            "the delivery queue answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body).trim()
        );
        let answer: BatchAnswer =
            serde_json::from_slice(&answer.body).context("the delivery queue's answer")?;
        if let Some(refused) = answer.failed.first() {
            anyhow::bail!(
                "the delivery queue refused a nudge: {} {}",
                refused.code,
                refused.message
            );
        }
        Ok(())
    }
}
