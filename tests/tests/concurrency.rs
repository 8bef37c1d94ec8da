//! Races through the production pool, as several Lambda instances would run
//! them: membership changes beside sends, and sends with and without a
//! `client_id` into one conversation. No deadlock, no 5xx, counters exact.

use std::collections::HashMap;

use api_tests::{TestApp, call_on};
use serde_json::json;
use sqlx::MySqlPool;

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_adds_removes_leaves_and_sends_never_deadlock(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut others = Vec::new();
    for n in 0..8 {
        others.push(app.user(&format!("user{n}")).await);
    }
    let first: Vec<i64> = others[..4].iter().map(|u| u.id).collect();
    let created = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": first}),
        )
        .await;
    let id = created.body["id"].as_i64().unwrap();
    let states = [app.production_state(8).await, app.production_state(8).await];
    let ids: Vec<i64> = others.iter().map(|u| u.id).collect();

    let mut tasks = Vec::new();
    for round in 0..6 {
        for n in 0..8usize {
            let state = states[n % 2].clone();
            let (alice, ids) = (alice.access.clone(), ids.clone());
            let member = others[n].access.clone();
            let target = ids[(n + round) % 8];
            tasks.push(tokio::spawn(async move {
                let base = format!("/api/conversations/{id}");
                match n % 4 {
                    // Adds of overlapping sets in opposite orders.
                    0 => {
                        let mut batch = ids.clone();
                        if round % 2 == 1 {
                            batch.reverse();
                        }
                        call_on(
                            &state,
                            "POST",
                            &format!("{base}/participants"),
                            &alice,
                            Some(json!({"user_ids": batch})),
                        )
                        .await
                    }
                    // The creator removes someone.
                    1 => {
                        call_on(
                            &state,
                            "DELETE",
                            &format!("{base}/participants/{target}"),
                            &alice,
                            None,
                        )
                        .await
                    }
                    // A participant leaves.
                    2 => {
                        call_on(
                            &state,
                            "DELETE",
                            &format!("{base}/participants/{}", ids[n]),
                            &member,
                            None,
                        )
                        .await
                    }
                    // Sends beside it all.
                    _ => {
                        call_on(
                            &state,
                            "POST",
                            &format!("{base}/messages"),
                            &alice,
                            Some(json!({"body": format!("r{round}")})),
                        )
                        .await
                    }
                }
            }));
        }
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!([200, 201, 204, 404].contains(&status), "{status}: {body}");
        *statuses.entry(status).or_default() += 1;
    }
    println!("statuses: {statuses:?}");
    let (count, rows): (i32, i64) = sqlx::query_as(
        "SELECT c.participant_count, (SELECT COUNT(*) FROM conversation_participants p WHERE p.conversation_id = c.id) \
         FROM conversations c WHERE c.id = ?",
    )
    .bind(id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(i64::from(count), rows);
    let shown = app
        .get(&format!("/api/conversations/{id}"), Some(&alice.access))
        .await;
    assert_eq!(shown.body["participant_count"], rows);
    assert_eq!(shown.body["last_seq"], 12);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_sends_with_and_without_client_ids_store_each_once_in_order(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    let states = [
        app.production_state(16).await,
        app.production_state(16).await,
    ];
    let mut tasks = Vec::new();
    for n in 0..48usize {
        let state = states[n % 2].clone();
        let token = if n % 3 == 0 {
            bob.access.clone()
        } else {
            alice.access.clone()
        };
        // A third without client_id; the rest share eight keys, each sent
        // several times at once (retries racing each other).
        let body = if n % 3 == 0 {
            json!({"body": format!("plain {n}")})
        } else {
            json!({"body": format!("keyed {}", n % 8), "client_id": format!("k{}", n % 8)})
        };
        tasks.push(tokio::spawn(async move {
            call_on(
                &state,
                "POST",
                &format!("/api/conversations/{id}/messages"),
                &token,
                Some(body),
            )
            .await
        }));
    }
    let mut keyed: HashMap<String, Vec<i64>> = HashMap::new();
    let mut plain = 0;
    for task in tasks {
        let (status, message) = task.await.unwrap();
        assert!(status == 201 || status == 200, "{status}: {message}");
        match message["client_id"].as_str() {
            Some(key) => keyed
                .entry(key.to_string())
                .or_default()
                .push(message["id"].as_i64().unwrap()),
            None => plain += 1,
        }
    }
    assert_eq!(plain, 16);
    assert_eq!(keyed.len(), 8);
    // Every answer for one key names the one stored message.
    for ids in keyed.values() {
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }
    let stored: Vec<(i64,)> =
        sqlx::query_as("SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 24);
    assert_eq!(
        stored.into_iter().map(|(s,)| s).collect::<Vec<_>>(),
        (1..=24).collect::<Vec<i64>>()
    );
}

/// The send_message procedure rolls its transaction back on any error, so a
/// send that fails after taking the conversation's lock (here: a lock wait
/// that runs out on the replied-to message, held by another transaction)
/// leaves neither the lock nor its half-made message behind, even on a
/// server that keeps the transaction open after a lock-wait timeout.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_that_fails_inside_the_procedure_releases_the_conversation(pool: MySqlPool) {
    use shared::domain::MessageBody;
    use shared::rate_limit::Limit;
    use shared::store::messages::{self, Draft};
    use shared::store::users::find_signed_in;
    use shared::time::now;
    use sqlx::Connection;

    let config = api_tests::test_config(std::env::temp_dir().join("unused.log"));
    let counted = || Limit::Changes.use_at(&config, now());

    let app = TestApp::new(pool.clone());
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let first = app.say(&alice, id, "first").await;

    let mut holder = pool.acquire().await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM messages WHERE id = ? FOR UPDATE")
        .bind(first)
        .execute(&mut *held)
        .await
        .unwrap();

    let mut failing = pool.acquire().await.unwrap();
    sqlx::query("SET SESSION innodb_lock_wait_timeout = 1")
        .execute(&mut *failing)
        .await
        .unwrap();
    let sender = find_signed_in(&mut failing, bob.id, None)
        .await
        .unwrap()
        .unwrap();
    let body = MessageBody::parse("a reply that waits".into()).unwrap();
    let draft = Draft {
        reply_to: Some(first),
        ..Draft::new(&body)
    };
    let failed = messages::send(&mut failing, id, &sender, draft, counted(), now()).await;
    let err = failed
        .err()
        .expect("the reply's count waits past the timeout");
    assert!(err.to_string().contains("Lock wait timeout"), "{err}");
    held.rollback().await.unwrap();

    // Another send of the conversation, waiting at most a second for its
    // lock, goes through at once; the failed reply left nothing behind.
    let mut other = pool.acquire().await.unwrap();
    sqlx::query("SET SESSION innodb_lock_wait_timeout = 1")
        .execute(&mut *other)
        .await
        .unwrap();
    let body = MessageBody::parse("after".into()).unwrap();
    let sent = messages::send(&mut other, id, &sender, Draft::new(&body), counted(), now())
        .await
        .unwrap();
    assert!(matches!(sent, messages::Sent::Created { .. }));
    let (stored, reply_count): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM messages WHERE conversation_id = ?), \
                (SELECT reply_count FROM messages WHERE id = ?)",
    )
    .bind(id)
    .bind(first)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((stored, reply_count), (2, 0));
    // The failed connection is usable and outside any transaction: what it
    // sends now is seen by others.
    let body = MessageBody::parse("again".into()).unwrap();
    messages::send(
        &mut failing,
        id,
        &sender,
        Draft::new(&body),
        counted(),
        now(),
    )
    .await
    .unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = ?")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 3);
}

