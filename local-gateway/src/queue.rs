//! SQS FIFO queues on one machine, over SQS's JSON protocol (what the AWS
//! SDKs speak): `CreateQueue`, `GetQueueUrl`, `SendMessage(Batch)`,
//! `ReceiveMessage` (with long polling), `DeleteMessage(Batch)` and
//! `ChangeMessageVisibility`. FIFO as SQS keeps it: messages of one group
//! come in order, and a group with a received message not yet deleted gives
//! nothing more until it is deleted or its visibility timeout passes.
//! De-duplication ids are honoured for five minutes. Queues live in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{Reply, reply};

/// SQS's limit on one request (a batch of 10 messages of 256 KiB).
const MAX_REQUEST_BYTES: usize = 10 * 256 * 1024 + 64 * 1024;
const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(5 * 60);
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// SQS's longest visibility timeout.
const MAX_VISIBILITY_SECONDS: u64 = 12 * 3600;
/// The delivery queue's here: a failed pass is retried soon.
const LOCAL_VISIBILITY: Duration = Duration::from_secs(5);
/// Messages waiting in one queue at most; a send beyond it is refused, so a
/// consumer that stopped cannot make the emulator grow without bound.
const MAX_WAITING: usize = 100_000;

#[derive(Default)]
pub(crate) struct Queues {
    queues: Mutex<HashMap<String, Queue>>,
    arrived: Notify,
}

struct Queue {
    visibility: Duration,
    /// Waiting messages, in send order.
    waiting: VecDeque<Stored>,
    /// Received and not deleted yet: receipt handle → message.
    in_flight: HashMap<String, (Stored, Instant)>,
    /// De-duplication ids of the last five minutes, oldest first.
    seen: VecDeque<(Instant, String)>,
    seen_ids: std::collections::HashSet<String>,
    next_sequence: u64,
}

#[derive(Clone)]
struct Stored {
    id: String,
    body: String,
    group: String,
    deduplication_id: String,
    sequence: u64,
    sent_at_ms: i64,
    receive_count: u32,
}

struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status: StatusCode::BAD_REQUEST,
        code,
        message: message.into(),
    }
}

fn random_id() -> String {
    crate::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn text<'a>(body: &'a Value, field: &str) -> Result<&'a str, Refusal> {
    body[field]
        .as_str()
        .ok_or_else(|| refuse("MissingParameter", format!("{field} is required.")))
}

fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}

pub(crate) fn is_sqs(req: &Request<Incoming>) -> bool {
    req.headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AmazonSQS."))
}

