//! The three functions' handler services over plain HTTP: each request is
//! turned into the `lambda_http::Request` the runtime would build and handed
//! to the very same `app::handle`, with a pool of as many connections as the
//! concurrency emulated (Lambda would run that many instances, one
//! connection each).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use harness::routing::Gateway;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shared::AppState;
use tokio::net::TcpListener;

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
