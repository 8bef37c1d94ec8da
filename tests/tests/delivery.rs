//! Delivery as a pipeline of its own, through the real binaries: a change
//! answers without waiting for its fan-out, fresh connections are never
//! forgotten, a removal is final once it answered, a connection that catches
//! up before a change commits still gets it pushed, and a large group's
//! connections are split over shards that keep each connection's order.

use std::time::{Duration, Instant};

use api_tests::TestUser;
use api_tests::websocket::{Socket, Stack, closed, eventually, next_json, send_text};
use futures_util::StreamExt;
use serde_json::json;
use sqlx::{Connection, MySqlPool};
use tokio_tungstenite::tungstenite::Message;

/// Every text frame that arrives within `wait`.
async fn drain(socket: &mut Socket, wait: Duration) -> Vec<serde_json::Value> {
    let mut frames = Vec::new();
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(wait, socket.next()).await {
        if let Message::Text(text) = frame {
            frames.push(serde_json::from_str(text.as_str()).expect("JSON"));
        }
    }
    frames
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_connection_posted_to_inside_its_handshake_is_not_forgotten(pool: MySqlPool) {
    // Every handshake takes 1.5 s between `$connect`'s answer and the open
    // socket, and a post meanwhile answers 410, as API Gateway's does.
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.handshake_time = Duration::from_millis(1500);
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;

    let url = stack.ticket_url(&bob).await;
    let opening = tokio::spawn(tokio_tungstenite::connect_async(url));
    eventually("bob's $connect stored the connection", || async {
        !stack.connections_of(bob.id).await.is_empty()
    })
    .await;
    // Inside the handshake: the fan-out's post to bob answers 410.
    app.say(&alice, conversation, "inside the handshake").await;
    let (mut socket, _) = opening.await.unwrap().expect("the handshake succeeded");
    assert_eq!(
        stack.connections_of(bob.id).await.len(),
        1,
        "a 410 inside the handshake forgot the connection"
    );
    // The socket opened after that change: the client catches up by version,
    // and the socket carries every change from here on.
    app.say(&alice, conversation, "after the handshake").await;
    let event = loop {
        let event = next_json(&mut socket).await;
        if event["message"]["body"] == "after the handshake" {
            break event;
        }
    };
    assert_eq!(event["type"], "message.created");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_answers_without_waiting_for_its_fan_out(pool: MySqlPool) {
    // Each post to a connection takes a second: delivering one send to
    // eight connections one after another would take 8 s.
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.post_time = Duration::from_secs(1);
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let mut members = Vec::new();
    for i in 0..7 {
        members.push(app.user(&format!("member{i}")).await);
    }
    let others: Vec<&TestUser> = members.iter().collect();
    let conversation = app.conversation(&alice, &others).await;
    let mut sockets = vec![stack.connect(&alice).await];
    for member in &members {
        sockets.push(stack.connect(member).await);
    }

    let started = Instant::now();
    let sent = app
        .send_message(&alice, conversation, json!({"body": "fast"}))
        .await;
    let answered = started.elapsed();
    assert_eq!(sent.status, 201);
    assert!(
        answered < Duration::from_secs(1),
        "the send waited for delivery: {answered:?}"
    );
    for socket in &mut sockets {
        let event = next_json(socket).await;
        assert_eq!(event["message"]["body"], "fast");
    }
    // The posts ran concurrently: well under eight posts' time.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_pass_has_at_most_its_bound_of_posts_in_flight(pool: MySqlPool) {
    // Eight connections, 200 ms a post, two posts at a time: four rounds.
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.post_time = Duration::from_millis(200);
        settings.posts_in_flight = 2;
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(stack.connect(&alice).await);
        sockets.push(stack.connect(&bob).await);
    }
    let started = Instant::now();
    app.say(&alice, conversation, "bounded").await;
    for socket in &mut sockets {
        assert_eq!(next_json(socket).await["message"]["body"], "bounded");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "eight posts of 200 ms two at a time took {took:?}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_removed_user_receives_nothing_once_the_removal_answered(pool: MySqlPool) {
    // Slow posts keep a pass in flight while the removal runs.
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.post_time = Duration::from_millis(400);
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let conversation = app.conversation(&alice, &[&bob, &carol]).await;
    let mut bobs = stack.connect(&bob).await;
    let _carols = stack.connect(&carol).await;

    app.say(&alice, conversation, "one").await;
    // Let the pass read its recipients (bob among them) and start posting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let removed = app
        .delete(
            &format!("/api/conversations/{conversation}/participants/{}", bob.id),
            Some(&alice.access),
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    // Whatever reached bob before the answer is in his socket already.
    let before = drain(&mut bobs, Duration::from_millis(50)).await;
    app.say(&alice, conversation, "two").await;
    let after = drain(&mut bobs, Duration::from_millis(2500)).await;
    let messages_after: Vec<_> = after
        .iter()
        .filter(|event| event["type"] != "conversation.left")
        .collect();
    assert!(
        messages_after.is_empty(),
        "after the removal answered bob received {messages_after:?} (before: {before:?})"
    );
    assert!(
        before
            .iter()
            .chain(&after)
            .any(|e| e["type"] == "conversation.left"),
        "{before:?} {after:?}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_client_that_catches_up_before_a_change_commits_still_gets_it_pushed(pool: MySqlPool) {
    let stack = Stack::start(pool.clone()).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;

    // Another transaction holds the conversation's row: alice's send waits
    // for it while nobody is connected.
    let mut holder = pool.acquire().await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM conversations WHERE id = ? FOR UPDATE")
        .bind(conversation)
        .fetch_one(&mut *held)
        .await
        .unwrap();
    let state = app.state.clone();
    let token = alice.access.clone();
    let sending = tokio::spawn(async move {
        api_tests::call_on(
            &state,
            "POST",
            &format!("/api/conversations/{conversation}/messages"),
            &token,
            Some(json!({"body": "committed after bob caught up"})),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Bob connects and catches up: nothing new yet.
    let mut socket = stack.connect(&bob).await;
    let caught_up = app.messages(&bob, conversation, "?since=0").await;
    assert_eq!(caught_up.body["results"], json!([]));

    held.rollback().await.unwrap();
    let (status, _) = sending.await.unwrap();
    assert_eq!(status, 201);
    let event = next_json(&mut socket).await;
    assert_eq!(event["message"]["body"], "committed after bob caught up");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn reopening_a_direct_conversation_tells_the_user_it_brings_back(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let open = || {
        app.post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "direct": true}),
        )
    };
    let id = open().await.body["id"].as_i64().unwrap();
    let left = app
        .delete(
            &format!("/api/conversations/{id}/participants/{}", bob.id),
            Some(&bob.access),
        )
        .await;
    assert_eq!(left.status, 204);
    let mut bobs = stack.connect(&bob).await;

    assert_eq!(open().await.status, 200);
    let event = next_json(&mut bobs).await;
    assert_eq!(event["type"], "conversation.joined", "{event}");
    assert_eq!(event["conversation"]["id"], id);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_large_group_is_split_over_shards_and_every_connection_keeps_its_order(pool: MySqlPool) {
    // Two participants per shard: eight users make four shards, each polled
    // by one of three fan-out instances.
    let stack = Stack::start_with(pool, |settings| {
        settings.users_per_shard = 2;
        settings.fanout_instances = 3;
    })
    .await;
    let app = &stack.app;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.user(&format!("user{i}")).await);
    }
    let others: Vec<&TestUser> = users[1..].iter().collect();
    let conversation = app.conversation(&users[0], &others).await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(stack.connect(user).await);
        sockets.push(stack.connect(user).await);
    }

    const SENDS: i64 = 12;
    let senders: Vec<&TestUser> = users.iter().take(4).collect();
    app.send_concurrently(&senders, conversation, SENDS as usize / 4)
        .await;

    for socket in &mut sockets {
        let mut versions = Vec::new();
        while versions.len() < SENDS as usize {
            let event = next_json(socket).await;
            if event["type"] == "message.created" {
                versions.push(event["version"].as_i64().unwrap());
            }
        }
        assert_eq!(versions, (1..=SENDS).collect::<Vec<_>>());
    }
    let shards: Vec<i64> = sqlx::query_scalar(
        "SELECT shard FROM delivery_cursors WHERE conversation_id = ? ORDER BY shard",
    )
    .bind(conversation)
    .fetch_all(app.pool())
    .await
    .unwrap();
    assert_eq!(shards, [0, 1, 2, 3]);
}

/// A change whose nudge never reached the queue is pushed all the same, by
/// the sweep, not only with the conversation's next change.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_change_whose_nudge_was_lost_is_pushed_by_the_sweep(pool: MySqlPool) {
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.sweep_interval = Some(Duration::from_millis(500));
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut bobs = stack.connect(&bob).await;
    app.say(&alice, conversation, "first").await;
    assert_eq!(next_json(&mut bobs).await["message"]["body"], "first");

    // This instance nudges a queue that does not exist: the nudge is lost.
    let lost = app
        .state
        .clone()
        .with_delivery(api_tests::websocket::delivery_queue(
            stack.gateway,
            "nowhere.fifo",
        ));
    let (status, _) = api_tests::call_on(
        &lost,
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        &alice.access,
        Some(json!({"body": "second"})),
    )
    .await;
    assert_eq!(status, 201);
    let started = Instant::now();
    let event = next_json(&mut bobs).await;
    println!("pushed {:?} after the send answered", started.elapsed());
    assert_eq!(event["message"]["body"], "second");
}

/// A session that reaches its absolute lifetime ends its connections too,
/// at the next sweep, although no request ended it.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_connection_ends_when_its_session_reaches_its_lifetime(pool: MySqlPool) {
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.sweep_interval = Some(Duration::from_millis(500));
    })
    .await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut alices = stack.connect(&alice).await;
    let mut bobs = stack.connect(&bob).await;
    sqlx::query(
        "UPDATE refresh_token_families SET created_at = NOW(6) - INTERVAL 31 DAY WHERE user_id = ?",
    )
    .bind(alice.id)
    .execute(app.pool())
    .await
    .unwrap();
    assert!(closed(&mut alices).await, "the socket outlived its session");
    // The gateway closes the socket before the sweep forgets the row.
    eventually("the closed connection is forgotten", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
    // Bob's session is young: his socket stays.
    send_text(&mut bobs, r#"{"action": "ping"}"#).await;
    assert_eq!(next_json(&mut bobs).await["type"], "pong");
    assert_eq!(stack.connections_of(bob.id).await.len(), 1);
}

/// Finding 8: a stranger's change takes no lock that members wait for. The
/// stranger's change stays in an open transaction after its first step (the
/// conversation's lock, refused for a stranger); a member's send still
/// answers at once. Before, the stranger's attempt held the conversation's
/// row (InnoDB locks it before the membership condition is evaluated) and
/// the send waited until the request deadline.
#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_strangers_change_holds_no_lock_that_members_wait_for(pool: MySqlPool) {
    let app = api_tests::TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    // A production pool: READ COMMITTED and the lock wait of the functions.
    let state = app.production_state(1).await;
    let mut strangers = state.pool.acquire().await.unwrap();
    let mut held = strangers.begin().await.unwrap();
    let locked = shared::store::conversations::lock_for_member(&mut held, conversation, mallory.id)
        .await
        .unwrap();
    assert!(locked.is_none(), "a stranger passed the membership check");

    let started = Instant::now();
    let sent = app
        .send_message(&alice, conversation, json!({"body": "not held up"}))
        .await;
    let took = started.elapsed();
    println!(
        "a member's send beside a stranger's open change: {} after {took:?}",
        sent.status
    );
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    assert!(took < Duration::from_secs(2), "the member waited {took:?}");
    held.rollback().await.unwrap();
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn conversation_events_cost_a_change_the_same_statements_however_many_listen(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let mut members = Vec::new();
    for i in 0..8 {
        members.push(app.user(&format!("member{i}")).await);
    }
    let others: Vec<&TestUser> = members.iter().collect();
    let quiet = app.conversation(&alice, &others).await;
    let busy = app.conversation(&alice, &others).await;
    let path = |conversation: i64, user: i64| {
        format!("/api/conversations/{conversation}/participants/{user}")
    };
    // Only the member removed from `quiet` listens.
    let _removed_members = stack.connect(&members[0]).await;
    let (removed, one) =
        api_tests::count_statements(app.delete(&path(quiet, members[0].id), Some(&alice.access)))
            .await;
    assert_eq!(removed.status, 204);
    // Seven more listen when a member is removed from `busy`.
    let mut listeners = Vec::new();
    for member in &members[2..] {
        listeners.push(stack.connect(member).await);
    }
    let (removed, many) =
        api_tests::count_statements(app.delete(&path(busy, members[1].id), Some(&alice.access)))
            .await;
    assert_eq!(removed.status, 204);
    assert_eq!(one, many, "statements grew with the listeners");
    for socket in &mut listeners {
        let event = loop {
            let event = next_json(socket).await;
            if event["type"] == "conversation.updated" && event["conversation"]["id"] == busy {
                break event;
            }
        };
        assert_eq!(
            event["conversation"]["participant_count"],
            json!(members.len())
        );
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn logging_out_closes_the_sessions_connections_and_no_others(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    // A second login is a second session.
    let login = app.login(&alice.email, api_tests::PASSWORD).await;
    let other = TestUser {
        access: login.body["access_token"].as_str().unwrap().to_string(),
        refresh: login.body["refresh_token"].as_str().unwrap().to_string(),
        ..alice.clone()
    };
    let conversation = app.conversation(&alice, &[]).await;
    let mut this_session = stack.connect(&alice).await;
    let mut other_session = stack.connect(&other).await;

    assert_eq!(app.logout(&alice.refresh).await.status, 204);
    assert!(
        closed(&mut this_session).await,
        "the session's socket stayed open"
    );
    assert_eq!(stack.connections_of(alice.id).await.len(), 1);
    app.say(&other, conversation, "still here").await;
    let event = next_json(&mut other_session).await;
    assert_eq!(event["message"]["body"], "still here");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ticket_of_a_session_that_has_ended_opens_nothing(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let url = stack.ticket_url(&alice).await;
    assert_eq!(stack.app.logout(&alice.refresh).await.status, 204);
    // The ticket was taken before the logout: the handshake is refused all
    // the same.
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401)
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    assert!(stack.connections_of(alice.id).await.is_empty());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_stolen_refresh_token_presented_again_closes_its_sessions_connections(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    assert_eq!(app.refresh(&alice.refresh).await.status, 200);
    // The spent token again, past the reuse grace: theft, the family is
    // revoked.
    app.outlive_the_reuse_grace().await;
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
    assert!(
        closed(&mut socket).await,
        "the stolen session's socket stayed open"
    );
    eventually("the connection is forgotten", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_eleventh_connection_closes_the_users_oldest(pool: MySqlPool) {
    let stack = Stack::start_with(pool, |settings| settings.max_connections_per_user = 3).await;
    let alice = stack.app.user("alice").await;
    let mut oldest = stack.connect(&alice).await;
    let _second = stack.connect(&alice).await;
    let _third = stack.connect(&alice).await;
    let before = stack.connections_of(alice.id).await;
    let _fourth = stack.connect(&alice).await;
    assert!(
        closed(&mut oldest).await,
        "the oldest connection stayed open"
    );
    let after = stack.connections_of(alice.id).await;
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&before[0]));
}

/// No request holds a named lock any more, so none can be left held by a
/// request cut short, nor taken by a stranger: the one named lock is the
/// migration's.
#[test]
fn no_code_but_the_migration_takes_a_named_lock() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut dirs = vec![root.join("shared/src"), root.join("functions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("GET_LOCK(") && !path.ends_with("shared/src/db.rs") {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    assert!(found.is_empty(), "named locks taken in {found:?}");
}