impl Queues {
    pub(crate) async fn handle(&self, host: &str, req: Request<Incoming>) -> Reply {
        let action = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("AmazonSQS."))
            .unwrap_or_default()
            .to_string();
        let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return error(refuse("RequestTooLarge", "The request is too large.")),
        };
        let body: Value = match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(_) => return error(refuse("InvalidParameterValue", "The body is not JSON.")),
        };
        let answered = match action.as_str() {
            "CreateQueue" => self.create_queue(host, &body),
            "GetQueueUrl" => self.url(host, &body),
            "SendMessage" => self.send_one(&body),
            "SendMessageBatch" => self.send_batch(&body),
            "ReceiveMessage" => self.receive(&body).await,
            "DeleteMessage" => self.delete_one(&body),
            "DeleteMessageBatch" => self.delete_batch(&body),
            "ChangeMessageVisibility" => self.change_visibility(&body),
            _ => Err(refuse(
                "InvalidAction",
                format!("{action} is not served here."),
            )),
        };
        match answered {
            Ok(value) => json_reply(StatusCode::OK, &value),
            Err(refusal) => error(refusal),
        }
    }

    fn with_queue<T>(
        &self,
        url: &str,
        work: impl FnOnce(&mut Queue) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.get_mut(queue_name(url)).ok_or_else(|| Refusal {
            status: StatusCode::BAD_REQUEST,
            code: "QueueDoesNotExist",
            message: "The specified queue does not exist.".into(),
        })?;
        work(queue)
    }

    /// Creates a FIFO queue with the local run's visibility timeout.
    pub(crate) fn create(&self, name: &str) {
        self.insert(name, LOCAL_VISIBILITY);
    }

    fn insert(&self, name: &str, visibility: Duration) {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_insert_with(|| Queue {
                visibility,
                waiting: VecDeque::new(),
                in_flight: HashMap::new(),
                seen: VecDeque::new(),
                seen_ids: std::collections::HashSet::new(),
                next_sequence: 1,
            });
    }

    fn create_queue(&self, host: &str, body: &Value) -> Result<Value, Refusal> {
        let name = text(body, "QueueName")?;
        if !name.ends_with(".fifo") {
            return Err(refuse(
                "InvalidParameterValue",
                "Only FIFO queues (names ending in .fifo) are served here.",
            ));
        }
        let visibility = body["Attributes"]["VisibilityTimeout"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_VISIBILITY, |s| {
                Duration::from_secs(s.min(MAX_VISIBILITY_SECONDS))
            });
        self.insert(name, visibility);
        Ok(json!({"QueueUrl": format!("http://{host}/000000000000/{name}")}))
    }

    fn url(&self, host: &str, body: &Value) -> Result<Value, Refusal> {
        let name = text(body, "QueueName")?;
        self.with_queue(name, |_| Ok(()))?;
        Ok(json!({"QueueUrl": format!("http://{host}/000000000000/{name}")}))
    }

    fn send_one(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let sent = self.with_queue(url, |queue| queue.push(body))?;
        self.arrived.notify_waiters();
        Ok(sent)
    }

    fn send_batch(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let entries = body["Entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() || entries.len() > 10 {
            return Err(refuse(
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "A batch takes 1 to 10 entries.",
            ));
        }
        let answer = self.with_queue(url, |queue| {
            let mut successful = Vec::new();
            let mut failed = Vec::new();
            for entry in &entries {
                let id = entry["Id"].as_str().unwrap_or_default();
                match queue.push(entry) {
                    Ok(mut sent) => {
                        sent["Id"] = json!(id);
                        successful.push(sent);
                    }
                    Err(refusal) => failed.push(json!({
                        "Id": id, "Code": refusal.code, "Message": refusal.message, "SenderFault": true,
                    })),
                }
            }
            Ok(json!({"Successful": successful, "Failed": failed}))
        })?;
        self.arrived.notify_waiters();
        Ok(answer)
    }

    async fn receive(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let max = body["MaxNumberOfMessages"]
            .as_u64()
            .unwrap_or(1)
            .clamp(1, 10) as usize;
        let wait = Duration::from_secs(body["WaitTimeSeconds"].as_u64().unwrap_or(0).min(20));
        let until = Instant::now() + wait;
        loop {
            // Registered before looking, so a send in between wakes it.
            let arrived = self.arrived.notified();
            let messages = self.with_queue(url, |queue| Ok(queue.take(max)))?;
            let left = until.saturating_duration_since(Instant::now());
            if !messages.is_empty() || left.is_zero() {
                return Ok(json!({"Messages": messages}));
            }
            // Visibility timeouts pass without a send: look again now and then.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(250)), arrived).await;
        }
    }

    fn delete_one(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let handle = text(body, "ReceiptHandle")?.to_string();
        self.with_queue(url, |queue| {
            queue.in_flight.remove(&handle);
            Ok(json!({}))
        })?;
        self.arrived.notify_waiters();
        Ok(json!({}))
    }

    fn delete_batch(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let entries = body["Entries"].as_array().cloned().unwrap_or_default();
        let answer = self.with_queue(url, |queue| {
            let successful: Vec<Value> = entries
                .iter()
                .map(|entry| {
                    if let Some(handle) = entry["ReceiptHandle"].as_str() {
                        queue.in_flight.remove(handle);
                    }
                    json!({"Id": entry["Id"]})
                })
                .collect();
            Ok(json!({"Successful": successful, "Failed": []}))
        })?;
        // A group whose batch is done may have more to give.
        self.arrived.notify_waiters();
        Ok(answer)
    }

    fn change_visibility(&self, body: &Value) -> Result<Value, Refusal> {
        let url = text(body, "QueueUrl")?;
        let handle = text(body, "ReceiptHandle")?.to_string();
        let seconds = body["VisibilityTimeout"]
            .as_u64()
            .unwrap_or(0)
            .min(MAX_VISIBILITY_SECONDS);
        self.with_queue(url, |queue| {
            if let Some((_, visible_at)) = queue.in_flight.get_mut(&handle) {
                *visible_at = Instant::now() + Duration::from_secs(seconds);
            }
            Ok(json!({}))
        })?;
        self.arrived.notify_waiters();
        Ok(json!({}))
    }
}

