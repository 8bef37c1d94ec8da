//! The real function binaries under a Lambda Runtime API emulator, driven
//! with API Gateway HTTP API (v2) events: one request per route family.

use api_tests::runtime_api::LambdaProcess;
use api_tests::{SECRET, database_url};
use serde_json::json;
use sqlx::MySqlPool;

fn env(database_url: String) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", String::from_utf8(SECRET.to_vec()).unwrap()),
        (
            "REQUEST_LOG_FILE",
            std::env::temp_dir()
                .join("runtime-api-test.log")
                .display()
                .to_string(),
        ),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".into()),
    ]
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn every_function_answers_its_routes_through_the_runtime_api(pool: MySqlPool) {
    let env = env(database_url(&pool));
    let auth = LambdaProcess::spawn("auth", &env).await;
    let conversations = LambdaProcess::spawn("conversations", &env).await;
    let messages = LambdaProcess::spawn("messages", &env).await;

    let (status, headers, body) = auth.request("GET", "/api/health", None, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "database": "ok"}))
    );
    assert_eq!(headers["content-type"], "application/json");

    let credentials =
        json!({"email": "e2e@example.org", "password": "correct horse battery staple"});
    assert_eq!(
        auth.request(
            "POST",
            "/api/auth/register",
            None,
            Some(credentials.clone())
        )
        .await
        .0,
        201
    );
    let (status, _, login) = auth
        .request("POST", "/api/auth/login/", None, Some(credentials))
        .await;
    assert_eq!(status, 200);
    let token = login["access_token"].as_str().unwrap();
    let me = login["user"]["id"].as_i64().unwrap();

    let (status, _, found) = auth
        .request(
            "GET",
            "/api/users?email=e2e%40example.org",
            Some(token),
            None,
        )
        .await;
    assert_eq!(
        (status, found["results"][0]["id"].as_i64()),
        (200, Some(me))
    );

    let (status, _, conversation) = conversations
        .request(
            "POST",
            "/api/conversations",
            Some(token),
            Some(json!({"participant_ids": [me]})),
        )
        .await;
    assert_eq!(status, 201, "{conversation}");
    let id = conversation["id"].as_i64().unwrap();

    let path = format!("/api/conversations/{id}/messages");
    let (status, _, sent) = messages
        .request(
            "POST",
            &path,
            Some(token),
            Some(json!({"body": "through the runtime 🚀"})),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let (status, _, page) = messages
        .request("GET", &format!("{path}?page_size=5"), Some(token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["results"][0]["body"], "through the runtime 🚀");

    let (status, _, listed) = conversations
        .request("GET", "/api/conversations/", Some(token), None)
        .await;
    assert_eq!(
        (status, listed["results"][0]["last_message"]["id"].clone()),
        (200, sent["id"].clone())
    );

    // Refusals are the contract's JSON, answered by the function itself.
    let (status, _, body) = auth.request("GET", "/api/nowhere", None, None).await;
    assert_eq!((status, body), (404, json!({"error": "Not found."})));
    let (status, headers, _) = messages.request("DELETE", &path, Some(token), None).await;
    assert_eq!(
        (status, headers["allow"].as_str()),
        (405, Some("POST, GET"))
    );
    let (status, headers, _) = conversations
        .request("GET", "/api/conversations", Some("forged"), None)
        .await;
    assert_eq!(
        (status, headers["www-authenticate"].as_str()),
        (401, Some("Bearer"))
    );

    for function in [auth, conversations, messages] {
        function.stop().await;
    }
}

#[tokio::test]
async fn a_database_outage_is_a_json_503_not_an_invocation_error() {
    // Nothing listens on port 9 of the loopback: every connection is refused.
    let env = env("mysql://root@127.0.0.1:9/messaging".into());
    let auth = LambdaProcess::spawn("auth", &env).await;

    let (status, headers, body) = auth.request("GET", "/api/health", None, None).await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], "unavailable");
    assert_eq!(headers["retry-after"], "1");

    let credentials =
        json!({"email": "e2e@example.org", "password": "correct horse battery staple"});
    let (status, headers, body) = auth
        .request("POST", "/api/auth/register", None, Some(credentials))
        .await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        body,
        json!({"error": "The service is temporarily unavailable. Try again shortly."})
    );
    auth.stop().await;
}
