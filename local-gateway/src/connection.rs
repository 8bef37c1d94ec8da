//! One client connection: the handshake that `$connect` accepts or refuses,
//! then frames in both directions until either side closes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE, USER_AGENT,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::events::{self, ConnectionInfo};
use crate::{Gateway, Open, Reply, reply};

pub(crate) fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// An id of the shape API Gateway hands out (`L0SM9cOFvHcCIhw=`).
fn connection_id() -> String {
    let mut bytes = [0u8; 11];
    aws_lc_rs::rand::fill(&mut bytes).expect("the operating system's random source failed");
    STANDARD.encode(bytes)
}

fn request_id() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).expect("the operating system's random source failed");
    STANDARD.encode(bytes)
}

/// Runs `$connect`; a 2xx answer completes the handshake, any other answer
/// (or a failed invocation) refuses it with the function's status.
pub(crate) async fn open(gateway: Arc<Gateway>, peer: SocketAddr, req: Request<Incoming>) -> Reply {
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "Sec-WebSocket-Key is missing."}).to_string(),
        );
    };
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let info = ConnectionInfo {
        connection_id: connection_id(),
        connected_at: Utc::now(),
        source_ip: peer.ip().to_string(),
        user_agent: header(USER_AGENT),
        domain_name: header(HOST).unwrap_or_else(|| peer.to_string()),
        stage: gateway.settings.stage.clone(),
        api_id: "local".into(),
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((canonical(k.as_str()), v.to_str().ok()?.to_string())))
        .collect();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();

    let event = events::connect(&info, &request_id(), &headers, &query);
    let answer = match gateway.invoker.invoke(&event).await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::warn!(error = format!("{err:#}"), "$connect failed");
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal server error"}).to_string(),
            );
        }
    };
    if !answer.is_success() {
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::FORBIDDEN);
        return reply(status, answer.body.unwrap_or_default());
    }

    // Registered before the handshake answers, so a post right after it is
    // queued for the socket rather than refused.
    let (outbox, inbox) = mpsc::unbounded_channel();
    let open = Arc::new(Open {
        outbox: outbox.clone(),
        connected_at: info.connected_at,
        last_active_at: Mutex::new(info.connected_at),
        source_ip: info.source_ip.clone(),
        user_agent: info.user_agent.clone(),
    });
    gateway.register(info.connection_id.clone(), Arc::clone(&open));
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                run(&gateway, &info, &open, socket, outbox, inbox).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "upgrade failed");
                gateway.forget(&info.connection_id);
                disconnect(&gateway, &info, 1006, "Upgrade failed").await;
            }
        }
    });

    let mut response = reply(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let headers = response.headers_mut();
    headers.remove("content-type");
    headers.insert(UPGRADE, "websocket".parse().expect("ascii"));
    headers.insert(CONNECTION, "Upgrade".parse().expect("ascii"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        derive_accept_key(key.as_bytes())
            .parse()
            .expect("base64 is ascii"),
    );
    response
}

/// API Gateway passes header names as the client spelled them; hyper keeps
/// them lower-case, so the usual capitalisation is restored.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Frames in both directions until either side closes, then `$disconnect`.
async fn run(
    gateway: &Arc<Gateway>,
    info: &ConnectionInfo,
    open: &Open,
    socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    outbox: mpsc::UnboundedSender<Message>,
    mut inbox: mpsc::UnboundedReceiver<Message>,
) {
    let (mut sink, mut stream) = socket.split();
    let ends = Instant::now() + gateway.settings.max_lifetime;
    let mut idle_until = Instant::now() + gateway.settings.idle_timeout;
    let (code, reason) = loop {
        tokio::select! {
            outgoing = inbox.recv() => match outgoing {
                Some(Message::Close(frame)) => {
                    let _ = sink.send(Message::Close(frame)).await;
                    break (1000, "Connection closed by the Management API");
                }
                Some(frame) => {
                    if sink.send(frame).await.is_err() {
                        break (1006, "Write failed");
                    }
                }
                None => break (1011, "Gateway stopped"),
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    idle_until = Instant::now() + gateway.settings.idle_timeout;
                    *open.last_active_at.lock().unwrap_or_else(|p| p.into_inner()) = Utc::now();
                    respond(gateway, info, text.as_str().to_owned(), outbox.clone());
                }
                // As API Gateway does: binary frames are refused by closing
                // the connection with 1003 (unsupported data).
                Some(Ok(Message::Binary(_))) => {
                    let frame = close_frame(CloseCode::Unsupported, "Binary frames are not supported");
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break (1003, "Binary frames are not supported");
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                    break (code, "Client closed the connection");
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break (1006, "Connection lost"),
            },
            () = sleep_until(idle_until) => {
                let _ = sink.send(Message::Close(Some(close_frame(CloseCode::Away, "Going away")))).await;
                break (1001, "Idle timeout");
            }
            () = sleep_until(ends) => {
                let _ = sink.send(Message::Close(Some(close_frame(CloseCode::Away, "Going away")))).await;
                break (1001, "Connection lifetime reached");
            }
        }
    };
    gateway.forget(&info.connection_id);
    disconnect(gateway, info, code, reason).await;
}

fn close_frame(
    code: CloseCode,
    reason: &'static str,
) -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// `$default` for one client frame; the function's answer (the route
/// response) goes back on the same connection. Invocations run concurrently,
/// as API Gateway's do.
fn respond(
    gateway: &Arc<Gateway>,
    info: &ConnectionInfo,
    body: String,
    outbox: mpsc::UnboundedSender<Message>,
) {
    let gateway = Arc::clone(gateway);
    let info = info.clone();
    tokio::spawn(async move {
        let event = events::message(&info, &request_id(), &body);
        match gateway.invoker.invoke(&event).await {
            Ok(answer) => {
                if let Some(body) = answer.body.filter(|b| !b.is_empty()) {
                    let _ = outbox.send(Message::text(body));
                }
            }
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "$default failed");
                let _ = outbox.send(Message::text(
                    json!({"message": "Internal server error", "connectionId": info.connection_id})
                        .to_string(),
                ));
            }
        }
    });
}

async fn disconnect(gateway: &Gateway, info: &ConnectionInfo, code: u16, reason: &str) {
    let event = events::disconnect(info, &request_id(), code, reason);
    if let Err(err) = gateway.invoker.invoke(&event).await {
        tracing::warn!(error = format!("{err:#}"), "$disconnect failed");
    }
}