impl Queue {
    fn push(&mut self, entry: &Value) -> Result<Value, Refusal> {
        let body = text(entry, "MessageBody")?.to_string();
        let group = text(entry, "MessageGroupId")?.to_string();
        let deduplication_id = text(entry, "MessageDeduplicationId")
            .map_err(|_| {
                refuse(
                    "InvalidParameterValue",
                    "MessageDeduplicationId is required (no content-based de-duplication here).",
                )
            })?
            .to_string();
        let now = Instant::now();
        while let Some((at, _)) = self.seen.front()
            && now.duration_since(*at) >= DEDUPLICATION_WINDOW
        {
            if let Some((_, id)) = self.seen.pop_front() {
                self.seen_ids.remove(&id);
            }
        }
        let sequence = self.next_sequence;
        if self.seen_ids.contains(&deduplication_id) {
            // Accepted and dropped, as SQS does.
            return Ok(json!({"MessageId": random_id(), "SequenceNumber": sequence.to_string()}));
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(refuse(
                "AWS.SimpleQueueService.RequestThrottled",
                "The queue holds too many messages.",
            ));
        }
        self.next_sequence += 1;
        self.seen.push_back((now, deduplication_id.clone()));
        self.seen_ids.insert(deduplication_id.clone());
        let id = random_id();
        self.waiting.push_back(Stored {
            id: id.clone(),
            body,
            group,
            deduplication_id,
            sequence,
            sent_at_ms: chrono::Utc::now().timestamp_millis(),
            receive_count: 0,
        });
        Ok(json!({"MessageId": id, "SequenceNumber": sequence.to_string()}))
    }

    /// Up to `max` messages, each from a group with nothing in flight, in
    /// order within each group.
    fn take(&mut self, max: usize) -> Vec<Value> {
        let now = Instant::now();
        // Messages whose visibility timeout passed go back, in order.
        let expired: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, (_, visible_at))| *visible_at <= now)
            .map(|(handle, _)| handle.clone())
            .collect();
        let mut back: Vec<Stored> = expired
            .iter()
            .filter_map(|handle| self.in_flight.remove(handle).map(|(m, _)| m))
            .collect();
        back.sort_by_key(|m| std::cmp::Reverse(m.sequence));
        for message in back {
            self.waiting.push_front(message);
        }
        let mut busy: Vec<String> = self
            .in_flight
            .values()
            .map(|(m, _)| m.group.clone())
            .collect();
        let mut batch_group: Option<String> = None;
        let mut taken = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() && taken.len() < max {
            let group = self.waiting[i].group.clone();
            // A batch holds one group's messages in order, as SQS gives them
            // to a Lambda event source; other groups wait for the next one.
            let allowed = match &batch_group {
                Some(g) => *g == group,
                None => !busy.contains(&group),
            };
            if !allowed {
                i += 1;
                continue;
            }
            let Some(mut message) = self.waiting.remove(i) else {
                break;
            };
            batch_group.get_or_insert_with(|| group.clone());
            busy.push(group);
            message.receive_count += 1;
            let handle = random_id();
            taken.push(json!({
                "MessageId": message.id,
                "ReceiptHandle": handle,
                "Body": message.body,
                "Attributes": {
                    "MessageGroupId": message.group,
                    "MessageDeduplicationId": message.deduplication_id,
                    "SequenceNumber": message.sequence.to_string(),
                    "SentTimestamp": message.sent_at_ms.to_string(),
                    "ApproximateReceiveCount": message.receive_count.to_string(),
                },
            }));
            self.in_flight
                .insert(handle, (message, now + self.visibility));
        }
        taken
    }
}

fn json_reply(status: StatusCode, value: &Value) -> Reply {
    let mut response = reply(status, Bytes::from(value.to_string()));
    response.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.0".parse().expect("ascii"),
    );
    response
}

fn error(refusal: Refusal) -> Reply {
    json_reply(
        refusal.status,
        &json!({"__type": format!("com.amazonaws.sqs#{}", refusal.code), "message": refusal.message}),
    )
}
