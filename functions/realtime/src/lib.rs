//! The realtime function: API Gateway WebSocket events. `$connect` spends a
//! ticket and records the connection, `$disconnect` forgets it, `$default`
//! answers a client's frame (the answer is the route's response, which API
//! Gateway sends back on the same connection).

mod frames;

use std::convert::Infallible;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::db::Db;
use shared::store::typing::{self, Typed};
use shared::store::users::PublicUser;
use shared::store::{realtime as connections, refresh_tokens, users};
use shared::{ApiError, AppState, realtime, time};
use sqlx::MySqlConnection;

/// The route keys API Gateway sends this function.
pub const CONNECT: &str = "$connect";
pub const DISCONNECT: &str = "$disconnect";
pub const DEFAULT: &str = "$default";

/// What a route answers: the username for the request log, and the frame
/// (or handshake body) or the error.
type Outcome = (Option<String>, Result<Option<Value>, ApiError>);

/// Handles one WebSocket event and writes its request-log line, with the
/// route key as the path and the user the connection stands for.
pub async fn handle(
    state: &AppState,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let route = event.request_context.route_key.clone().unwrap_or_default();
    let connection_id = event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default();
    // One connection per event, as for every HTTP request, and the same
    // deadline: a stuck database answers 503 rather than holding the
    // gateway's invocation.
    let mut db = Db::new(&state.pool);
    let work = async {
        match db.conn().await {
            Err(err) => (None, Err(err.into())),
            Ok(conn) => match route.as_str() {
                CONNECT => connect(state, conn, &connection_id, &event).await,
                DISCONNECT => disconnect(conn, &connection_id).await,
                DEFAULT => default(state, conn, &connection_id, event.body.as_deref()).await,
                _ => (None, Err(ApiError::NotFound)),
            },
        }
    };
    let (username, outcome) = tokio::time::timeout(state.config.request_deadline, work)
        .await
        .unwrap_or_else(|_| {
            (
                None,
                Err(ApiError::Unavailable(anyhow::anyhow!(
                    "request deadline passed: {route}"
                ))),
            )
        });
    state.request_log.record(username.as_deref(), &route);
    match outcome {
        Ok(body) => answer(200, body),
        Err(err) => {
            let response = err.into_response();
            let body = serde_json::from_slice(response.body().as_ref()).ok();
            answer(response.status().as_u16(), body)
        }
    }
}

fn answer(status: u16, body: Option<Value>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.body = body.map(|b| Body::Text(b.to_string()));
    response
}

/// `$connect`: a browser's `Origin` must be an allowed one; the ticket from
/// the query string stands for the user; any
/// non-2xx answer makes API Gateway refuse the handshake. A user's
/// connections beyond the newest `WEBSOCKET_MAX_CONNECTIONS_PER_USER` are
/// closed, the oldest first.
async fn connect(
    state: &AppState,
    conn: &mut MySqlConnection,
    connection_id: &str,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Outcome {
    const REFUSED: ApiError = ApiError::Unauthorized("Invalid, used or expired ticket.");
    // A browser page of another origin may not open one; a client that is no
    // browser sends no Origin.
    if event.headers.contains_key("origin")
        && state
            .config
            .cors_allowed_origins
            .of(&event.headers)
            .is_none()
    {
        return (
            None,
            Err(ApiError::Forbidden("This origin may not open a WebSocket.")),
        );
    }
    let Some(ticket) = event.query_string_parameters.first("ticket") else {
        return (None, Err(REFUSED));
    };
    if connection_id.is_empty() {
        return (None, Err(ApiError::bad_request("No connection id.")));
    }
    let now = time::now();
    let redeemed = match realtime::redeem_ticket(conn, ticket, now).await {
        Ok(Some(redeemed)) => redeemed,
        Ok(None) => return (None, Err(REFUSED)),
        Err(err) => return (None, Err(err.into())),
    };
    let user = match users::find_signed_in(conn, redeemed.user_id, None).await {
        Ok(Some(user)) => user,
        Ok(None) => return (None, Err(REFUSED)),
        Err(err) => return (None, Err(err.into())),
    };
    let stored =
        connections::insert_connection(conn, connection_id, user.id, redeemed.session, now).await;
    if let Err(err) = stored {
        return (Some(user.username), Err(err.into()));
    }
    // Checked once the connection is stored: a logout that ended the session
    // before this read is seen here, and one after it finds the connection.
    if let Some(session) = redeemed.session {
        let max_age = chrono::TimeDelta::from_std(state.config.tokens.session_max_age)
            .unwrap_or(chrono::TimeDelta::MAX);
        let started_after = now.checked_sub_signed(max_age).unwrap_or(now);
        match refresh_tokens::is_live(conn, &session, started_after).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = connections::delete_connection(conn, connection_id).await;
                return (Some(user.username), Err(REFUSED));
            }
            Err(err) => return (Some(user.username), Err(err.into())),
        }
    }
    let cap = state.config.max_connections_per_user;
    match connections::beyond_newest(conn, user.id, cap).await {
        Ok(oldest) => realtime::close(state.management.as_deref(), conn, &oldest).await,
        Err(err) => tracing::warn!(error = %err, "could not read a user's connections"),
    }
    (Some(user.username), Ok(None))
}

