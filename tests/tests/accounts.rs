//! Accounts a person controls: a password change that ends every other
//! session, and erasure that leaves nothing of the person behind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use api_tests::websocket::{Stack, closed, next_json};
use api_tests::{PASSWORD, TestApp, TestUser, call_on};
use serde_json::{Value, json};
use shared::erasure;
use sqlx::MySqlPool;

const NEW_PASSWORD: &str = "a much better passphrase";

async fn second_session(app: &TestApp, user: &TestUser) -> TestUser {
    let login = app.login(&user.email, PASSWORD).await;
    assert_eq!(login.status, 200);
    TestUser {
        access: login.body["access_token"].as_str().unwrap().to_string(),
        refresh: login.body["refresh_token"].as_str().unwrap().to_string(),
        ..user.clone()
    }
}

fn change_body(current: &str, new: &str) -> Value {
    json!({"current_password": current, "new_password": new})
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_password_change_gives_a_fresh_session_and_ends_every_other(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let other = second_session(app, &alice).await;
    let mut this_socket = stack.connect(&alice).await;
    let mut other_socket = stack.connect(&other).await;

    let changed = app
        .post(
            "/api/auth/password",
            Some(&alice.access),
            change_body(PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let fresh_access = changed.body["access_token"].as_str().unwrap();
    let fresh_refresh = changed.body["refresh_token"].as_str().unwrap();
    assert_eq!(changed.body["user"]["id"], alice.id);

    // Every session that existed has ended, the caller's old one included:
    // refresh tokens, access tokens and WebSocket connections.
    for session in [&alice, &other] {
        assert_eq!(app.refresh(&session.refresh).await.status, 401);
        assert_eq!(app.me(&session.access).await.status, 401);
    }
    assert!(closed(&mut this_socket).await, "a socket stayed open");
    assert!(closed(&mut other_socket).await, "a socket stayed open");
    // The fresh session works; only the new password logs in.
    assert_eq!(app.me(fresh_access).await.status, 200);
    assert_eq!(app.refresh(fresh_refresh).await.status, 200);
    assert_eq!(app.login(&alice.email, PASSWORD).await.status, 401);
    assert_eq!(app.login(&alice.email, NEW_PASSWORD).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_password_change_names_each_field_it_refuses(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let change = |body: Value| app.post("/api/auth/password", Some(&alice.access), body);

    let missing = change(json!({})).await;
    assert_eq!(missing.status, 400);
    assert!(missing.body["fields"]["current_password"].is_string());
    assert!(missing.body["fields"]["new_password"].is_string());
    let short = change(change_body(PASSWORD, "short")).await;
    assert_eq!(short.status, 400);
    assert!(
        short.body["fields"]["new_password"].is_string(),
        "{}",
        short.body
    );
    let wrong = change(change_body("not the password", NEW_PASSWORD)).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body["fields"]["current_password"].is_string());
    let unknown =
        change(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1})).await;
    assert_eq!(unknown.status, 400);
    let anonymous = app
        .post(
            "/api/auth/password",
            None,
            change_body(PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    // Nothing changed.
    assert_eq!(app.me(&alice.access).await.status, 200);
    assert_eq!(app.login(&alice.email, PASSWORD).await.status, 200);
}

/// A stolen access token cannot guess the password through the change (or
/// the erasure) faster than at login: each wrong guess counts for the
/// account's login throttle, reserved before the password is checked.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn forty_parallel_wrong_current_passwords_through_four_instances_get_five_guesses(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut states = Vec::new();
    for _ in 0..4 {
        states.push(app.production_state(10).await);
    }
    let mut tasks = Vec::new();
    for n in 0..40 {
        let state = states[n % 4].clone();
        let token = alice.access.clone();
        // Half of them through the erasure, which proves the password the same way.
        let (method, path, body) = if n % 2 == 0 {
            (
                "POST",
                "/api/auth/password",
                change_body("a wrong guess", NEW_PASSWORD),
            )
        } else {
            (
                "DELETE",
                "/api/auth/me",
                json!({"password": "a wrong guess"}),
            )
        };
        tasks.push(tokio::spawn(async move {
            call_on(&state, method, path, &token, Some(body)).await.0
        }));
    }
    let mut counts = BTreeMap::new();
    for task in tasks {
        *counts.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    println!("40 parallel wrong current passwords: {counts:?}");
    assert_eq!(counts.get(&400).copied().unwrap_or(0), 5, "{counts:?}");
    assert_eq!(counts.get(&429).copied().unwrap_or(0), 35, "{counts:?}");
    // The throttle is the login's: the right password is refused too now.
    assert_eq!(app.login(&alice.email, PASSWORD).await.status, 429);
}

async fn page(app: &TestApp, user: &TestUser, conversation: i64, query: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/api/conversations/{conversation}/messages?{query}"),
            Some(&user.access),
        )
        .await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    page.body["results"].as_array().unwrap().clone()
}

fn erased_user(id: i64) -> Value {
    json!({"id": id, "username": null, "first_name": "", "last_name": ""})
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_erased_account_is_gone_everywhere_and_its_conversations_hear_of_it(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let group = app.conversation(&alice, &[&bob, &carol]).await;
    let direct = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "direct": true}),
        )
        .await;
    assert_eq!(direct.status, 201, "{:?}", direct.body);
    let direct = direct.body["id"].as_i64().unwrap();
    for text in ["one", "two", "three"] {
        app.say(&alice, group, text).await;
    }
    app.say(&bob, group, "bob stays").await;
    app.say(&alice, direct, "just us").await;
    let before = page(app, &bob, group, "").await;
    let last_version = before
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .max()
        .unwrap();
    let mut alices_socket = stack.connect(&alice).await;
    let mut bobs_socket = stack.connect(&bob).await;

    let wrong = app
        .call(
            lambda_http::http::Method::DELETE,
            "/api/auth/me",
            Some(&alice.access),
            Some(json!({"password": "not it"})),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body["fields"]["password"].is_string(),
        "{}",
        wrong.body
    );
    let erased = app
        .call(
            lambda_http::http::Method::DELETE,
            "/api/auth/me",
            Some(&alice.access),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);

    // The account: no login, no session, no socket; email and username free.
    assert_eq!(app.login(&alice.email, PASSWORD).await.status, 401);
    assert_eq!(app.me(&alice.access).await.status, 401);
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
    assert!(
        closed(&mut alices_socket).await,
        "the erased account's socket stayed open"
    );
    let looked_up = app
        .get("/api/users?username=alice", Some(&bob.access))
        .await;
    assert_eq!(looked_up.body["results"], json!([]));
    let again = app
        .register(json!({"email": alice.email, "password": PASSWORD, "username": "alice"}))
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_ne!(again.body["user_id"], alice.id);
    // It can no longer be added anywhere.
    let invite = app
        .post(
            "/api/conversations",
            Some(&bob.access),
            json!({"participant_ids": [alice.id]}),
        )
        .await;
    assert_eq!(invite.status, 400);

    // Bob hears of both conversations and of every message.
    let mut updated = Vec::new();
    let mut deleted = Vec::new();
    while updated.len() < 2 || deleted.len() < 4 {
        let event = next_json(&mut bobs_socket).await;
        match event["type"].as_str().unwrap() {
            "conversation.updated" => {
                assert_eq!(
                    event["conversation"]["participant_count"].as_i64(),
                    Some(if event["conversation"]["id"] == group {
                        2
                    } else {
                        1
                    })
                );
                updated.push(event["conversation"]["id"].as_i64().unwrap());
            }
            "message.deleted" => {
                assert_eq!(event["message"]["sender"], erased_user(alice.id));
                assert_eq!(event["message"]["body"], Value::Null);
                deleted.push(event["message"]["id"].as_i64().unwrap());
            }
            // A fresh connection may be sent the last seconds' changes again.
            "message.created" => {}
            other => panic!("unexpected {other}: {event}"),
        }
    }
    updated.sort_unstable();
    assert_eq!(updated, [group.min(direct), group.max(direct)]);

    // The history: tombstones in place, seq untouched, each with a new version.
    let after = page(app, &bob, group, "").await;
    assert_eq!(after.len(), before.len());
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old["seq"], new["seq"]);
        if old["sender"]["id"] == alice.id {
            assert_eq!(new["sender"], erased_user(alice.id));
            assert_eq!(new["body"], Value::Null);
            assert!(new["deleted_at"].is_string());
            assert!(new["version"].as_i64().unwrap() > last_version);
        } else {
            assert_eq!(new, old);
        }
    }
    let since = page(app, &bob, group, &format!("since={last_version}")).await;
    let versions: Vec<i64> = since
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (last_version + 1..=last_version + 3).collect::<Vec<_>>()
    );
    let participants = app
        .get(
            &format!("/api/conversations/{group}/participants"),
            Some(&bob.access),
        )
        .await;
    let ids: Vec<i64> = participants.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&alice.id), "{ids:?}");
    let unfinished: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE erased_at IS NOT NULL AND erasure_finished_at IS NULL",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(unfinished, 0);
}

