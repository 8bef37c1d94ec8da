//! WebSocket listeners at ticket URLs (tokio-tungstenite), each on a task
//! of its own until it is aborted: one reports the frames of new messages
//! as they arrive, one only counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// How long a handshake, or a frame that must come, may take before the run
/// fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

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
