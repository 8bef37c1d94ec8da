//! A scenario's request straight to the handler service, in this process,
//! with the SQL statements it sends counted: for checks, counts and the
//! measurements that time single requests.

use harness::routing::Gateway;
use harness::statements::count_statements;
use serde_json::Value;
use shared::AppState;

use crate::load::Request;

/// The status, the JSON body (null when not JSON) and the SQL statements
/// of `request` handled on `state`.
pub async fn call(gateway: &Gateway, state: &AppState, request: &Request) -> (u16, Value, usize) {
    let mut builder = lambda_http::http::Request::builder()
        .method(request.method)
        .uri(&request.path);
    if let Some(token) = &request.token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = request
        .body
        .clone()
        .map(lambda_http::Body::Text)
        .unwrap_or(lambda_http::Body::Empty);
    let (response, statements) =
        count_statements(gateway.handle(state, builder.body(body).expect("request"))).await;
    let value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), value, statements)
}
