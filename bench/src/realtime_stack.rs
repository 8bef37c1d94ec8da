//! The real-time stack on this machine: the realtime and fan-out functions'
//! release binaries (under the Runtime API emulator) behind the local
//! gateway in this process (WebSocket API, Management API, delivery queue
//! and its trigger), and the delivery queue the functions nudge.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use harness::delivery_queue::{DELIVERY_QUEUE, delivery_queue};
use harness::runtime_api::LambdaProcess;
use local_gateway::Settings;
use shared::realtime::DeliveryQueue;
use sqlx::MySqlPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::listeners::FRAME_WAIT;

pub struct Realtime {
    pub gateway: SocketAddr,
    function: LambdaProcess,
    fanout: LambdaProcess,
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
        delivery_queue(self.gateway, DELIVERY_QUEUE)
    }

    /// The fan-out function's process.
    pub fn fanout_pid(&self) -> anyhow::Result<u32> {
        self.fanout.pid().context("fan-out pid")
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
