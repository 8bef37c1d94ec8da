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
use std::time::Duration;
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
    STANDARD.encode(crate::random_bytes::<11>())
}

fn request_id() -> String {
    STANDARD.encode(crate::random_bytes::<12>())
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
    // A burst of handshakes waits for the invocations in flight, and a
    // handshake that cannot get one in time is refused as API Gateway
    // refuses what passes its rate: 429.
    let Ok(Ok(permit)) = tokio::time::timeout(
        HANDSHAKE_QUEUE_WAIT,
        Arc::clone(&gateway.invocations).acquire_owned(),
    )
    .await
    else {
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "Too Many Requests"}).to_string(),
        );
    };
    let invoked = gateway.invoker.invoke(&event).await;
    drop(permit);
    let answer = match invoked {
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

    tokio::time::sleep(gateway.settings.handshake_time).await;
    // Registered before the handshake answers, so a post right after it is
    // queued for the socket rather than refused.
    let (outbox, inbox) = mpsc::channel(crate::OUTBOX_FRAMES);
    let open = Arc::new(Open {
        outbox: outbox.clone(),
        closing: tokio::sync::Notify::new(),
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
/// Writing runs in a task of its own, so a client that reads slowly never
/// holds up reading its frames or the timers.
async fn run(
    gateway: &Arc<Gateway>,
    info: &ConnectionInfo,
    open: &Open,
    socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    outbox: mpsc::Sender<Message>,
    mut inbox: mpsc::Receiver<Message>,
) {
    let (mut sink, mut stream) = socket.split();
    let (closing_tx, mut closing_rx) = mpsc::channel::<Message>(1);
    let mut writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                close = closing_rx.recv() => {
                    if let Some(close) = close {
                        let _ = sink.send(close).await;
                    }
                    return true;
                }
                frame = inbox.recv() => match frame {
                    Some(frame) => {
                        if sink.send(frame).await.is_err() {
                            return false;
                        }
                    }
                    None => return true,
                },
            }
        }
    });
    let in_flight = Arc::new(tokio::sync::Semaphore::new(FRAMES_IN_FLIGHT));
    let ends = Instant::now() + gateway.settings.max_lifetime;
    let mut idle_until = Instant::now() + gateway.settings.idle_timeout;
    let close =
        |code: CloseCode, reason: &'static str| Message::Close(Some(close_frame(code, reason)));
    let (code, reason, farewell) = loop {
        tokio::select! {
            () = open.closing.notified() => {
                break (1000, "Connection closed by the Management API", Some(Message::Close(None)));
            }
            written = &mut writer => {
                let clean = written.unwrap_or(false);
                break if clean { (1011, "Gateway stopped", None) } else { (1006, "Write failed", None) };
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    idle_until = Instant::now() + gateway.settings.idle_timeout;
                    *open.last_active_at.lock().unwrap_or_else(|p| p.into_inner()) = Utc::now();
                    respond(gateway, info, text.as_str().to_owned(), &outbox, &in_flight);
                }
                // As API Gateway does: binary frames are refused by closing
                // the connection with 1003 (unsupported data).
                Some(Ok(Message::Binary(_))) => {
                    let farewell = close(CloseCode::Unsupported, "Binary frames are not supported");
                    break (1003, "Binary frames are not supported", Some(farewell));
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                    break (code, "Client closed the connection", None);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break (1006, "Connection lost", None),
            },
            () = sleep_until(idle_until) => {
                break (1001, "Idle timeout", Some(close(CloseCode::Away, "Going away")));
            }
            () = sleep_until(ends) => {
                break (1001, "Connection lifetime reached", Some(close(CloseCode::Away, "Going away")));
            }
        }
    };
    gateway.forget(&info.connection_id);
    if let Some(farewell) = farewell
        && !writer.is_finished()
    {
        let _ = closing_tx.send(farewell).await;
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut writer).await;
    }
    writer.abort();
    disconnect(gateway, info, code, reason).await;
}

/// A client's frames answered at once at most; one more gets an error frame.
const FRAMES_IN_FLIGHT: usize = 8;

/// How long a handshake waits for an invocation before it is refused.
const HANDSHAKE_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// How long the close frame may take to reach a client.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

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
/// as API Gateway's do, up to [`FRAMES_IN_FLIGHT`] per connection.
fn respond(
    gateway: &Arc<Gateway>,
    info: &ConnectionInfo,
    body: String,
    outbox: &mpsc::Sender<Message>,
    in_flight: &Arc<tokio::sync::Semaphore>,
) {
    let Ok(own) = Arc::clone(in_flight).try_acquire_owned() else {
        let _ = outbox.try_send(Message::text(
            json!({"message": "Too Many Requests", "connectionId": info.connection_id}).to_string(),
        ));
        return;
    };
    let gateway = Arc::clone(gateway);
    let info = info.clone();
    let outbox = outbox.clone();
    tokio::spawn(async move {
        let _own = own;
        let Ok(_shared) = Arc::clone(&gateway.invocations).acquire_owned().await else {
            return;
        };
        let event = events::message(&info, &request_id(), &body);
        match gateway.invoker.invoke(&event).await {
            Ok(answer) => {
                if let Some(body) = answer.body.filter(|b| !b.is_empty()) {
                    let _ = outbox.try_send(Message::text(body));
                }
            }
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "$default failed");
                let _ = outbox.try_send(Message::text(
                    json!({"message": "Internal server error", "connectionId": info.connection_id})
                        .to_string(),
                ));
            }
        }
    });
}

async fn disconnect(gateway: &Gateway, info: &ConnectionInfo, code: u16, reason: &str) {
    let _permit = gateway.invocations.acquire().await;
    let event = events::disconnect(info, &request_id(), code, reason);
    if let Err(err) = gateway.invoker.invoke(&event).await {
        tracing::warn!(error = format!("{err:#}"), "$disconnect failed");
    }
}