/// A send waiting for its conversation's lock holds nothing of its sender's:
/// the same user's send into another conversation goes through meanwhile
/// (the rate limit's count is committed before the send's transaction).
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_waiting_in_one_conversation_does_not_hold_the_senders_others(pool: MySqlPool) {
    use sqlx::Connection;
    use std::time::{Duration, Instant};

    let app = TestApp::new(pool.clone());
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let busy = app.conversation(&alice, &[&bob]).await;
    let other = app.conversation(&alice, &[]).await;
    let state = app.production_state(4).await;

    let mut holder = pool.acquire().await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM conversations WHERE id = ? FOR UPDATE")
        .bind(busy)
        .execute(&mut *held)
        .await
        .unwrap();
    let waiting = {
        let (state, token) = (state.clone(), alice.access.clone());
        tokio::spawn(async move {
            let path = format!("/api/conversations/{busy}/messages");
            call_on(
                &state,
                "POST",
                &path,
                &token,
                Some(json!({"body": "waits"})),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the send waits for the held lock");
    let started = Instant::now();
    let (status, _) = call_on(
        &state,
        "POST",
        &format!("/api/conversations/{other}/messages"),
        &alice.access,
        Some(json!({"body": "meanwhile"})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the other send waited {:?}",
        started.elapsed()
    );
    held.rollback().await.unwrap();
    assert_eq!(waiting.await.unwrap().0, 201);
}

/// Every test's application runs on the pool the functions build, so its
/// sessions read committed rows inside a transaction, as in production
/// (REPEATABLE READ, the server's default, would keep the first snapshot).
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_test_application_runs_at_read_committed_as_the_functions_do(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let mut tx = app.pool().begin().await.unwrap();
    let count = "SELECT COUNT(*) FROM users";
    let before: i64 = sqlx::query_scalar(count).fetch_one(&mut *tx).await.unwrap();
    app.user("alice").await;
    let after: i64 = sqlx::query_scalar(count).fetch_one(&mut *tx).await.unwrap();
    assert_eq!(after, before + 1, "the transaction kept its first snapshot");
    tx.rollback().await.unwrap();
}
