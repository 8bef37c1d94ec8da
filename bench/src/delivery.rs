//! Real-time delivery through the local gateway: the realtime and fan-out
//! functions' release binaries behind it (under the Runtime API emulator),
//! the gateway in this process (WebSocket API, Management API, delivery
//! queue and its trigger), WebSocket listeners, and the delivery queue the
//! functions nudge.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use harness::delivery_queue::DELIVERY_QUEUE;
use harness::runtime_api::LambdaProcess;
use local_gateway::Settings;
use serde_json::Value;
use shared::realtime::DeliveryQueue;
use sqlx::MySqlPool;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How long a listener may take to see a frame before the run fails.
const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Realtime {
    pub gateway: SocketAddr,
    function: LambdaProcess,
    pub fanout: LambdaProcess,
    serving: JoinHandle<()>,
}

/// Fan-out batches in flight at once, as the event source mapping's
/// maximum concurrency.
const FANOUT_CONCURRENCY: usize = 4;

impl Realtime {
    /// `release` holds the function binaries; `env` is their environment.
    pub async fn start(release: &Path, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let gateway = listener.local_addr()?;
        let mut env: Vec<(&str, String)> = env.to_vec();
        env.extend([
            ("WEBSOCKET_MANAGEMENT_URL", format!("http://{gateway}")),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            (
                "DELIVERY_QUEUE_URL",
                local_gateway::queue_url(gateway, DELIVERY_QUEUE),
            ),
            ("DELIVERY_QUEUE_ENDPOINT", format!("http://{gateway}")),
        ]);
        let function =
            LambdaProcess::spawn_binary(&release.join("realtime"), "realtime", &env).await;
        let fanout = LambdaProcess::spawn_binary(&release.join("fanout"), "fanout", &env).await;
        let settings = Settings {
            invoke_url: format!("http://{}", function.api.addr),
            delivery_queue: Some(DELIVERY_QUEUE.into()),
            fanout_invoke_url: Some(format!("http://{}", fanout.api.addr)),
            fanout_concurrency: FANOUT_CONCURRENCY,
            ..Settings::default()
        };
        let serving = tokio::spawn(local_gateway::serve(listener, settings));
        Ok(Realtime {
            gateway,
            function,
            fanout,
            serving,
        })
    }

    pub fn delivery_queue(&self) -> DeliveryQueue {
        harness::delivery_queue::delivery_queue(self.gateway, DELIVERY_QUEUE)
    }

    pub fn websocket_url(&self) -> String {
        format!("ws://{}/", self.gateway)
    }

    pub async fn stop(self) {
        self.serving.abort();
        self.function.stop().await;
        self.fanout.stop().await;
    }
}

/// A queue of the gateway that no fan-out takes from.
pub const HELD_QUEUE: &str = "held.fifo";

/// Creates [`HELD_QUEUE`] at the gateway.
pub async fn create_held_queue(gateway: SocketAddr) -> anyhow::Result<()> {
    local_gateway::event_source::client(&format!("http://{gateway}"))
        .create_queue()
        .queue_name(HELD_QUEUE)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    Ok(())
}

