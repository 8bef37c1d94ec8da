//! Per-user rate limits, counted in the database across instances before the
//! work is done.

use api_tests::{TestApp, call_on};
use serde_json::json;
use sqlx::MySqlPool;

const LIMIT: u32 = 10;

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn sixty_four_parallel_sends_through_four_instances_store_exactly_the_limit(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.send_rate_limit = LIMIT);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(
            app.production_state_with(4, |c| c.send_rate_limit = LIMIT)
                .await,
        );
    }
    let mut sending = tokio::task::JoinSet::new();
    for i in 0..64 {
        let state = instances[i % 4].clone();
        let token = alice.access.clone();
        sending.spawn(async move {
            call_on(
                &state,
                "POST",
                &format!("/api/conversations/{conversation}/messages"),
                &token,
                Some(json!({"body": format!("flood {i}")})),
            )
            .await
            .0
        });
    }
    let statuses = sending.join_all().await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!("64 parallel sends through 4 instances: {created} stored, {limited} answered 429");
    assert_eq!((created, limited), (LIMIT as usize, 64 - LIMIT as usize));
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored, i64::from(LIMIT));

    let refused = app
        .send_message(&alice, conversation, json!({"body": "one more"}))
        .await;
    assert_eq!(refused.status, 429);
    let retry = refused.retry_after();
    assert!((1..=10).contains(&retry), "{retry}");
    assert_eq!(refused.error(), "Too many changes. Try again later.");
    // The limit is the sender's: bob still sends.
    app.say(&bob, conversation, "bob is fine").await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_repeated_client_id_is_answered_from_what_was_stored_and_does_not_count(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.send_rate_limit = 3);
    let alice = app.user("alice").await;
    let conversation = app.conversation(&alice, &[]).await;
    let send = |body: serde_json::Value| app.send_message(&alice, conversation, body);
    let first = send(json!({"body": "once", "client_id": "a"})).await;
    assert_eq!(first.status, 201);
    for _ in 0..5 {
        let again = send(json!({"body": "once", "client_id": "a"})).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body, first.body);
    }
    assert_eq!(send(json!({"body": "two"})).await.status, 201);
    assert_eq!(send(json!({"body": "three"})).await.status, 201);
    assert_eq!(send(json!({"body": "four"})).await.status, 429);
    // Over the limit, a repeat is still answered.
    let again = send(json!({"body": "once", "client_id": "a"})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    // Edits and deletes count as changes too.
    let id = first.body["id"].as_i64().unwrap();
    let edited = app
        .patch(
            &format!("/api/conversations/{conversation}/messages/{id}"),
            Some(&alice.access),
            json!({"body": "edited"}),
        )
        .await;
    assert_eq!(edited.status, 429);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn tickets_are_limited_per_user_and_minute(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.ticket_rate_limit = 20);
    let alice = app.user("alice").await;
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(
            app.call(
                lambda_http::http::Method::POST,
                "/api/realtime/tickets",
                Some(&alice.access),
                None,
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 20);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5);
}

/// A send refused for its `reply_to` gives its use back; one into a
/// conversation the sender is not in keeps it, as every refused change does.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_refused_reply_does_not_count_and_a_strangers_send_does(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| c.send_rate_limit = 3);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let own = app.conversation(&alice, &[]).await;
    let bobs = app.conversation(&bob, &[]).await;
    for _ in 0..5 {
        let refused = app
            .send_message(&alice, own, json!({"body": "re", "reply_to": 999_999}))
            .await;
        assert_eq!(refused.status, 400);
    }
    assert_eq!(
        app.send_message(&alice, bobs, json!({"body": "hello?"}))
            .await
            .status,
        404
    );
    assert_eq!(
        app.send_message(&alice, own, json!({"body": "one"}))
            .await
            .status,
        201
    );
    assert_eq!(
        app.send_message(&alice, own, json!({"body": "two"}))
            .await
            .status,
        201
    );
    let limited = app
        .send_message(&alice, own, json!({"body": "three"}))
        .await;
    assert_eq!(limited.status, 429);
    let retry = limited.retry_after();
    assert!((1..=10).contains(&retry), "{retry}");
}
