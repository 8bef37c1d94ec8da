//! Every kind of bad input on every route: a 4xx with the contract's JSON
//! error, never a 500 and never a panic.

use api_tests::{TestApp, TestResponse};
use lambda_http::Body;
use lambda_http::http::Request;
use serde_json::{Value, json};
use sqlx::MySqlPool;

fn assert_client_error(response: &TestResponse, what: &str) {
    assert!(
        (400..500).contains(&response.status),
        "{what} → {} {:?}",
        response.status,
        response.body
    );
    assert!(
        response.body["error"].is_string(),
        "{what} → no error sentence in {:?}",
        response.body
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn malformed_bodies_on_every_route_with_a_body_are_4xx(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    let routes = [
        "/api/auth/register".to_string(),
        "/api/auth/login".into(),
        "/api/auth/refresh".into(),
        "/api/auth/logout".into(),
        "/api/conversations".into(),
        format!("/api/conversations/{id}/participants"),
        format!("/api/conversations/{id}/messages"),
    ];
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies: Vec<(&str, Body)> = vec![
        ("malformed JSON", Body::from("{\"body\": ")),
        ("not an object", Body::from("[1, 2, 3]")),
        ("a bare string", Body::from("\"hello\"")),
        ("null", Body::from("null")),
        ("empty", Body::Empty),
        (
            "invalid UTF-8",
            Body::from(vec![b'{', b'"', b'b', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ),
        ("deeply nested", Body::from(format!("{{\"body\": {deep}}}"))),
        (
            "over 64 KiB",
            Body::from(format!("{{\"body\": \"{}\"}}", "x".repeat(70_000))),
        ),
        (
            "wrong types",
            Body::from(
                r#"{"email": 1, "password": [], "body": {}, "participant_ids": "x", "user_ids": 7, "refresh_token": false}"#,
            ),
        ),
        ("extra field", Body::from(r#"{"unexpected": true}"#)),
        ("missing fields", Body::from("{}")),
        (
            "huge number",
            Body::from(r#"{"participant_ids": [1e400], "user_ids": [99999999999999999999999]}"#),
        ),
    ];
    for route in &routes {
        for (what, body) in &bodies {
            let request = Request::builder()
                .method("POST")
                .uri(route.as_str())
                .header("authorization", format!("Bearer {}", alice.access))
                .header("content-type", "application/json")
                .body(body.clone())
                .unwrap();
            assert_client_error(&app.send(request).await, &format!("{what} to {route}"));
        }
    }
    // The logout route alone answers 204 to any token; nothing else got through.
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(messages, 0);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn odd_ids_in_paths_are_404_on_every_route(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    for raw in [
        "0",
        "-1",
        "-9223372036854775808",
        "9223372036854775808",
        "99999999999999999999999999",
        "abc",
        "1.5",
        "1e3",
        "%20",
        "0x10",
        "%F0%9F%98%80",
    ] {
        let token = Some(alice.access.as_str());
        for response in [
            app.get(&format!("/api/conversations/{raw}"), token).await,
            app.get(&format!("/api/conversations/{raw}/messages"), token)
                .await,
            app.post(
                &format!("/api/conversations/{raw}/messages"),
                token,
                json!({"body": "x"}),
            )
            .await,
            app.post(
                &format!("/api/conversations/{raw}/participants"),
                token,
                json!({"user_ids": [alice.id]}),
            )
            .await,
            app.delete(
                &format!("/api/conversations/{raw}/participants/{raw}"),
                token,
            )
            .await,
        ] {
            assert_eq!(response.status, 404, "{raw}: {:?}", response.body);
            assert_eq!(response.body, json!({"error": "Not found."}));
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn garbled_query_parameters_are_400_on_every_route_that_reads_them(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, id, "hello").await;
    let garbles = [
        "page_size=%ZZ",
        "page_size=1%00",
        "page_size=%2B5",
        "page_size=9e9",
        "page_size=",
        "cursor=%FF%FE",
        "cursor=",
        "cursor=AAAA",
        "after=1e9999",
        "after=-0",
        "after=%00",
        "%%%",
        "=5",
        "page_size=5&page_size=5",
        "email=a%40b.org&username=x",
    ];
    for path in [
        "/api/conversations".to_string(),
        format!("/api/conversations/{id}/messages"),
        "/api/users".into(),
    ] {
        for garble in garbles {
            let response = app
                .get(&format!("{path}?{garble}"), Some(&alice.access))
                .await;
            if path == "/api/users"
                && (garble.starts_with("email=") || garble.starts_with("username="))
            {
                continue;
            }
            assert_client_error(&response, &format!("{path}?{garble}"));
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn wrong_methods_are_405_with_allow_on_every_path(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let cases: [(&str, &str, &str); 8] = [
        ("PUT", "/api/auth/register", "POST"),
        ("GET", "/api/auth/refresh", "POST"),
        ("PUT", "/api/auth/me", "GET, DELETE"),
        ("POST", "/api/users", "GET"),
        ("PATCH", "/api/conversations", "POST, GET"),
        ("DELETE", "/api/conversations/1", "GET, PATCH"),
        ("PUT", "/api/conversations/1/participants", "GET, POST"),
        ("PUT", "/api/conversations/1/messages", "POST, GET"),
    ];
    for (method, path, allow) in cases {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", alice.access))
            .body(Body::Empty)
            .unwrap();
        let response = app.send(request).await;
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        let body: &Value = &response.body;
        assert!(body["error"].is_string());
    }
}