/// Waits until the gateway has reported every closed connection to the
/// function (which forgets it), so that none is left to report once the
/// function stops.
pub async fn all_disconnected(pool: &MySqlPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + FRAME_WAIT;
    loop {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM realtime_connections")
            .fetch_one(pool)
            .await?;
        if open == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{open} WebSocket connections still open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens a WebSocket at a ticket URL and, until the socket closes, reports
/// each `message.created` frame's message id and arrival time to `frames`,
/// and counts in `out_of_order` every message event whose version is not
/// above the last one this connection saw.
pub async fn listen(
    url: &str,
    frames: mpsc::UnboundedSender<(i64, Instant)>,
    out_of_order: Arc<AtomicU64>,
) -> anyhow::Result<JoinHandle<()>> {
    let socket = open(url).await?;
    Ok(tokio::spawn(async move {
        let (_, mut incoming) = socket.split();
        let mut last_version = 0;
        while let Some(Ok(frame)) = incoming.next().await {
            let at = Instant::now();
            let Message::Text(text) = frame else { continue };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if let Some(version) = event["version"].as_i64() {
                if version <= last_version {
                    out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                last_version = last_version.max(version);
            }
            if event["type"] == "message.created"
                && let Some(id) = event["message"]["id"].as_i64()
            {
                let _ = frames.send((id, at));
            }
        }
    }))
}

/// Opens a WebSocket at a ticket URL and counts its text frames in `count`.
pub async fn count_frames(url: &str, count: Arc<AtomicU64>) -> anyhow::Result<JoinHandle<()>> {
    let socket = open(url).await?;
    Ok(tokio::spawn(async move {
        let (_, mut incoming) = socket.split();
        while let Some(Ok(frame)) = incoming.next().await {
            if matches!(frame, Message::Text(_)) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }))
}

async fn open(
    url: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let (socket, response) =
        tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(url))
            .await
            .context("the WebSocket handshake timed out")??;
    anyhow::ensure!(
        response.status() == 101,
        "handshake answered {}",
        response.status()
    );
    Ok(socket)
}

/// Milliseconds from a send's answer to the last listener's frame (negative
/// when every frame came before the answer), and from the send's start.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub sends: usize,
    pub listeners: usize,
    pub after_answer_ms: Vec<f64>,
    pub from_start_ms: Vec<f64>,
    /// Each send's answer time with the listeners connected.
    pub answer_ms: Vec<f64>,
    /// The same sends' answer times with nobody connected.
    pub quiet_answer_ms: Vec<f64>,
    /// Answer times of sends into a conversation of the same size that
    /// nobody listens to, each right after a listened send's last frame:
    /// the same send under the same conditions, without listeners.
    pub quiet_beside_ms: Vec<f64>,
    /// The same sends' answer times with everyone connected, nudging a
    /// queue that nothing takes from: the nudge's own cost, without a
    /// fan-out running on the same cores.
    pub held_answer_ms: Vec<f64>,
    /// Message events that came at or below a version the connection had
    /// already seen.
    pub out_of_order: u64,
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1_000.0,
        None => -(earlier.duration_since(later).as_secs_f64() * 1_000.0),
    }
}

/// Sends `sends` messages one after the other with `send` (which answers the
/// new message's id), waits after each for its frame at every listener, and
/// then times one `quiet_send` into a conversation nobody listens to.
pub async fn measure<F, Fut, Q, QFut>(
    sends: usize,
    listeners: usize,
    frames: &mut mpsc::UnboundedReceiver<(i64, Instant)>,
    mut send: F,
    mut quiet_send: Q,
) -> anyhow::Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<i64>>,
    Q: FnMut() -> QFut,
    QFut: Future<Output = anyhow::Result<()>>,
{
    let mut latency = Latency {
        sends,
        listeners,
        ..Latency::default()
    };
    for _ in 0..sends {
        let started = Instant::now();
        let id = send().await?;
        let answered = Instant::now();
        let (mut seen, mut last) = (0, started);
        while seen < listeners {
            let (frame_id, at) = tokio::time::timeout(FRAME_WAIT, frames.recv())
                .await
                .with_context(|| format!("message {id}: {seen} of {listeners} frames arrived"))?
                .context("the listeners are gone")?;
            if frame_id == id {
                seen += 1;
                last = last.max(at);
            }
        }
        latency.after_answer_ms.push(signed_ms(last, answered));
        latency.from_start_ms.push(signed_ms(last, started));
        latency.answer_ms.push(signed_ms(answered, started));
        let quiet_started = Instant::now();
        quiet_send().await?;
        latency
            .quiet_beside_ms
            .push(signed_ms(Instant::now(), quiet_started));
    }
    Ok(latency)
}

/// Each of `sends` sends' answer time, one after another.
pub async fn answer_times<F, Fut>(sends: usize, mut send: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(sends);
    for _ in 0..sends {
        let started = Instant::now();
        send().await?;
        times.push(signed_ms(Instant::now(), started));
    }
    Ok(times)
}
