//! The three functions' handler services over plain HTTP: each request is
//! turned into the `lambda_http::Request` the runtime would build and handed
//! to the very same `app::handle`, with a pool of as many connections as the
//! concurrency emulated (Lambda would run that many instances, one
//! connection each). The run starts it as `bench serve` in a child process,
//! so that its CPU time and memory are its own.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use harness::delivery_queue::{DELIVERY_QUEUE, delivery_queue};
use harness::routing::Gateway;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::{AppState, db};
use tokio::net::TcpListener;

use crate::database;
use crate::settings::{self, CONCURRENCY, PORT};

async fn serve_one(
    state: Arc<AppState>,
    gateway: Arc<Gateway>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => lambda_http::Body::Empty,
        Ok(text) => lambda_http::Body::Text(text),
        Err(raw) => lambda_http::Body::Binary(raw.into_bytes()),
    };
    // Run to completion even if the client hangs up, as a Lambda invocation does.
    let request = lambda_http::http::Request::from_parts(parts, body);
    let response = tokio::spawn(async move { gateway.handle(&state, request).await })
        .await
        .expect("a handler never panics");
    let (parts, body) = response.into_parts();
    Ok(hyper::Response::from_parts(
        parts,
        Full::new(Bytes::copy_from_slice(body.as_ref())),
    ))
}

pub async fn serve(state: AppState, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let state = Arc::new(state);
    let gateway = Arc::new(Gateway::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (state, gateway) = (Arc::clone(&state), Arc::clone(&gateway));
        tokio::spawn(async move {
            let service =
                service_fn(move |req| serve_one(Arc::clone(&state), Arc::clone(&gateway), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `bench serve`: the handlers on `BENCH_PORT` (default 18080) over the
/// database `BENCH_DATABASE` (default the benchmark's), for the load runs and
/// for `scripts/fuzz.sh`.
pub async fn serve_from_env() -> anyhow::Result<()> {
    let mut config = settings::config(CONCURRENCY);
    if let Ok(database) = std::env::var("BENCH_DATABASE") {
        config.database.url = format!("{}/{database}", database::server_url());
    }
    let port = match std::env::var("BENCH_PORT") {
        Ok(port) => port.parse().context("BENCH_PORT")?,
        Err(_) => PORT,
    };
    let mut state = AppState::new(config.clone(), db::pool(&config.database)?);
    // Attachments in the local S3-compatible server.
    if let Some(storage) = &config.storage {
        harness::storage::ensure_bucket().await;
        state = state.with_storage(harness::storage::store(storage));
    }
    // Real-time delivery on, through the delivery queue of the local gateway
    // at this address.
    if let Ok(gateway) = std::env::var("BENCH_GATEWAY") {
        let gateway = gateway.parse().context("BENCH_GATEWAY")?;
        state = state.with_delivery(delivery_queue(gateway, DELIVERY_QUEUE));
    }
    serve(state, ([127, 0, 0, 1], port).into()).await
}

/// `bench serve` in a child process on [`PORT`], with real-time delivery
/// through the gateway at `gateway` when given; answers once it listens.
pub async fn spawn(gateway: Option<SocketAddr>) -> anyhow::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(gateway) = gateway {
        command.env("BENCH_GATEWAY", gateway.to_string());
    }
    let server = command.spawn()?;
    wait_until_listening().await?;
    Ok(server)
}

/// The base URL wrk loads.
pub fn base_url() -> String {
    format!("http://127.0.0.1:{PORT}")
}

async fn wait_until_listening() -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", PORT))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the benchmark server did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
