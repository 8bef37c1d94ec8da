//! Every request answers within its deadline: a request stuck behind another
//! session's lock gets the contract's JSON 503 with `Retry-After` (and its
//! request-log line), never the gateway's error at the function timeout, and
//! the instance serves the next request normally.

use std::time::{Duration, Instant};

use api_tests::{Gateway, TestApp};
use lambda_http::Body;
use lambda_http::http::Request;
use serde_json::{Value, json};
use shared::AppState;
use sqlx::MySqlPool;

async fn send(state: &AppState, token: &str, id: i64, text: &str) -> (u16, Option<String>, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/conversations/{id}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(
            json!({"body": text, "client_id": text}).to_string(),
        ))
        .unwrap();
    let response = Gateway::new().handle(state, request).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = serde_json::from_slice(response.body().as_ref()).unwrap();
    (response.status().as_u16(), retry_after, body)
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_behind_a_held_row_lock_answers_503_before_the_deadline(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    let state = app
        .production_state_with(2, |config| {
            config.request_deadline = Duration::from_secs(3);
            config.database.lock_wait_timeout = Duration::from_secs(1);
        })
        .await;

    let mut holder = app.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM conversations WHERE id = ? FOR UPDATE")
        .bind(id)
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    let (status, retry_after, body) = send(&state, &alice.access, id, "stuck").await;
    let took = started.elapsed();
    println!("a send behind a held row lock answered {status} in {took:?}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(body["error"].is_string());
    assert!(took < Duration::from_secs(3), "{took:?}");
    holder.rollback().await.unwrap();

    // Nothing was stored, the log has the line, and the retry goes through.
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, 0);
    let path = format!("/api/conversations/{id}/messages");
    assert!(app.log_lines().iter().any(|line| line.ends_with(&path)));
    let (status, _, _) = send(&state, &alice.access, id, "stuck").await;
    assert_eq!(status, 201);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_request_that_outlives_its_deadline_answers_503_at_the_deadline(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    let state = app
        .production_state_with(1, |config| {
            config.request_deadline = Duration::from_millis(1500);
            config.database.lock_wait_timeout = Duration::from_secs(1);
        })
        .await;
    let mut holder = app.pool().acquire().await.unwrap();
    sqlx::query("LOCK TABLES conversations WRITE")
        .execute(&mut *holder)
        .await
        .unwrap();
    // The pool's one connection waits for locks longer than the deadline.
    let mut long_waits = state.pool.acquire().await.unwrap();
    sqlx::query("SET SESSION lock_wait_timeout = 30, innodb_lock_wait_timeout = 30")
        .execute(&mut *long_waits)
        .await
        .unwrap();
    drop(long_waits);

    let started = Instant::now();
    let (status, retry_after, body) = send(&state, &alice.access, id, "late").await;
    let took = started.elapsed();
    println!("a request past its deadline answered {status} in {took:?}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    sqlx::query("UNLOCK TABLES")
        .execute(&mut *holder)
        .await
        .unwrap();
    drop(holder);
    let (status, _, body) = send(&state, &alice.access, id, "later").await;
    assert_eq!(status, 201, "{body}");
}
