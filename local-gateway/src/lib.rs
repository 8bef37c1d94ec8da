//! API Gateway's WebSocket protocol on one machine: clients connect to
//! `ws://{addr}/?...`, every connection event is handed to the WebSocket
//! function through the Lambda Invoke API, and the Management API
//! (`/@connections/{id}`) is served on the same address for the functions
//! that publish. The same address serves SQS FIFO queues for the delivery
//! queue, and [`event_source`] stands in for the queue's Lambda trigger. What
//! it leaves out is listed in its README.

mod connection;
pub mod event_source;
pub mod events;
pub mod invoke;
mod management;
mod queue;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::invoke::Invoker;

/// How the gateway reaches the function and names itself in events.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Lambda Invoke API's address, e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
    /// The WebSocket function's name there.
    pub function: String,
    pub stage: String,
    /// A connection is closed after this long without a client frame.
    pub idle_timeout: Duration,
    /// And after this long in any case.
    pub max_lifetime: Duration,
    /// A FIFO queue served here from the start (the delivery queue), whose
    /// messages are handed to `fanout_function`, `fanout_concurrency`
    /// batches at a time, as Lambda's SQS trigger does.
    pub delivery_queue: Option<String>,
    /// Where the fan-out function is invoked, when not at `invoke_url`.
    pub fanout_invoke_url: Option<String>,
    pub fanout_function: String,
    pub fanout_concurrency: usize,
    /// How often the fan-out function is invoked with `{"action": "sweep"}`,
    /// as the cloud's schedule does every minute; `None`, never.
    pub sweep_interval: Option<Duration>,
    /// How long a handshake takes between `$connect`'s answer and the
    /// connection being open (posts meanwhile answer 410, as API Gateway's
    /// do); a test lengthens it to post inside it.
    pub handshake_time: Duration,
    /// How long each Management API post takes; a test lengthens it to make
    /// delivery slow.
    pub post_time: Duration,
}

impl Default for Settings {
    /// API Gateway's limits: 10 minutes idle, 2 hours per connection.
    fn default() -> Self {
        Settings {
            invoke_url: "http://127.0.0.1:9000".into(),
            function: "realtime".into(),
            stage: "local".into(),
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(2 * 3600),
            delivery_queue: None,
            fanout_invoke_url: None,
            fanout_function: "fanout".into(),
            fanout_concurrency: 4,
            sweep_interval: None,
            handshake_time: Duration::ZERO,
            post_time: Duration::ZERO,
        }
    }
}

/// Frames queued for one client at most: a client that stops reading is
/// closed rather than buffered without bound.
const OUTBOX_FRAMES: usize = 1024;

/// Invocations of the WebSocket function in flight at once, for every
/// connection together; more wait their turn.
const MAX_INVOCATIONS: usize = 64;

/// An open connection as the Management API sees it.
struct Open {
    outbox: mpsc::Sender<Message>,
    /// Told to close the connection (the Management API's DELETE, or a full
    /// outbox).
    closing: tokio::sync::Notify,
    connected_at: DateTime<Utc>,
    last_active_at: Mutex<DateTime<Utc>>,
    source_ip: String,
    user_agent: Option<String>,
}

struct Gateway {
    settings: Settings,
    invoker: Invoker,
    open: Mutex<HashMap<String, Arc<Open>>>,
    queues: queue::Queues,
    invocations: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    fn connection(&self, id: &str) -> Option<Arc<Open>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned()
    }

    fn register(&self, id: String, open: Arc<Open>) {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, open);
    }

    fn forget(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(id);
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Reply = Response<Full<Bytes>>;

/// Bytes from the operating system's random source, for the ids the gateway
/// makes up.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("ascii"));
    response
}

/// The delivery queue's URL when served at `address`.
pub fn queue_url(address: SocketAddr, name: &str) -> String {
    format!("http://{address}/000000000000/{name}")
}

/// Serves WebSocket clients, the Management API and the delivery queue on
/// `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, settings: Settings) {
    let gateway = Arc::new(Gateway {
        invoker: Invoker::new(&settings.invoke_url, &settings.function),
        open: Mutex::new(HashMap::new()),
        queues: queue::Queues::default(),
        invocations: Arc::new(tokio::sync::Semaphore::new(MAX_INVOCATIONS)),
        settings,
    });
    // Dropped with this task, as everything else here.
    let mut _delivering = None;
    if let (Some(name), Ok(address)) = (&gateway.settings.delivery_queue, listener.local_addr()) {
        gateway.queues.create(name);
        let source = event_source::EventSource {
            endpoint: format!("http://{address}"),
            queue_url: queue_url(address, name),
            invoke_url: (gateway.settings.fanout_invoke_url.clone())
                .unwrap_or_else(|| gateway.settings.invoke_url.clone()),
            function: gateway.settings.fanout_function.clone(),
            concurrency: gateway.settings.fanout_concurrency,
            batch_size: 10,
            sweep_interval: gateway.settings.sweep_interval,
        };
        _delivering = Some(AbortOnDrop(tokio::spawn(source.run())));
    }
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                continue;
            }
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = service_fn(move |req| route(Arc::clone(&gateway), peer, req));
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}

async fn route(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Reply, hyper::Error> {
    // Under any stage prefix, as the endpoint may name one; the SDKs
    // percent-encode the id (`=` is `%3D`).
    if let Some((_, id)) = req.uri().path().split_once("/@connections/") {
        let id = percent_decode_str(id).decode_utf8_lossy().into_owned();
        return management::handle(&gateway, &id, req).await;
    }
    if queue::is_sqs(&req) {
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| peer.to_string(), str::to_owned);
        return Ok(gateway.queues.handle(&host, req).await);
    }
    if connection::is_upgrade(&req) {
        return Ok(connection::open(gateway, peer, req).await);
    }
    Ok(reply(
        StatusCode::UPGRADE_REQUIRED,
        json!({"message": "This address speaks WebSocket; the Management API is under /@connections/."})
            .to_string(),
    ))
}
