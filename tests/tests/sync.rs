//! The sync model: gap-free `seq` and `version` in commit order, read
//! markers and unread counts, edits and tombstones, direct conversations and
//! the participant cap, each against the real database.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use api_tests::{TestApp, TestUser, call_on, count_statements};
use serde_json::{Value, json};
use shared::AppState;
use sqlx::MySqlPool;

async fn pair(app: &TestApp) -> (TestUser, TestUser, i64) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    (alice, bob, id)
}

fn results(page: &Value) -> &Vec<Value> {
    page["results"].as_array().expect("results")
}

/// Walks `?after=` (or `?since=`) forward from `from` until the end, following
/// cursors; returns the messages seen.
async fn poll(state: &AppState, token: &str, id: i64, mode: &str, from: i64) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut query = format!("?{mode}={from}&page_size=100");
    loop {
        let (status, page) = call_on(
            state,
            "GET",
            &format!("/api/conversations/{id}/messages{query}"),
            token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        seen.extend(results(&page).iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?cursor={cursor}&page_size=100"),
            None => return seen,
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_senders_editors_and_pollers_see_every_change_once_without_gaps(
    pool: MySqlPool,
) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, bob, id) = pair(&app).await;
    let state = app.production_state(32).await;
    let poll_state = app.production_state(4).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Two pollers run throughout: one by seq, one by version.
    let poller = |mode: &'static str| {
        let (state, done) = (poll_state.clone(), Arc::clone(&done));
        let token = bob.access.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut seen: Vec<Value> = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let key = if mode == "after" { "seq" } else { "version" };
                for message in poll(&state, &token, id, mode, last).await {
                    let position = message[key].as_i64().unwrap();
                    assert!(position > last, "{mode}: {position} after {last}");
                    last = position;
                    seen.push(message);
                }
                if finished {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let by_seq = poller("after");
    let by_version = poller("since");

    let senders = 32;
    let per_sender = 8;
    let mut tasks = Vec::new();
    for n in 0..senders {
        let state = state.clone();
        let token = if n % 2 == 0 {
            alice.access.clone()
        } else {
            bob.access.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut changes = 0;
            for m in 0..per_sender {
                let path = format!("/api/conversations/{id}/messages");
                let (status, message) = call_on(
                    &state,
                    "POST",
                    &path,
                    &token,
                    Some(json!({"body": format!("{n}-{m}")})),
                )
                .await;
                assert_eq!(status, 201, "{message}");
                changes += 1;
                let one = format!("{path}/{}", message["id"]);
                // Every third message is edited, every fifth deleted.
                if m % 3 == 0 {
                    let edit = Some(json!({"body": format!("{n}-{m} edited")}));
                    let (status, _) = call_on(&state, "PATCH", &one, &token, edit).await;
                    assert_eq!(status, 200);
                    changes += 1;
                }
                if m % 5 == 0 {
                    let (status, _) = call_on(&state, "DELETE", &one, &token, None).await;
                    assert_eq!(status, 204);
                    changes += 1;
                }
            }
            changes
        }));
    }
    let mut changes = 0;
    for task in tasks {
        changes += task.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let by_seq = by_seq.await.unwrap();
    let by_version = by_version.await.unwrap();

    let sent = senders * per_sender;
    // The seq poller saw every message exactly once, as 1, 2, 3, ...
    let seqs: Vec<i64> = by_seq.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=sent).collect::<Vec<i64>>());
    // The version poller ends with every message in its final state.
    let mut latest: BTreeMap<i64, Value> = BTreeMap::new();
    for message in &by_version {
        latest.insert(message["id"].as_i64().unwrap(), message.clone());
    }
    assert_eq!(latest.len() as i64, sent);
    let (status, final_state) = call_on(
        &state,
        "GET",
        &format!("/api/conversations/{id}/messages?since=0&page_size=100"),
        &alice.access,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let everything = poll(&state, &alice.access, id, "since", 0).await;
    for message in &everything {
        assert_eq!(&latest[&message["id"].as_i64().unwrap()], message);
    }
    assert!(!results(&final_state).is_empty());
    // Versions: one per change, no gaps, no repeats.
    let conversation = app
        .get(&format!("/api/conversations/{id}"), Some(&alice.access))
        .await;
    assert_eq!(conversation.body["last_seq"], sent);
    assert_eq!(conversation.body["last_version"], changes);
    let versions: HashSet<i64> = everything
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions.len() as i64, sent);
    assert!(versions.iter().all(|v| (1..=changes).contains(v)));
    let stored: Vec<(i64,)> =
        sqlx::query_as("SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq")
            .bind(id)
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(
        stored.into_iter().map(|(s,)| s).collect::<Vec<_>>(),
        (1..=sent).collect::<Vec<_>>()
    );
    println!(
        "sent {sent}, changes {changes}; seen by seq {}, by version {} (distinct {}); gaps 0",
        by_seq.len(),
        by_version.len(),
        latest.len()
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_whose_transaction_commits_last_is_never_skipped(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, bob, id) = pair(&app).await;
    let carol = app.user("carol").await;
    let added = app
        .post(
            &format!("/api/conversations/{id}/participants"),
            Some(&alice.access),
            json!({"user_ids": [carol.id]}),
        )
        .await;
    assert_eq!(added.status, 200);
    let state = app.production_state(8).await;

    // Hold Alice's participant row: her send takes the conversation's next
    // seq, inserts, and then waits with its transaction open.
    let mut holder = app.pool().begin().await.unwrap();
    sqlx::query(
        "SELECT * FROM conversation_participants WHERE conversation_id = ? AND user_id = ? FOR UPDATE",
    )
    .bind(id)
    .bind(alice.id)
    .fetch_all(&mut *holder)
    .await
    .unwrap();
    let path = format!("/api/conversations/{id}/messages");
    let slow = {
        let (state, path) = (state.clone(), path.clone());
        let token = alice.access.clone();
        tokio::spawn(async move {
            call_on(&state, "POST", &path, &token, Some(json!({"body": "slow"}))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Carol sends meanwhile: she cannot commit ahead of Alice's open send.
    let fast = {
        let (state, path) = (state.clone(), path.clone());
        let token = carol.access.clone();
        tokio::spawn(async move {
            call_on(&state, "POST", &path, &token, Some(json!({"body": "fast"}))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = poll(&state, &bob.access, id, "after", 0).await;
    assert!(
        during.is_empty(),
        "nothing is visible before the first commit: {during:?}"
    );
    assert!(
        !fast.is_finished(),
        "a later send committed before an earlier one"
    );
    holder.rollback().await.unwrap();

    let (slow_status, slow) = slow.await.unwrap();
    let (fast_status, fast) = fast.await.unwrap();
    assert_eq!((slow_status, fast_status), (201, 201));
    assert_eq!(
        (slow["seq"].as_i64(), fast["seq"].as_i64()),
        (Some(1), Some(2))
    );
    let after = poll(&state, &bob.access, id, "after", 0).await;
    let bodies: Vec<&str> = after.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["slow", "fast"]);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn unread_counts_follow_markers_sends_and_joins(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    for n in 0..5 {
        app.say(&alice, id, &format!("m{n}")).await;
    }
    let seen_by = |who: &TestUser| {
        let token = who.access.clone();
        let app = &app;
        async move {
            app.get(&format!("/api/conversations/{id}"), Some(&token))
                .await
                .body
        }
    };
    let for_bob = seen_by(&bob).await;
    assert_eq!(
        (
            &for_bob["last_seq"],
            &for_bob["last_read_seq"],
            &for_bob["unread_count"]
        ),
        (&json!(5), &json!(0), &json!(5))
    );
    // Sending moves the sender's own marker: her messages are never unread.
    let for_alice = seen_by(&alice).await;
    assert_eq!(
        (&for_alice["last_read_seq"], &for_alice["unread_count"]),
        (&json!(5), &json!(0))
    );
    let read_path = format!("/api/conversations/{id}/read");
    let read = |seq: Value| app.post(&read_path, Some(&bob.access), json!({"seq": seq}));
    let marked = read(json!(3)).await;
    assert_eq!(marked.status, 200);
    assert_eq!(
        marked.body,
        json!({"conversation_id": id, "last_read_seq": 3, "unread_count": 2})
    );
    // Markers only move forward.
    let back = read(json!(1)).await;
    assert_eq!(back.body["last_read_seq"], 3);
    assert_eq!(seen_by(&bob).await["unread_count"], 2);
    // Past the end, or not a whole number from 0: a 400 naming the field.
    for bad in [
        json!(6),
        json!(-1),
        json!(1.5),
        json!("3"),
        json!(null),
        json!(1e30),
    ] {
        let response = read(bad.clone()).await;
        assert_eq!(response.status, 400, "{bad}");
        assert!(response.body["fields"]["seq"].is_string(), "{bad}");
    }
    // Deleted messages still count as unread.
    let last = app
        .send_message(&alice, id, json!({"body": "soon gone"}))
        .await;
    app.delete(
        &format!("/api/conversations/{id}/messages/{}", last.body["id"]),
        Some(&alice.access),
    )
    .await;
    assert_eq!(seen_by(&bob).await["unread_count"], 3);
    // A newcomer starts at last_seq: history is not unread.
    let carol = app.user("carol").await;
    app.post(
        &format!("/api/conversations/{id}/participants"),
        Some(&alice.access),
        json!({"user_ids": [carol.id]}),
    )
    .await;
    let for_carol = seen_by(&carol).await;
    assert_eq!(
        (&for_carol["last_read_seq"], &for_carol["unread_count"]),
        (&json!(6), &json!(0))
    );
    // The total over all of Bob's conversations.
    let other = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, other, "elsewhere").await;
    app.conversation(&alice, &[&bob]).await;
    let totals = app
        .get("/api/conversations/unread", Some(&bob.access))
        .await;
    assert_eq!(totals.status, 200);
    assert_eq!(totals.body, json!({"unread_count": 4, "conversations": 2}));
    let (_, statements) =
        count_statements(app.get("/api/conversations/unread", Some(&bob.access))).await;
    assert_eq!(statements, 2);
    // Authentication, the marker's read and move, the event queued for the
    // reader's open connections and the receipt queued for the others'.
    let (_, statements) = count_statements(read(json!(6))).await;
    assert_eq!(statements, 5);
    // Not a participant: 404.
    let stranger = app.user("stranger").await;
    let hidden = app
        .post(
            &format!("/api/conversations/{id}/read"),
            Some(&stranger.access),
            json!({"seq": 0}),
        )
        .await;
    assert_eq!(hidden.status, 404);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn only_the_sender_edits_or_deletes_and_a_tombstone_stays(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let sent = app
        .send_message(&alice, id, json!({"body": "first", "client_id": "c1"}))
        .await;
    let message_id = sent.body["id"].as_i64().unwrap();
    let one = format!("/api/conversations/{id}/messages/{message_id}");
    let edit = |who: &'static str, body: Value| {
        let token = if who == "alice" {
            alice.access.clone()
        } else {
            bob.access.clone()
        };
        let (app, one) = (&app, one.clone());
        async move { app.patch(&one, Some(&token), body).await }
    };

    let refused = edit("bob", json!({"body": "not mine"})).await;
    assert_eq!(refused.status, 403);
    assert_eq!(app.delete(&one, Some(&bob.access)).await.status, 403);

    let (edited, statements) = count_statements(edit("alice", json!({"body": "second"}))).await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    assert_eq!(edited.body["body"], "second");
    assert_eq!(edited.body["seq"], 1);
    assert_eq!(edited.body["version"], 2);
    assert!(edited.body["edited_at"].is_string());
    assert_eq!(edited.body["deleted_at"], Value::Null);
    println!("edit: {statements} statements");
    // With the rate limit's count and the membership read before the lock.
    assert_eq!(statements, 9);

    for blank in [json!({"body": "   "}), json!({}), json!({"body": 5})] {
        let response = edit("alice", blank.clone()).await;
        assert_eq!(response.status, 400, "{blank}");
    }
    assert!(edit("alice", json!({"body": " "})).await.body["fields"]["body"].is_string());

    let (deleted, statements) = count_statements(app.delete(&one, Some(&alice.access))).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(statements, 9);
    let page = app.messages(&bob, id, "").await;
    let tombstone = &results(&page.body)[0];
    assert_eq!(tombstone["body"], Value::Null);
    assert_eq!(tombstone["seq"], 1);
    assert_eq!(tombstone["version"], 3);
    assert_eq!(tombstone["client_id"], "c1");
    assert!(tombstone["deleted_at"].is_string());

    // Deleting again changes nothing; editing a tombstone is a conflict.
    assert_eq!(app.delete(&one, Some(&alice.access)).await.status, 204);
    let conversation = app
        .get(&format!("/api/conversations/{id}"), Some(&alice.access))
        .await;
    assert_eq!(conversation.body["last_version"], 3);
    assert_eq!(conversation.body["last_message"]["body"], Value::Null);
    assert_eq!(edit("alice", json!({"body": "back"})).await.status, 409);

    // Another conversation's message, a stranger, a missing id: 404.
    let other = app.conversation(&alice, &[&bob]).await;
    let elsewhere = format!("/api/conversations/{other}/messages/{message_id}");
    assert_eq!(
        app.delete(&elsewhere, Some(&alice.access)).await.status,
        404
    );
    let stranger = app.user("stranger").await;
    let hidden = app
        .patch(&one, Some(&stranger.access), json!({"body": "x"}))
        .await;
    assert_eq!(hidden.status, 404);
    assert_eq!(
        app.delete(
            &format!("/api/conversations/{id}/messages/999999"),
            Some(&alice.access)
        )
        .await
        .status,
        404
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn polling_since_a_version_returns_each_changed_message_once(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    let first = app.say(&alice, id, "one").await;
    app.say(&alice, id, "two").await;
    let seen = app.messages(&bob, id, "?since=0").await;
    let up_to = results(&seen.body).last().unwrap()["version"]
        .as_i64()
        .unwrap();
    assert_eq!(up_to, 2);
    let one = format!("/api/conversations/{id}/messages/{first}");
    app.call(
        lambda_http::http::Method::PATCH,
        &one,
        Some(&alice.access),
        Some(json!({"body": "one, edited"})),
    )
    .await;
    app.call(
        lambda_http::http::Method::PATCH,
        &one,
        Some(&alice.access),
        Some(json!({"body": "one, edited twice"})),
    )
    .await;
    let changed = app.messages(&bob, id, &format!("?since={up_to}")).await;
    let changed = results(&changed.body);
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["body"], "one, edited twice");
    assert_eq!(changed[0]["version"], 4);
    let nothing = app.messages(&bob, id, "?since=4").await;
    assert!(results(&nothing.body).is_empty());
    assert_eq!(nothing.body["next_cursor"], Value::Null);
    // An empty page costs the membership check the page's condition made
    // unnecessary otherwise.
    let (_, statements) = count_statements(app.messages(&bob, id, "?since=4")).await;
    assert_eq!(statements, 3);
    let (_, statements) = count_statements(app.messages(&bob, id, "?since=3")).await;
    assert_eq!(statements, 2);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn sixteen_concurrent_opens_of_a_direct_conversation_make_one(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let state = app.production_state(16).await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let state = state.clone();
        let (token, other) = if n % 2 == 0 {
            (alice.access.clone(), bob.id)
        } else {
            (bob.access.clone(), alice.id)
        };
        tasks.push(tokio::spawn(async move {
            call_on(
                &state,
                "POST",
                "/api/conversations",
                &token,
                Some(json!({"participant_ids": [other], "direct": true})),
            )
            .await
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(status == 201 || status == 200, "{status} {body}");
        created += usize::from(status == 201);
        assert_eq!(body["direct"], true);
        assert_eq!(body["participant_count"], 2);
        ids.insert(body["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
    let id = *ids.iter().next().unwrap();

    // A leaver who reopens it takes part again; the other keeps their marker.
    app.say(&alice, id, "hello").await;
    let left = app
        .delete(
            &format!("/api/conversations/{id}/participants/{}", bob.id),
            Some(&bob.access),
        )
        .await;
    assert_eq!(left.status, 204);
    app.say(&alice, id, "are you there?").await;
    let reopened = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "direct": true}),
        )
        .await;
    assert_eq!(reopened.status, 200);
    assert_eq!(reopened.body["id"], id);
    assert_eq!(reopened.body["participant_count"], 2);
    assert_eq!(reopened.body["last_read_seq"], 2);
    let for_bob = app
        .get(&format!("/api/conversations/{id}"), Some(&bob.access))
        .await;
    assert_eq!(for_bob.status, 200);
    assert_eq!(for_bob.body["unread_count"], 0);

    // No one else can join it.
    let carol = app.user("carol").await;
    let added = app
        .post(
            &format!("/api/conversations/{id}/participants"),
            Some(&alice.access),
            json!({"user_ids": [carol.id]}),
        )
        .await;
    assert_eq!(added.status, 409);

    // Notes to self: the caller alone, once.
    let notes = app
        .post(
            "/api/conversations",
            Some(&carol.access),
            json!({"participant_ids": [carol.id], "direct": true}),
        )
        .await;
    assert_eq!(notes.status, 201);
    assert_eq!(notes.body["participant_count"], 1);
    let again = app
        .post(
            "/api/conversations",
            Some(&carol.access),
            json!({"participant_ids": [carol.id], "direct": true}),
        )
        .await;
    assert_eq!((again.status, &again.body["id"]), (200, &notes.body["id"]));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn bad_sync_input_is_a_400_naming_the_field(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, id) = pair(&app).await;
    for (body, field) in [
        (
            json!({"participant_ids": [bob.id], "direct": "yes"}),
            "direct",
        ),
        (json!({"participant_ids": [bob.id], "direct": 1}), "direct"),
        (
            json!({"participant_ids": [bob.id], "direct": true, "title": "x"}),
            "title",
        ),
        (
            json!({"participant_ids": [bob.id, alice.id], "direct": true}),
            "participant_ids",
        ),
    ] {
        let response = app
            .post("/api/conversations", Some(&alice.access), body.clone())
            .await;
        assert_eq!(response.status, 400, "{body}");
        assert!(
            response.body["fields"][field].is_string(),
            "{body}: {:?}",
            response.body
        );
    }
    for (query, field) in [
        ("?since=-1", "since"),
        ("?since=abc", "since"),
        ("?after=x", "after"),
        ("?after=99999999999999999999", "after"),
        ("?after=1&since=1", "since"),
    ] {
        let response = app.messages(&alice, id, query).await;
        assert_eq!(response.status, 400, "{query}");
        assert!(
            response.body["fields"][field].is_string(),
            "{query}: {:?}",
            response.body
        );
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn participants_are_capped_inline_and_paged(pool: MySqlPool) {
    let app = Arc::new(TestApp::new(pool));
    let alice = app.user("alice").await;
    // Users straight into the table: 1,100 registrations would hash 1,100 passwords.
    sqlx::query(
        "INSERT INTO users (email, username, password_hash, created_at) \
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
         SELECT CONCAT('u', i * 2 + k, '@example.org'), CONCAT('u', i * 2 + k), 'x', NOW(6) \
         FROM n CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1) two WHERE i * 2 + k <= 1100",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let others: Vec<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id <> ? ORDER BY id")
        .bind(alice.id)
        .fetch_all(app.pool())
        .await
        .unwrap();
    let others: Vec<i64> = others.into_iter().map(|(id,)| id).collect();
    let created = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": others[..99]}),
        )
        .await;
    let id = created.body["id"].as_i64().unwrap();

    // Ten concurrent adds of 100 each from two instances: 100 + 1,000 asked,
    // 1,000 allowed, so exactly one add is refused whole.
    let states = [app.production_state(8).await, app.production_state(8).await];
    let mut tasks = Vec::new();
    for n in 0..10 {
        let state = states[n % 2].clone();
        let batch: Vec<i64> = others[99 + n * 100..199 + n * 100].to_vec();
        let token = alice.access.clone();
        tasks.push(tokio::spawn(async move {
            call_on(
                &state,
                "POST",
                &format!("/api/conversations/{id}/participants"),
                &token,
                Some(json!({"user_ids": batch})),
            )
            .await
            .0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 409]);
    let stored: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM conversation_participants WHERE conversation_id = ?")
            .bind(id)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(stored.0, 1000);

    let shown = app
        .get(&format!("/api/conversations/{id}"), Some(&alice.access))
        .await;
    assert_eq!(shown.body["participant_count"], 1000);
    let inline = shown.body["participants"].as_array().unwrap();
    assert_eq!(inline.len(), 100);
    let inline_ids: Vec<i64> = inline.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert!(inline_ids.windows(2).all(|w| w[0] < w[1]));

    // The full list, paged by user id, exactly once each.
    let mut everyone = Vec::new();
    let mut query = "?page_size=100".to_string();
    loop {
        let page = app
            .get(
                &format!("/api/conversations/{id}/participants{query}"),
                Some(&alice.access),
            )
            .await;
        assert_eq!(page.status, 200);
        everyone.extend(
            results(&page.body)
                .iter()
                .map(|u| u["id"].as_i64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?page_size=100&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(everyone.len(), 1000);
    assert!(everyone.windows(2).all(|w| w[0] < w[1]));
    assert!(everyone.contains(&alice.id));

    // A send writes the same rows whatever the number of participants: no
    // participant row but the sender's changes.
    let snapshot = || async {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, last_read_seq FROM conversation_participants \
             WHERE conversation_id = ? AND user_id <> ? ORDER BY user_id",
        )
        .bind(id)
        .bind(alice.id)
        .fetch_all(app.pool())
        .await
        .unwrap();
        rows
    };
    let before = snapshot().await;
    let (sent, statements) =
        count_statements(app.send_message(&alice, id, json!({"body": "all"}))).await;
    assert_eq!(sent.status, 201);
    // Authentication and the send_message procedure, whatever the size.
    assert_eq!(statements, 2);
    assert_eq!(snapshot().await, before);

    // A stranger cannot list them.
    let stranger = app.user("stranger").await;
    let hidden = app
        .get(
            &format!("/api/conversations/{id}/participants"),
            Some(&stranger.access),
        )
        .await;
    assert_eq!(hidden.status, 404);
}
