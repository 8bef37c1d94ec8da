//! The API Gateway Management API: `POST`, `GET` and `DELETE
//! /@connections/{id}`, with the error names the AWS SDKs recognise.

use bytes::Bytes;
use chrono::SecondsFormat;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::{Gateway, Reply, reply};

/// API Gateway's limit on one message.
const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// An error as the REST-JSON protocol carries it: the SDK reads the name
/// from `x-amzn-ErrorType`.
fn error(status: StatusCode, name: &str, message: &str) -> Reply {
    let mut response = reply(status, json!({"message": message}).to_string());
    response
        .headers_mut()
        .insert("x-amzn-errortype", name.parse().expect("ascii"));
    response
}

fn gone() -> Reply {
    error(
        StatusCode::GONE,
        "GoneException",
        "The connection is closed or does not exist.",
    )
}

pub(crate) async fn handle(
    gateway: &Gateway,
    id: &str,
    req: Request<Incoming>,
) -> Result<Reply, hyper::Error> {
    let method = req.method().clone();
    let Some(open) = gateway.connection(id) else {
        return Ok(match method {
            Method::POST | Method::GET | Method::DELETE => gone(),
            _ => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "POST, GET or DELETE.",
            ),
        });
    };
    Ok(match method {
        Method::POST => {
            tokio::time::sleep(gateway.settings.post_time).await;
            let data = match Limited::new(req.into_body(), MAX_MESSAGE_BYTES)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok(error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PayloadTooLargeException",
                        "Messages are limited to 128 KB.",
                    ));
                }
            };
            let frame = match String::from_utf8(data.to_vec()) {
                Ok(text) => Message::text(text),
                Err(_) => Message::binary(Bytes::from(data.to_vec())),
            };
            match open.outbox.try_send(frame) {
                Ok(()) => reply(StatusCode::OK, Bytes::new()),
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    // The client stopped reading: it is dropped, as API
                    // Gateway drops a connection it cannot write to.
                    open.closing.notify_one();
                    gateway.forget(id);
                    gone()
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => gone(),
            }
        }
        Method::GET => {
            let last_active = *open
                .last_active_at
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut identity = json!({"sourceIp": open.source_ip});
            if let Some(agent) = &open.user_agent {
                identity["userAgent"] = json!(agent);
            }
            reply(
                StatusCode::OK,
                json!({
                    "connectedAt": open.connected_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "lastActiveAt": last_active.to_rfc3339_opts(SecondsFormat::Millis, true),
                    "identity": identity,
                })
                .to_string(),
            )
        }
        Method::DELETE => {
            // The socket's task closes it and then sends `$disconnect`.
            open.closing.notify_one();
            gateway.forget(id);
            let mut response = reply(StatusCode::NO_CONTENT, Bytes::new());
            response.headers_mut().remove("content-type");
            response
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "POST, GET or DELETE.",
        ),
    })
}
