//! What every chat client shows, woven into the sync model: renaming a
//! group, one message by id, and read receipts.

use std::time::Duration;

use api_tests::websocket::{Socket, Stack, next_json, next_of, send_text};
use api_tests::{TestApp, TestUser};
use lambda_http::http::Method;
use serde_json::{Value, json};
use sqlx::MySqlPool;

async fn rename(
    app: &TestApp,
    user: &TestUser,
    conversation: i64,
    body: Value,
) -> api_tests::TestResponse {
    app.call(
        Method::PATCH,
        &format!("/api/conversations/{conversation}"),
        Some(&user.access),
        Some(body),
    )
    .await
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn any_participant_renames_a_group_and_everyone_gets_their_own_view(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let group = app.conversation(&alice, &[&bob, &carol]).await;
    // Alice reads what bob says next, carol does not: each view shows it.
    app.say(&bob, group, "unread by carol").await;
    let read = app
        .post(
            &format!("/api/conversations/{group}/read"),
            Some(&alice.access),
            json!({"seq": 1}),
        )
        .await;
    assert_eq!(read.status, 200);
    let mut alices = stack.connect(&alice).await;
    let mut carols = stack.connect(&carol).await;

    let renamed = rename(app, &bob, group, json!({"title": "Weekend 🏔"})).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["title"], "Weekend 🏔");
    for (socket, unread) in [(&mut alices, 0), (&mut carols, 1)] {
        let event = next_of(socket, "conversation.updated").await;
        assert_eq!(event["conversation"]["title"], "Weekend 🏔");
        assert_eq!(event["conversation"]["unread_count"], unread, "{event}");
    }
    let shown = app
        .get(&format!("/api/conversations/{group}"), Some(&carol.access))
        .await;
    assert_eq!(shown.body["title"], "Weekend 🏔");

    // Null and "" clear it.
    for cleared in [json!({"title": null}), json!({"title": ""})] {
        rename(app, &alice, group, json!({"title": "again"})).await;
        let answer = rename(app, &carol, group, cleared).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["title"], Value::Null);
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn renaming_refuses_direct_conversations_strangers_and_bad_titles(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let group = app.conversation(&alice, &[&bob]).await;
    let direct = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "direct": true}),
        )
        .await;
    let direct = direct.body["id"].as_i64().unwrap();

    assert_eq!(
        rename(&app, &bob, direct, json!({"title": "us"}))
            .await
            .status,
        409
    );
    let stranger = rename(&app, &mallory, group, json!({"title": "mine"})).await;
    let missing = rename(&app, &mallory, 999_999, json!({"title": "mine"})).await;
    assert_eq!((stranger.status, &stranger.body), (404, &missing.body));
    let long = rename(&app, &alice, group, json!({"title": "x".repeat(256)})).await;
    assert_eq!(long.status, 400);
    assert!(long.body["fields"]["title"].is_string());
    let absent = rename(&app, &alice, group, json!({})).await;
    assert_eq!(absent.status, 400);
    assert!(absent.body["fields"]["title"].is_string());
    assert_eq!(
        rename(&app, &alice, group, json!({"title": 7}))
            .await
            .status,
        400
    );
    let title: Option<String> = sqlx::query_scalar("SELECT title FROM conversations WHERE id = ?")
        .bind(group)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(title, None, "a refused rename changed the title");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn one_message_by_id_tombstones_too_and_one_404_for_strangers_and_other_conversations(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let ours = app.conversation(&alice, &[&bob]).await;
    let other = app.conversation(&alice, &[]).await;
    let kept = app.say(&alice, ours, "kept").await;
    let gone = app.say(&alice, ours, "gone").await;
    let path = |conversation: i64, message: i64| {
        format!("/api/conversations/{conversation}/messages/{message}")
    };
    assert_eq!(
        app.delete(&path(ours, gone), Some(&alice.access))
            .await
            .status,
        204
    );

    let shown = app.get(&path(ours, kept), Some(&bob.access)).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["id"], kept);
    assert_eq!(shown.body["body"], "kept");
    let listed = app
        .get(
            &format!("/api/conversations/{ours}/messages"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(
        shown.body, listed.body["results"][1],
        "the same message as in a page"
    );
    let tombstone = app.get(&path(ours, gone), Some(&bob.access)).await;
    assert_eq!(tombstone.status, 200);
    assert_eq!(tombstone.body["body"], Value::Null);
    assert!(tombstone.body["deleted_at"].is_string());

    let stranger = app.get(&path(ours, kept), Some(&mallory.access)).await;
    let elsewhere = app.get(&path(other, kept), Some(&alice.access)).await;
    let missing = app.get(&path(ours, 999_999), Some(&alice.access)).await;
    for refused in [&stranger, &elsewhere, &missing] {
        assert_eq!((refused.status, &refused.body), (404, &stranger.body));
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_marker_that_moves_sends_a_receipt_to_the_others_and_one_that_does_not_sends_none(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let group = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, group, "one").await;
    let two = app.say(&alice, group, "two").await;
    let mut alices = stack.connect(&alice).await;
    let mut bobs = stack.connect(&bob).await;
    let read_path = format!("/api/conversations/{group}/read");
    let read = |seq: i64| app.post(&read_path, Some(&bob.access), json!({"seq": seq}));

    assert_eq!(read(2).await.status, 200);
    let receipt = next_of(&mut alices, "receipt").await;
    assert_eq!(
        receipt,
        json!({"type": "receipt", "conversation_id": group, "user_id": bob.id, "last_read_seq": 2})
    );
    // The reader's own connections get their read state, not a receipt.
    let own = next_of(&mut bobs, "conversation.read").await;
    assert_eq!(own["last_read_seq"], 2);

    // The participants page shows who has read what.
    let page = app
        .get(
            &format!("/api/conversations/{group}/participants"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(page.status, 200);
    let participants = page.body["results"].as_array().unwrap();
    let of = |id: i64| participants.iter().find(|p| p["id"] == id).unwrap();
    assert_eq!(of(bob.id)["last_read_seq"], 2);
    assert_eq!(
        of(alice.id)["last_read_seq"],
        2,
        "a sender has read its own messages"
    );
    assert!(of(bob.id)["joined_at"].is_string());
    let _ = two;

    // Again, or lower: the marker does not move and nobody is told.
    api_tests::websocket::eventually("the receipt is delivered and dequeued", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM realtime_outbox WHERE kind = 'receipt'")
            .fetch_one(app.pool())
            .await
            .unwrap()
            == 0
    })
    .await;
    assert_eq!(read(2).await.status, 200);
    assert_eq!(read(1).await.status, 200);
    let receipts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM realtime_outbox WHERE kind = 'receipt'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(
        receipts, 0,
        "a receipt was queued for a marker that did not move"
    );
    let later = events_of(&mut alices, "receipt", Duration::from_millis(500)).await;
    assert!(later.is_empty(), "{later:?}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_group_over_a_hundred_sends_no_receipts(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let group = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, group, "hello").await;
    // 101 participants, and alice connected to receive a receipt.
    sqlx::query("UPDATE conversations SET participant_count = 101 WHERE id = ?")
        .bind(group)
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO realtime_connections (connection_id, user_id, connected_at) VALUES ('c1', ?, NOW(6))",
    )
    .bind(alice.id)
    .execute(app.pool())
    .await
    .unwrap();
    let read = app
        .post(
            &format!("/api/conversations/{group}/read"),
            Some(&bob.access),
            json!({"seq": 1}),
        )
        .await;
    assert_eq!(read.status, 200);
    let receipts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM realtime_outbox WHERE kind = 'receipt'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(receipts, 0);
    // The same read in a group of 100 queues one.
    sqlx::query("UPDATE conversations SET participant_count = 100, last_seq = 2 WHERE id = ?")
        .bind(group)
        .execute(app.pool())
        .await
        .unwrap();
    app.post(
        &format!("/api/conversations/{group}/read"),
        Some(&bob.access),
        json!({"seq": 2}),
    )
    .await;
    let receipts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM realtime_outbox WHERE kind = 'receipt'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!(receipts, 1);
}

/// The events of `kind` that reach `socket` within `wait`.
async fn events_of(socket: &mut Socket, kind: &str, wait: Duration) -> Vec<Value> {
    let mut events = Vec::new();
    let until = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout_at(until, futures_util::StreamExt::next(socket)).await
    {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            let event: Value = serde_json::from_str(text.as_str()).unwrap();
            if event["type"] == kind {
                events.push(event);
            }
        }
    }
    events
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_burst_of_fifty_typing_frames_through_three_instances_delivers_one_event_to_the_others_only(
    pool: MySqlPool,
) {
    let stack = Stack::start_with(pool, |settings| settings.realtime_instances = 3).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let group = app.conversation(&alice, &[&bob, &carol]).await;
    let mut alices = [stack.connect(&alice).await, stack.connect(&alice).await];
    let mut bobs = stack.connect(&bob).await;
    let mut carols = stack.connect(&carol).await;
    let frame = json!({"action": "typing", "conversation_id": group, "typing": true}).to_string();

    for n in 0..50 {
        send_text(&mut alices[n % 2], &frame).await;
    }
    for socket in [&mut bobs, &mut carols] {
        let events = events_of(socket, "typing", Duration::from_millis(1500)).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["conversation_id"], group);
        assert_eq!(events[0]["typing"], true);
        assert_eq!(events[0]["user"]["id"], alice.id);
        assert_eq!(events[0]["user"]["username"], "alice");
    }
    for socket in &mut alices {
        assert!(
            events_of(socket, "typing", Duration::from_millis(200))
                .await
                .is_empty()
        );
    }
    // Never a message: no seq, no version.
    let (seq, version): (i64, i64) =
        sqlx::query_as("SELECT last_seq, last_version FROM conversations WHERE id = ?")
            .bind(group)
            .fetch_one(app.pool())
            .await
            .unwrap();
    assert_eq!((seq, version), (0, 0));

    // `false` after a delivered `true` is delivered; a second one is not.
    let stop = json!({"action": "typing", "conversation_id": group, "typing": false}).to_string();
    send_text(&mut alices[0], &stop).await;
    send_text(&mut alices[1], &stop).await;
    let events = events_of(&mut bobs, "typing", Duration::from_millis(1500)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["typing"], false);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn typing_in_a_strangers_conversation_is_an_error_and_a_big_group_gets_none(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let group = app.conversation(&alice, &[&bob]).await;
    let mut mallorys = stack.connect(&mallory).await;
    send_text(
        &mut mallorys,
        &json!({"action": "typing", "conversation_id": group}).to_string(),
    )
    .await;
    let answer = next_json(&mut mallorys).await;
    assert_eq!(answer["type"], "error", "{answer}");

    sqlx::query("UPDATE conversations SET participant_count = 101 WHERE id = ?")
        .bind(group)
        .execute(app.pool())
        .await
        .unwrap();
    let mut alices = stack.connect(&alice).await;
    let _bobs = stack.connect(&bob).await;
    send_text(
        &mut alices,
        &json!({"action": "typing", "conversation_id": group}).to_string(),
    )
    .await;
    // The frame was taken (a ping after it is answered) and nothing queued.
    send_text(&mut alices, r#"{"action": "ping"}"#).await;
    assert_eq!(next_json(&mut alices).await["type"], "pong");
    // Frames of one client are handled side by side: give the typing frame
    // time to finish too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM realtime_outbox WHERE kind = 'typing'")
            .fetch_one(app.pool())
            .await
            .unwrap();
    let states: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM typing_states")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!((queued, states), (0, 0));
}
