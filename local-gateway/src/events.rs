//! The event JSON that API Gateway hands a WebSocket API's Lambda proxy
//! integration, one builder per event type.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// What every event of one connection says about it.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
}

fn request_context(
    info: &ConnectionInfo,
    route_key: &str,
    event_type: &str,
    request_id: &str,
) -> Map<String, Value> {
    let now = Utc::now();
    let mut identity = json!({"sourceIp": info.source_ip});
    if let Some(agent) = &info.user_agent {
        identity["userAgent"] = json!(agent);
    }
    let context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at.timestamp_millis(),
        "requestTimeEpoch": now.timestamp_millis(),
        "identity": identity,
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    });
    match context {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// `$connect`: the handshake's headers and query string.
pub fn connect(
    info: &ConnectionInfo,
    request_id: &str,
    headers: &[(String, String)],
    query: &[(String, String)],
) -> Value {
    let mut event = json!({
        "headers": single(headers),
        "multiValueHeaders": multi(headers),
        "requestContext": request_context(info, "$connect", "CONNECT", request_id),
        "isBase64Encoded": false,
    });
    // API Gateway leaves both out when the URL has no query string.
    if !query.is_empty() {
        event["queryStringParameters"] = json!(single(query));
        event["multiValueQueryStringParameters"] = json!(multi(query));
    }
    event
}

/// `$default`: one frame from the client. The route key is `$default` for
/// every frame because the API defines no other route.
pub fn message(info: &ConnectionInfo, request_id: &str, body: &str) -> Value {
    let mut context = request_context(info, "$default", "MESSAGE", request_id);
    context.insert("messageId".into(), json!(request_id));
    json!({
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false,
    })
}

/// `$disconnect`: after the connection has closed, from either side.
pub fn disconnect(info: &ConnectionInfo, request_id: &str, code: u16, reason: &str) -> Value {
    let mut context = request_context(info, "$disconnect", "DISCONNECT", request_id);
    context.insert("disconnectStatusCode".into(), json!(code));
    context.insert("disconnectReason".into(), json!(reason));
    let headers = vec![("Host".to_string(), info.domain_name.clone())];
    json!({
        "headers": single(&headers),
        "multiValueHeaders": multi(&headers),
        "requestContext": context,
        "isBase64Encoded": false,
    })
}

/// The last value of each name, as API Gateway's single-value maps hold.
fn single(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn multi(pairs: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k.as_str()).or_default().push(v.as_str());
    }
    map
}
