//! Handler tests from committed API Gateway HTTP API (payload 2.0) events,
//! parsed by `lambda_http` exactly as the runtime parses them.

use api_tests::{PASSWORD, TestApp};
use serde_json::json;
use sqlx::MySqlPool;

fn event(name: &str) -> String {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn request(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json).expect("a valid API Gateway v2 event")
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_base64_register_event_creates_the_user(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.send(request(&event("apigw-v2-register.json"))).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(app.login("fixture@example.org", PASSWORD).await.status, 200);
    assert!(app.log_lines()[0].ends_with(" - User: Anonymous - Path: /api/auth/register"));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_me_event_with_a_trailing_slash_and_a_query_answers_the_caller(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let json = event("apigw-v2-me.json").replace("{{ACCESS_TOKEN}}", &alice.access);
    let response = app.send(request(&json)).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["username"], "alice");
    let last = app.log_lines().pop().unwrap();
    assert!(
        last.ends_with(" - User: alice - Path: /api/auth/me/"),
        "{last}"
    );
    assert!(!last.contains("should-not-be-logged"));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_unknown_route_event_is_the_contracts_404(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app
        .send(request(&event("apigw-v2-unknown-route.json")))
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body, json!({"error": "Not found."}));
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_health_event_reports_the_database(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let response = app.send(request(&event("apigw-v2-health.json"))).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"status": "ok", "database": "ok"}));
}
