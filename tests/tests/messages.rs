//! The messages function against the real MariaDB, a fresh database per test.

use std::collections::HashSet;
use std::sync::Arc;

use api_tests::{TestApp, TestUser, count_statements};
use serde_json::{Value, json};
use sqlx::MySqlPool;

async fn pair(app: &TestApp) -> (TestUser, TestUser, i64) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    (alice, bob, id)
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn sending_answers_the_stored_message(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, _bob, id) = pair(&app).await;
    let response = app
        .send_message(
            &alice,
            id,
            json!({"body": "Hello, Bob!", "client_id": "c-1"}),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let m = &response.body;
    assert!(m["id"].as_i64().unwrap() > 0);
    assert_eq!(m["conversation_id"], id);
    assert_eq!(
        m["sender"],
        json!({"id": alice.id, "username": "alice", "first_name": "", "last_name": ""})
    );
    assert_eq!(m["body"], "Hello, Bob!");
    assert_eq!(m["client_id"], "c-1");
    let listed = app.messages(&alice, id, "").await;
    assert_eq!(
        listed.body["results"][0], *m,
        "the answer must equal what is stored"
    );

    let plain = app
        .send_message(&alice, id, json!({"body": "no client id"}))
        .await;
    assert_eq!(plain.body["client_id"], json!(null));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn text_round_trips_byte_for_byte(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let texts = [
        "emoji 😀👩‍👩‍👧‍👦 and 𝄞 and 中文",
        "'; DROP TABLE messages; --",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        "  leading and trailing space  \n",
        "tab\there \\ backslash \"quotes\" \u{0} nul",
    ];
    for text in texts {
        let sent = app.send_message(&alice, id, json!({"body": text})).await;
        assert_eq!(sent.status, 201, "{text:?}");
        assert_eq!(sent.body["body"], text);
    }
    let page = app.messages(&bob, id, "").await;
    let stored: Vec<&str> = page.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(stored, texts);
    let users: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(users.0, 2);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn bodies_are_1_to_10000_characters_and_not_blank(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, _bob, id) = pair(&app).await;
    let longest = "😀".repeat(10_000);
    let sent = app.send_message(&alice, id, json!({"body": longest})).await;
    assert_eq!(sent.status, 201);
    assert_eq!(sent.body["body"].as_str().unwrap().chars().count(), 10_000);

    let cases = [
        json!({"body": "x".repeat(10_001)}),
        json!({"body": ""}),
        json!({"body": " \n\t "}),
        json!({}),
        json!({"body": 5}),
        json!({"body": null}),
        json!({"body": "ok", "client_id": "c".repeat(65)}),
        json!({"body": "ok", "client_id": ""}),
        json!({"body": "ok", "client_id": 7}),
        json!({"body": "ok", "sender_id": 1}),
    ];
    for body in cases {
        let response = app.send_message(&alice, id, body.clone()).await;
        assert_eq!(response.status, 400, "{body}: {:?}", response.body);
        assert!(response.body["error"].is_string());
    }
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_repeated_client_id_answers_200_with_the_first_message(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let first = app
        .send_message(&alice, id, json!({"body": "once", "client_id": "retry-1"}))
        .await;
    assert_eq!(first.status, 201);
    let again = app
        .send_message(
            &alice,
            id,
            json!({"body": "once, edited", "client_id": "retry-1"}),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);

    // Another sender, or another case, is another key.
    assert_eq!(
        app.send_message(&bob, id, json!({"body": "mine", "client_id": "retry-1"}))
            .await
            .status,
        201
    );
    assert_eq!(
        app.send_message(&alice, id, json!({"body": "other", "client_id": "RETRY-1"}))
            .await
            .status,
        201
    );
    assert_eq!(ids(&app.messages(&alice, id, "").await.body).len(), 3);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn racing_repeats_of_one_client_id_store_one_message(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, _bob, id) = pair(&app).await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (app, alice) = (Arc::clone(&app), alice.clone());
        tasks.push(tokio::spawn(async move {
            app.send_message(
                &alice,
                id,
                json!({"body": format!("attempt {n}"), "client_id": "same"}),
            )
            .await
        }));
    }
    let mut statuses = Vec::new();
    let mut message_ids = HashSet::new();
    for task in tasks {
        let response = task.await.unwrap();
        statuses.push(response.status);
        message_ids.insert(response.body["id"].as_i64().unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(message_ids.len(), 1);
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_senders_lose_nothing_and_the_order_is_stable(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, bob, id) = pair(&app).await;
    let mut tasks = Vec::new();
    for n in 0..60 {
        let app = Arc::clone(&app);
        let sender = if n % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        tasks.push(tokio::spawn(async move {
            let response = app
                .send_message(&sender, id, json!({"body": format!("m{n}")}))
                .await;
            assert_eq!(response.status, 201, "{:?}", response.body);
            response.body["id"].as_i64().unwrap()
        }));
    }
    let mut acknowledged = HashSet::new();
    for task in tasks {
        acknowledged.insert(task.await.unwrap());
    }
    let first = ids(&app.messages(&alice, id, "?page_size=100").await.body);
    let second = ids(&app.messages(&bob, id, "?page_size=100").await.body);
    assert_eq!(first.len(), 60);
    assert_eq!(first.iter().copied().collect::<HashSet<_>>(), acknowledged);
    assert_eq!(first, second);
    assert!(first.windows(2).all(|w| w[0] > w[1]), "newest first by id");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn pages_cover_the_history_once_while_new_messages_arrive(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let mut history = Vec::new();
    for n in 0..23 {
        history.push(app.say(&alice, id, &format!("old {n}")).await);
    }
    let mut seen = Vec::new();
    let mut query = "?page_size=5".to_string();
    loop {
        let page = app.messages(&bob, id, &query).await;
        assert_eq!(page.status, 200);
        seen.extend(ids(&page.body));
        // Someone keeps talking while Bob scrolls back.
        app.say(&alice, id, "new").await;
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?page_size=5&cursor={cursor}"),
            None => break,
        }
    }
    history.reverse();
    assert_eq!(seen, history);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn polling_with_after_walks_forward_oldest_first(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let first = app.say(&alice, id, "one").await;
    let mut later = Vec::new();
    for n in 0..7 {
        later.push(app.say(&alice, id, &format!("later {n}")).await);
    }
    let page = app
        .messages(&bob, id, &format!("?after={first}&page_size=4"))
        .await;
    assert_eq!(ids(&page.body), later[..4]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .messages(&bob, id, &format!("?cursor={cursor}&page_size=4"))
        .await;
    assert_eq!(ids(&rest.body), later[4..]);
    assert_eq!(rest.body["next_cursor"], json!(null));

    let last = *later.last().unwrap();
    let nothing_new = app.messages(&bob, id, &format!("?after={last}")).await;
    assert_eq!(
        nothing_new.body,
        json!({"results": [], "next_cursor": null})
    );
    let newest = app.say(&alice, id, "fresh").await;
    assert_eq!(
        ids(&app.messages(&bob, id, &format!("?after={last}")).await.body),
        vec![newest]
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn page_size_defaults_to_20_clamps_at_100_and_refuses_garbage(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, _bob, id) = pair(&app).await;
    for n in 0..105 {
        app.say(&alice, id, &format!("m{n}")).await;
    }
    let default = app.messages(&alice, id, "").await;
    assert_eq!(ids(&default.body).len(), 20);
    assert!(default.body["next_cursor"].is_string());
    assert_eq!(
        ids(&app.messages(&alice, id, "?page_size=100").await.body).len(),
        100
    );
    assert_eq!(
        ids(&app.messages(&alice, id, "?page_size=1000").await.body).len(),
        100
    );
    assert_eq!(
        ids(&app.messages(&alice, id, "?page_size=1").await.body).len(),
        1
    );
    for query in [
        "?page_size=abc",
        "?page_size=0",
        "?page_size=-1",
        "?page_size=",
        "?after=abc",
        "?after=-5",
        "?after=1.5",
        "?since=-1",
        "?since=abc",
        "?after=1&since=1",
        "?cursor=garbage",
        "?cursor=%00",
        "?limit=5",
        "?page_size=5&page_size=6",
    ] {
        let response = app.messages(&alice, id, query).await;
        assert_eq!(response.status, 400, "{query}: {:?}", response.body);
        assert!(response.body["error"].is_string());
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_cursor_from_one_conversation_is_refused_in_another(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, first) = pair(&app).await;
    let second = app.conversation(&alice, &[&bob]).await;
    for n in 0..3 {
        app.say(&alice, first, &format!("m{n}")).await;
        app.say(&alice, second, &format!("m{n}")).await;
    }
    let page = app.messages(&alice, first, "?page_size=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let response = app
        .messages(&alice, second, &format!("?cursor={cursor}"))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error(), "Invalid cursor.");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_removed_participant_can_no_longer_send(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    app.delete(
        &format!("/api/conversations/{id}/participants/{}", bob.id),
        Some(&alice.access),
    )
    .await;
    let response = app
        .send_message(&bob, id, json!({"body": "still here?", "client_id": "x"}))
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body, json!({"error": "Not found."}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn message_routes_take_a_fixed_number_of_statements(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    for n in 0..120 {
        app.say(&bob, id, &format!("m{n}")).await;
    }
    let (page, page_count) = count_statements(app.messages(&alice, id, "?page_size=100")).await;
    assert_eq!(ids(&page.body).len(), 100);
    let (small, small_count) = count_statements(app.messages(&alice, id, "?page_size=1")).await;
    assert_eq!(ids(&small.body).len(), 1);
    let (sent, send_count) =
        count_statements(app.send_message(&alice, id, json!({"body": "hi", "client_id": "k"})))
            .await;
    assert_eq!(sent.status, 201);
    let (repeat, repeat_count) =
        count_statements(app.send_message(&alice, id, json!({"body": "hi", "client_id": "k"})))
            .await;
    assert_eq!(repeat.status, 200);
    println!(
        "list messages: {page_count} (100) / {small_count} (1); send: {send_count}; repeated send: {repeat_count}"
    );
    // Authentication, then the page with the reader's membership as its
    // condition.
    assert_eq!(page_count, 2);
    assert_eq!(small_count, 2);
    // Authentication, then the send_message procedure (the rate limit's
    // count, membership, lock, insert, counters and marker, commit).
    assert_eq!(send_count, 2);
    // The insert meets the idempotency key: the procedure rolls the send
    // back and gives the rate limit's use back, then the stored message.
    assert_eq!(repeat_count, 3);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn wrong_methods_on_message_routes_are_405(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, _bob, id) = pair(&app).await;
    let response = app
        .delete(
            &format!("/api/conversations/{id}/messages"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST, GET"));
    let one = app
        .call(
            lambda_http::http::Method::PUT,
            &format!("/api/conversations/{id}/messages/1"),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(one.status, 405);
    assert_eq!(one.header("allow"), Some("GET, PATCH, DELETE"));
    let unknown = app
        .get(
            &format!("/api/conversations/{id}/messages/1/extra"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn thirty_two_concurrent_senders_through_a_pool_of_32_all_succeed(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, bob, id) = pair(&app).await;
    // The production pool (its session settings included) on this test's database.
    let state = app.production_state(32).await;
    let gateway = Arc::new(api_tests::Gateway::new());

    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for n in 0..32 {
        let (state, gateway) = (state.clone(), Arc::clone(&gateway));
        let token = if n % 2 == 0 {
            alice.access.clone()
        } else {
            bob.access.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for m in 0..10 {
                let request = lambda_http::http::Request::builder()
                    .method("POST")
                    .uri(format!("/api/conversations/{id}/messages"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(lambda_http::Body::from(
                        json!({"body": format!("{n}-{m}")}).to_string(),
                    ))
                    .unwrap();
                statuses.push(gateway.handle(&state, request).await.status().as_u16());
            }
            statuses
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().iter().all(|s| *s == 201));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "sends waited on locks: {:?}",
        started.elapsed()
    );
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, 320);
}