/// Two hundred conversations of fifty messages each, written straight into
/// the database: alice and one other member each.
async fn seed_history(app: &TestApp, author: &TestUser, reader: &TestUser) -> Vec<i64> {
    let pool = app.pool();
    let mut conversations = Vec::new();
    for _ in 0..200 {
        let id = sqlx::query(
            "INSERT INTO conversations (title, created_by, created_at, last_activity_at, last_seq, \
                                        last_version, participant_count) \
             VALUES ('history', ?, NOW(6), NOW(6), 50, 50, 2)",
        )
        .bind(author.id)
        .execute(pool)
        .await
        .unwrap()
        .last_insert_id() as i64;
        sqlx::query(
            "INSERT INTO conversation_participants (conversation_id, user_id, joined_at, last_read_seq) \
             VALUES (?, ?, NOW(6), 50), (?, ?, NOW(6), 0)",
        )
        .bind(id)
        .bind(author.id)
        .bind(id)
        .bind(reader.id)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO messages (conversation_id, sender_id, body, created_at, seq, version) \
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) \
             SELECT ?, ?, CONCAT('secret ', i), NOW(6), i, i FROM n",
        )
        .bind(id)
        .bind(author.id)
        .execute(pool)
        .await
        .unwrap();
        conversations.push(id);
    }
    conversations
}

