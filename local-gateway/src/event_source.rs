//! Lambda's SQS event source mapping on one machine: pollers receive batches
//! from the delivery queue (any SQS API, locally moto), invoke the fan-out
//! function with the SQS event through the Lambda Invoke API, delete what it
//! delivered, and leave what it reports failed to come back after the
//! visibility timeout. FIFO order per message group is the queue's: a group
//! with a batch in flight gives nothing more until that batch is deleted.
//! It also invokes the function's sweep now and then, as the cloud's
//! schedule does.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use aws_smithy_http_client::tls;
use serde_json::{Value, json};

use crate::invoke::Invoker;

#[derive(Clone, Debug)]
pub struct EventSource {
    /// The SQS API, e.g. `http://127.0.0.1:9324`.
    pub endpoint: String,
    pub queue_url: String,
    /// The Invoke API's address and the function's name there.
    pub invoke_url: String,
    pub function: String,
    /// Batches in flight at once, as the mapping's maximum concurrency.
    pub concurrency: usize,
    /// Messages per batch (SQS gives at most 10 a receive).
    pub batch_size: i32,
    /// How often the function is invoked with `{"action": "sweep"}`, as a
    /// schedule does in the cloud.
    pub sweep_interval: Option<Duration>,
}

/// A client of the SQS API at `endpoint`, with made-up credentials (the
/// local SQS checks no signature).
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        // The SDK has no default HTTP client in this workspace (its default
        // would bring aws-lc); the functions' one, rustls over ring, also
        // speaks plain HTTP.
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

impl EventSource {
    fn client(&self) -> Client {
        client(&self.endpoint)
    }

    /// Polls until the task is dropped.
    pub async fn run(self) {
        let client = self.client();
        let invoker = Invoker::new(&self.invoke_url, &self.function);
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency.max(1) {
            let (source, client, invoker) = (self.clone(), client.clone(), invoker.clone());
            pollers.spawn(async move {
                loop {
                    if let Err(err) = source.poll_once(&client, &invoker).await {
                        tracing::warn!(error = format!("{err:#}"), "event source poll failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            });
        }
        if let Some(interval) = self.sweep_interval {
            let invoker = invoker.clone();
            pollers.spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    if let Err(err) = invoker.invoke_raw(&json!({"action": "sweep"})).await {
                        tracing::warn!(error = format!("{err:#}"), "sweep invocation failed");
                    }
                }
            });
        }
        while pollers.join_next().await.is_some() {}
    }

    async fn poll_once(&self, client: &Client, invoker: &Invoker) -> anyhow::Result<()> {
        let received = client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!(DisplayErrorContext(err).to_string()))?;
        let messages = received.messages();
        if messages.is_empty() {
            return Ok(());
        }
        let event = json!({"Records": messages.iter().map(|m| self.record(m)).collect::<Vec<_>>()});
        let failed: Vec<String> = match invoker.invoke_raw(&event).await {
            Ok(answer) => answer["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                .collect(),
            Err(err) => {
                // A failed invocation retries the whole batch, as Lambda does.
                tracing::warn!(error = format!("{err:#}"), "fan-out invocation failed");
                return Ok(());
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.iter().any(|id| Some(id.as_str()) == m.message_id()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| anyhow::anyhow!(DisplayErrorContext(err).to_string()))?;
        }
        Ok(())
    }

    /// One message as Lambda's SQS event record.
    fn record(&self, message: &Message) -> Value {
        let attributes: serde_json::Map<String, Value> = message
            .attributes()
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(name, value)| (name.as_str().to_string(), json!(value)))
                    .collect()
            })
            .unwrap_or_default();
        let name = self.queue_url.rsplit('/').next().unwrap_or_default();
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-east-1:000000000000:{name}"),
            "awsRegion": "us-east-1",
        })
    }
}
