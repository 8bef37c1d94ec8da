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
use shared::store::{realtime as connections, users};
use shared::{ApiError, AppState, realtime, time};

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
    let (username, outcome) = match route.as_str() {
        CONNECT => connect(state, &connection_id, &event).await,
        DISCONNECT => disconnect(state, &connection_id).await,
        DEFAULT => default(state, &connection_id, event.body.as_deref()).await,
        _ => (None, Err(ApiError::NotFound)),
    };
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

/// `$connect`: the ticket from the query string stands for the user; any
/// non-2xx answer makes API Gateway refuse the handshake.
async fn connect(
    state: &AppState,
    connection_id: &str,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Outcome {
    const REFUSED: ApiError = ApiError::Unauthorized("Invalid, used or expired ticket.");
    let Some(ticket) = event.query_string_parameters.first("ticket") else {
        return (None, Err(REFUSED));
    };
    if connection_id.is_empty() {
        return (None, Err(ApiError::bad_request("No connection id.")));
    }
    let pool = &state.pool;
    let now = time::now();
    let user_id = match realtime::redeem_ticket(pool, ticket, now).await {
        Ok(Some(user_id)) => user_id,
        Ok(None) => return (None, Err(REFUSED)),
        Err(err) => return (None, Err(err.into())),
    };
    let mut db = Db::new(pool);
    let found = match db.conn().await {
        Ok(conn) => users::find(conn, user_id).await,
        Err(err) => Err(err),
    };
    let user = match found {
        Ok(Some(user)) => user,
        Ok(None) => return (None, Err(REFUSED)),
        Err(err) => return (None, Err(err.into())),
    };
    let stored = connections::insert_connection(pool, connection_id, user.id, now).await;
    (
        Some(user.username),
        stored.map(|()| None).map_err(Into::into),
    )
}

/// `$disconnect`: best effort on API Gateway's side, so publishing also
/// forgets connections that turn out gone.
async fn disconnect(state: &AppState, connection_id: &str) -> Outcome {
    let username = connections::connection_username(&state.pool, connection_id)
        .await
        .ok()
        .flatten();
    let deleted = connections::delete_connection(&state.pool, connection_id).await;
    (username, deleted.map(|()| None).map_err(Into::into))
}

/// `$default`: every client frame; the connection stays open whatever it says.
async fn default(state: &AppState, connection_id: &str, body: Option<&str>) -> Outcome {
    let username = match connections::connection_username(&state.pool, connection_id).await {
        Ok(username) => username,
        Err(err) => return (None, Err(err.into())),
    };
    (username, Ok(Some(frames::answer(body.unwrap_or("")))))
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