/// `$disconnect`: best effort on API Gateway's side, so publishing also
/// forgets connections that turn out gone.
async fn disconnect(conn: &mut MySqlConnection, connection_id: &str) -> Outcome {
    let username = connections::connection_user(conn, connection_id)
        .await
        .ok()
        .flatten()
        .and_then(|user| user.username);
    let deleted = connections::delete_connection(conn, connection_id).await;
    (username, deleted.map(|()| None).map_err(Into::into))
}

/// `$default`: every client frame; the connection stays open whatever it
/// says. A connection this function no longer knows (forgotten after a 410
/// or a lost `$disconnect`) would receive nothing: it is closed, so that its
/// client reconnects and catches up.
async fn default(
    state: &AppState,
    conn: &mut MySqlConnection,
    connection_id: &str,
    body: Option<&str>,
) -> Outcome {
    let user = match connections::connection_user(conn, connection_id).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            let forgotten = [connection_id.to_string()];
            realtime::close(state.management.as_deref(), conn, &forgotten).await;
            return (
                None,
                Ok(Some(frames::error(
                    "This connection is closed: open a new one.",
                ))),
            );
        }
        Err(err) => return (None, Err(err.into())),
    };
    let username = user.username.clone();
    match frames::parse(body.unwrap_or("")) {
        frames::Request::Ping => (username, Ok(Some(frames::pong()))),
        frames::Request::Invalid(frame) => (username, Ok(Some(frame))),
        frames::Request::Typing {
            conversation_id,
            typing,
        } => (
            username,
            typed(state, conn, user, conversation_id, typing).await,
        ),
    }
}

/// A typing frame: delivered to the other participants through the delivery
/// pipeline, throttled; answered with nothing unless it is refused.
async fn typed(
    state: &AppState,
    conn: &mut MySqlConnection,
    user: PublicUser,
    conversation_id: i64,
    typing: bool,
) -> Result<Option<Value>, ApiError> {
    let user_id = user.id;
    let event = realtime::Event::Typing {
        conversation_id,
        user,
        typing,
    };
    let frame = String::from_utf8_lossy(&event.frame()).into_owned();
    match typing::record(conn, conversation_id, user_id, typing, &frame, time::now()).await? {
        Typed::Queued => {
            if let Some(queue) = state.delivery.as_deref() {
                realtime::announce(
                    conn,
                    queue,
                    conversation_id,
                    None,
                    state.config.delivery_users_per_shard,
                )
                .await;
            }
            Ok(None)
        }
        Typed::Dropped => Ok(None),
        Typed::NotParticipant => Ok(Some(frames::error(
            "No such conversation of yours: nothing was sent.",
        ))),
    }
}

/// The function's `main`: tracing, state, then the Lambda runtime loop.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = AppState::from_env()
        .await
        .inspect_err(|err| tracing::error!("cold start failed: {err:#}"))?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, event.payload).await) }
        },
    ))
    .await
}
