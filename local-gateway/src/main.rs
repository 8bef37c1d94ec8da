//! `local-gateway`: serves ws://127.0.0.1:9001 (`GATEWAY_ADDRESS`) and the
//! Management API beside it, invoking the WebSocket function named by
//! `WEBSOCKET_FUNCTION` (default `realtime`) through the Lambda Invoke API at
//! `LAMBDA_INVOKE_URL` (default `http://127.0.0.1:9000`, `cargo lambda watch`).
//!
//! With `DELIVERY_QUEUE_NAME` set it also serves that SQS FIFO queue on the
//! same address and stands in for its Lambda trigger, invoking
//! `FANOUT_FUNCTION` (default `fanout`) with `FANOUT_CONCURRENCY` (default 4)
//! batches in flight, and its sweep every `FANOUT_SWEEP_SECONDS` (default 60,
//! as the cloud's schedule; 0 never).

use anyhow::Context;
use local_gateway::Settings;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let address = var("GATEWAY_ADDRESS").unwrap_or_else(|| "127.0.0.1:9001".into());
    let mut settings = Settings::default();
    if let Some(url) = var("LAMBDA_INVOKE_URL") {
        settings.invoke_url = url;
    }
    if let Some(function) = var("WEBSOCKET_FUNCTION") {
        settings.function = function;
    }
    settings.delivery_queue = var("DELIVERY_QUEUE_NAME");
    if let Some(function) = var("FANOUT_FUNCTION") {
        settings.fanout_function = function;
    }
    if let Some(concurrency) = var("FANOUT_CONCURRENCY") {
        settings.fanout_concurrency = concurrency
            .parse()
            .context("FANOUT_CONCURRENCY must be a number")?;
    }
    let sweep_seconds: u64 = var("FANOUT_SWEEP_SECONDS")
        .map(|seconds| seconds.parse())
        .transpose()
        .context("FANOUT_SWEEP_SECONDS must be a number")?
        .unwrap_or(60);
    settings.sweep_interval =
        (sweep_seconds > 0).then(|| std::time::Duration::from_secs(sweep_seconds));
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("bind {address}"))?;
    tracing::info!(
        "WebSocket gateway on ws://{address}, Management API on http://{address}/@connections, invoking {} at {}",
        settings.function,
        settings.invoke_url
    );
    tokio::select! {
        () = local_gateway::serve(listener, settings) => Ok(()),
        signal = tokio::signal::ctrl_c() => signal.context("wait for Ctrl-C"),
    }
}