async fn erase(app: &TestApp, user: &TestUser) -> (u16, Duration) {
    let started = Instant::now();
    let answer = app
        .call(
            lambda_http::http::Method::DELETE,
            "/api/auth/me",
            Some(&user.access),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    (answer.status, started.elapsed())
}

/// Every message of the conversations is a tombstone, `seq` is 1..=50 and
/// the versions are 51..=100, each once.
async fn assert_tombstoned(app: &TestApp, conversations: &[i64], author: i64) {
    let (live, messages, bad_seq): (i64, i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(body IS NOT NULL OR deleted_at IS NULL), 0) AS SIGNED), COUNT(*), \
                CAST(COALESCE(SUM(seq NOT BETWEEN 1 AND 50), 0) AS SIGNED) \
           FROM messages WHERE sender_id = ?",
    )
    .bind(author)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((live, messages, bad_seq), (0, 10_000, 0));
    for conversation in conversations {
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM messages WHERE conversation_id = ? ORDER BY version",
        )
        .bind(conversation)
        .fetch_all(app.pool())
        .await
        .unwrap();
        assert_eq!(versions, (51..=100).collect::<Vec<_>>());
        let (last_version, count): (i64, i32) = sqlx::query_as(
            "SELECT last_version, participant_count FROM conversations WHERE id = ?",
        )
        .bind(conversation)
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert_eq!((last_version, count), (100, 1));
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_account_with_ten_thousand_messages_in_two_hundred_conversations_is_erased_in_its_request(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversations = seed_history(&app, &alice, &bob).await;

    let (status, took) = erase(&app, &alice).await;
    println!("erased 10,000 messages in 200 conversations: 204 after {took:?}");
    assert_eq!(status, 204);
    assert!(took < app.state.config.request_deadline);
    assert_tombstoned(&app, &conversations, alice.id).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_erasure_past_its_budget_hides_everything_at_once_and_the_maintenance_run_finishes_it(
    pool: MySqlPool,
) {
    // A 300 ms deadline leaves the request 100 ms of erasure.
    let app = TestApp::with_config(pool, |config| {
        config.request_deadline = Duration::from_millis(300);
    });
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversations = seed_history(&app, &alice, &bob).await;

    let (status, took) = erase(&app, &alice).await;
    assert_eq!(status, 204);
    println!("the request answered after {took:?}");
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE sender_id = ? AND deleted_at IS NULL",
    )
    .bind(alice.id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    println!("messages left to the maintenance run: {left}");
    assert!(left > 0, "the budget did not cut the erasure short");
    // Nothing of the content is served meanwhile, in any conversation.
    for conversation in &conversations {
        for message in page(&app, &bob, *conversation, "page_size=100").await {
            assert_eq!(message["body"], Value::Null, "{message}");
            assert!(message["deleted_at"].is_string());
            assert_eq!(message["sender"], erased_user(alice.id));
        }
        let listed = app
            .get(
                &format!("/api/conversations/{conversation}"),
                Some(&bob.access),
            )
            .await;
        assert_eq!(listed.body["last_message"]["body"], Value::Null);
    }

    let mut conn = app.pool().acquire().await.unwrap();
    let finished = erasure::resume_all(&mut conn, None, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(finished, 1);
    assert_tombstoned(&app, &conversations, alice.id).await;
    // A second run finds nothing to do.
    let again = erasure::resume_all(&mut conn, None, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again, 0);
}
