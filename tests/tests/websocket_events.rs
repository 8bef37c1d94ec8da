//! The realtime function's handler from committed API Gateway WebSocket
//! events (`$connect`, `$default`, `$disconnect`), and the ticket endpoint.

use api_tests::{TestApp, TestUser};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use chrono::TimeDelta;
use serde_json::{Value, json};
use shared::time;
use sqlx::MySqlPool;

const CONNECTION: &str = "CgC3RdhSDoECJkg=";

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(json: &str) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_str(json).expect("a valid API Gateway WebSocket event")
}

fn connect_event(ticket: &str) -> ApiGatewayWebsocketProxyRequest {
    event(&fixture("apigw-websocket-connect.json").replace("{{TICKET}}", ticket))
}

fn message_event(body: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut value: Value =
        serde_json::from_str(&fixture("apigw-websocket-message.json")).expect("JSON");
    value["body"] = json!(body);
    serde_json::from_value(value).expect("a valid API Gateway WebSocket event")
}

fn body(response: &ApiGatewayProxyResponse) -> Value {
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).expect("a JSON body"),
        Some(other) => panic!("expected a text body, got {other:?}"),
        None => Value::Null,
    }
}

async fn ticket(app: &TestApp, user: &TestUser) -> String {
    let response = app
        .call(
            lambda_http::http::Method::POST,
            "/api/realtime/tickets",
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let url = response.body["url"].as_str().expect("a url");
    url.split_once("?ticket=").expect("a ticket").1.to_string()
}

async fn connections(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT connection_id, user_id FROM realtime_connections")
        .fetch_all(app.pool())
        .await
        .expect("connections")
}

async fn connected(app: &TestApp, name: &str) -> TestUser {
    let user = app.user(name).await;
    let ticket = ticket(app, &user).await;
    let response = realtime::handle(&app.state, connect_event(&ticket)).await;
    assert_eq!(response.status_code, 200, "{:?}", response.body);
    user
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ticket_is_a_websocket_url_from_configuration_valid_for_60_seconds(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |config| {
        config.websocket_url = Some("wss://ws.example.test/prod".into());
    });
    let alice = app.user("alice").await;
    let response = app
        .call(
            lambda_http::http::Method::POST,
            "/api/realtime/tickets",
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(response.body["expires_in"], 60);
    let url = response.body["url"].as_str().unwrap();
    let ticket = url
        .strip_prefix("wss://ws.example.test/prod?ticket=")
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(ticket.len(), 43, "{ticket}");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ticket_hash FROM realtime_tickets")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored, shared::secret::digest_token(ticket).to_vec());
    assert_ne!(stored, ticket.as_bytes());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ticket_needs_a_valid_access_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    for token in [None, Some("not-a-token")] {
        let response = app
            .call(
                lambda_http::http::Method::POST,
                "/api/realtime/tickets",
                token,
                None,
            )
            .await;
        assert_eq!(response.status, 401, "{:?}", response.body);
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM realtime_tickets")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn without_a_websocket_url_a_ticket_is_a_503(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |config| config.websocket_url = None);
    let alice = app.user("alice").await;
    let response = app
        .call(
            lambda_http::http::Method::POST,
            "/api/realtime/tickets",
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(response.status, 503, "{:?}", response.body);
    assert!(response.body["error"].is_string());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_connect_event_with_a_ticket_records_the_connection_for_its_user(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = connected(&app, "alice").await;
    assert_eq!(
        connections(&app).await,
        vec![(CONNECTION.to_string(), alice.id)]
    );
    let last = app.log_lines().pop().unwrap();
    assert!(last.ends_with(" - User: alice - Path: $connect"), "{last}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ticket_opens_one_connection_only(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let ticket = ticket(&app, &alice).await;
    let first = realtime::handle(&app.state, connect_event(&ticket)).await;
    assert_eq!(first.status_code, 200);
    let json = fixture("apigw-websocket-connect.json")
        .replace("{{TICKET}}", &ticket)
        .replace(CONNECTION, "Another-Conn-Id=");
    let second = realtime::handle(&app.state, event(&json)).await;
    assert_eq!(second.status_code, 401, "{:?}", second.body);
    assert_eq!(body(&second)["error"], "Invalid, used or expired ticket.");
    assert_eq!(connections(&app).await.len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_expired_ticket_is_refused(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let issued_long_ago = time::now() - TimeDelta::seconds(61);
    let ticket = shared::realtime::issue_ticket(
        &mut app.pool().acquire().await.unwrap(),
        alice.id,
        None,
        issued_long_ago,
    )
    .await
    .unwrap();
    let response = realtime::handle(&app.state, connect_event(&ticket)).await;
    assert_eq!(response.status_code, 401);
    assert!(connections(&app).await.is_empty());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_connect_without_a_known_ticket_is_refused_and_logged_anonymous(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let mut no_ticket: Value =
        serde_json::from_str(&fixture("apigw-websocket-connect.json")).unwrap();
    no_ticket
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    no_ticket
        .as_object_mut()
        .unwrap()
        .remove("multiValueQueryStringParameters");
    for event in [
        serde_json::from_value(no_ticket).unwrap(),
        connect_event("made-up-ticket"),
        connect_event(""),
    ] {
        let response = realtime::handle(&app.state, event).await;
        assert_eq!(response.status_code, 401, "{:?}", response.body);
    }
    assert!(connections(&app).await.is_empty());
    for line in app.log_lines() {
        assert!(
            line.ends_with(" - User: Anonymous - Path: $connect"),
            "{line}"
        );
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ping_frame_is_answered_with_a_pong(pool: MySqlPool) {
    let app = TestApp::new(pool);
    connected(&app, "alice").await;
    let response = realtime::handle(&app.state, message_event(r#"{"action":"ping"}"#)).await;
    assert_eq!(response.status_code, 200);
    assert_eq!(body(&response), json!({"type": "pong"}));
    let last = app.log_lines().pop().unwrap();
    assert!(last.ends_with(" - User: alice - Path: $default"), "{last}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn any_other_frame_is_answered_with_an_error_frame(pool: MySqlPool) {
    let app = TestApp::new(pool);
    connected(&app, "alice").await;
    for frame in ["hello", r#"{"action":"send"}"#, "{}", "[]"] {
        let response = realtime::handle(&app.state, message_event(frame)).await;
        assert_eq!(response.status_code, 200, "{frame}");
        let answer = body(&response);
        assert_eq!(answer["type"], "error", "{frame}");
        assert!(answer["error"].is_string(), "{frame}");
    }
    assert_eq!(connections(&app).await.len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_disconnect_event_forgets_the_connection(pool: MySqlPool) {
    let app = TestApp::new(pool);
    connected(&app, "alice").await;
    let response = realtime::handle(
        &app.state,
        event(&fixture("apigw-websocket-disconnect.json")),
    )
    .await;
    assert_eq!(response.status_code, 200);
    assert!(connections(&app).await.is_empty());
    let last = app.log_lines().pop().unwrap();
    assert!(
        last.ends_with(" - User: alice - Path: $disconnect"),
        "{last}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn of_eight_handshakes_racing_with_one_ticket_exactly_one_opens(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let ticket = ticket(&app, &alice).await;
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..8 {
        let state = app.state.clone();
        let json = fixture("apigw-websocket-connect.json")
            .replace("{{TICKET}}", &ticket)
            .replace(CONNECTION, &format!("Racing-Conn-{i}="));
        racing.spawn(async move { realtime::handle(&state, event(&json)).await.status_code });
    }
    let mut statuses = racing.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401, 401, 401, 401, 401, 401, 401]);
    assert_eq!(connections(&app).await.len(), 1);
}

/// The key names of an event and of its request context.
fn shape(event: &Value) -> (Vec<String>, Vec<String>) {
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        keys
    };
    (keys(event), keys(&event["requestContext"]))
}

#[test]
fn the_local_gateway_sends_events_of_the_shape_api_gateway_sends() {
    use local_gateway::events::{self, ConnectionInfo};
    let info = ConnectionInfo {
        connection_id: "CgC3RdhSDoECJkg=".into(),
        connected_at: chrono::Utc::now(),
        source_ip: "127.0.0.1".into(),
        user_agent: Some("tests".into()),
        domain_name: "127.0.0.1:9001".into(),
        stage: "local".into(),
        api_id: "local".into(),
    };
    let headers = [("Host".to_string(), "127.0.0.1:9001".to_string())];
    let query = [("ticket".to_string(), "abc".to_string())];
    let cases = [
        (
            events::connect(&info, "r1", &headers, &query),
            "apigw-websocket-connect.json",
            "$connect",
            "CONNECT",
        ),
        (
            events::message(&info, "r2", r#"{"action":"ping"}"#),
            "apigw-websocket-message.json",
            "$default",
            "MESSAGE",
        ),
        (
            events::disconnect(
                &info,
                "r3",
                1000,
                "Client-side close frame status set to 1000",
            ),
            "apigw-websocket-disconnect.json",
            "$disconnect",
            "DISCONNECT",
        ),
    ];
    for (sent, fixture_name, route, kind) in cases {
        let recorded: Value = serde_json::from_str(&fixture(fixture_name)).unwrap();
        assert_eq!(shape(&sent), shape(&recorded), "{fixture_name}");
        let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(sent).unwrap();
        assert_eq!(parsed.request_context.route_key.as_deref(), Some(route));
        assert_eq!(parsed.request_context.event_type.as_deref(), Some(kind));
        assert_eq!(
            parsed.request_context.connection_id.as_deref(),
            Some("CgC3RdhSDoECJkg=")
        );
    }
}
