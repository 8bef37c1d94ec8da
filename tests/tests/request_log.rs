//! The request log: one intact line per request, naming the right user.

use std::sync::Arc;

use api_tests::TestApp;
use shared::AppState;
use sqlx::MySqlPool;

fn assert_line(line: &str, user: &str, path: &str) {
    let (timestamp, rest) = line
        .split_once(" - User: ")
        .unwrap_or_else(|| panic!("malformed line {line:?}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "timestamp in {line:?}"
    );
    assert_eq!(rest, format!("{user} - Path: {path}"), "{line:?}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_valid_token_names_its_user(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    app.me(&alice.access).await;
    let lines = app.log_lines();
    assert_line(lines.last().unwrap(), "alice", "/api/auth/me");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn no_token_or_an_invalid_one_is_anonymous(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.get("/api/health", None).await;
    app.get("/api/auth/me", Some("not-a-token")).await;
    let lines = app.log_lines();
    assert_eq!(lines.len(), 2);
    assert_line(&lines[0], "Anonymous", "/api/health");
    assert_line(&lines[1], "Anonymous", "/api/auth/me");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_path_is_logged_without_its_query_string(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    app.get("/api/users?email=secret%40example.org", Some(&alice.access))
        .await;
    let lines = app.log_lines();
    assert_line(lines.last().unwrap(), "alice", "/api/users");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn refused_and_unknown_requests_are_logged_too(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    app.get("/api/nowhere", Some(&alice.access)).await;
    app.get("/api/auth/login", None).await;
    let lines = app.log_lines();
    let n = lines.len();
    assert_line(&lines[n - 2], "alice", "/api/nowhere");
    assert_line(&lines[n - 1], "Anonymous", "/api/auth/login");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn passwords_and_tokens_never_reach_the_log(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    app.refresh(&alice.refresh).await;
    let log = app.log_lines().join("\n");
    assert!(!log.contains(api_tests::PASSWORD));
    assert!(!log.contains(&alice.access));
    assert!(!log.contains(&alice.refresh));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_requests_from_two_instances_write_one_intact_line_each(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool.clone()));
    let alice = app.user("alice").await;
    let before = app.log_lines().len();
    // A second instance appending to the same file, as two processes would.
    let other = Arc::new(AppState::new(
        api_tests::test_config(app.log_file.clone()),
        pool,
    ));

    let mut tasks = Vec::new();
    for i in 0..100 {
        let app = Arc::clone(&app);
        let other = Arc::clone(&other);
        let token = alice.access.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                app.get(&format!("/api/auth/me?n={i}"), Some(&token)).await;
            } else {
                let request = lambda_http::http::Request::builder()
                    .uri(format!("/api/health?n={i}"))
                    .body(lambda_http::Body::Empty)
                    .unwrap();
                shared::app::handle(&other, &auth::router(), request).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let lines = app.log_lines();
    let new = &lines[before..];
    assert_eq!(new.len(), 100);
    assert_eq!(
        new.iter()
            .filter(|l| l.ends_with(" - User: alice - Path: /api/auth/me"))
            .count(),
        50
    );
    assert_eq!(
        new.iter()
            .filter(|l| l.ends_with(" - User: Anonymous - Path: /api/health"))
            .count(),
        50
    );
    for line in new {
        assert!(
            line.ends_with("/api/auth/me") || line.ends_with("/api/health"),
            "{line:?}"
        );
    }
}
