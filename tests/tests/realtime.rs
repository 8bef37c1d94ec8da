//! Real-time delivery end to end on 127.0.0.1: a WebSocket client, the local
//! gateway, the realtime binary invoked through the Lambda Invoke API, the
//! delivery queue and the fan-out binary posting through the Management API,
//! and the real database.

use std::time::Duration;

use api_tests::count_statements;
use api_tests::websocket::{
    DELIVERY_QUEUE, Stack, assert_silent, closed, delivery_queue, eventually, management_client,
    next_json, send_text,
};
use chrono::TimeDelta;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use sqlx::MySqlPool;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn refused_status(url: String) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the handshake succeeded"),
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_ticket_opens_a_websocket_that_answers_ping_and_error_frames(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    assert_eq!(stack.connections_of(alice.id).await.len(), 1);

    send_text(&mut socket, r#"{"action": "ping"}"#).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
    send_text(&mut socket, "hello").await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert!(error["error"].is_string(), "{error}");
    // The connection stays open after an error frame.
    send_text(&mut socket, r#"{"action": "ping"}"#).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_used_ticket_is_refused_at_the_handshake_with_401(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let url = stack.ticket_url(&alice).await;
    let (_socket, _) = tokio_tungstenite::connect_async(url.clone())
        .await
        .expect("the first use opens");
    assert_eq!(refused_status(url).await, 401);
    assert_eq!(stack.connections_of(alice.id).await.len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_expired_or_unknown_ticket_is_refused_at_the_handshake_with_401(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let expired = shared::realtime::issue_ticket(
        &mut stack.app.pool().acquire().await.unwrap(),
        alice.id,
        None,
        shared::time::now() - TimeDelta::seconds(61),
    )
    .await
    .unwrap();
    let base = format!("ws://{}", stack.gateway);
    assert_eq!(
        refused_status(format!("{base}/?ticket={expired}")).await,
        401
    );
    assert_eq!(refused_status(format!("{base}/?ticket=made-up")).await, 401);
    assert_eq!(refused_status(format!("{base}/")).await, 401);
    assert!(stack.connections_of(alice.id).await.is_empty());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn closing_the_websocket_forgets_the_connection(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    assert_eq!(stack.connections_of(alice.id).await.len(), 1);
    socket.close(None).await.expect("close");
    eventually("$disconnect deletes the connection", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_binary_frame_closes_the_connection_with_1003_as_api_gateway_does(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    socket
        .send(Message::binary(vec![1_u8, 2, 3]))
        .await
        .expect("send a binary frame");
    let closed = tokio::time::timeout(api_tests::websocket::FRAME_WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time");
    assert_eq!(closed, Some(1003));
    eventually("$disconnect deletes the connection", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_post_to_a_gone_connection_is_a_410_and_the_fan_out_forgets_it(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let conversation = stack.app.conversation(&alice, &[]).await;
    let mut socket = stack.connect(&alice).await;
    let live = stack.connections_of(alice.id).await;
    // A connection whose `$disconnect` never arrived.
    sqlx::query(
        "INSERT INTO realtime_connections (connection_id, user_id, connected_at) \
         VALUES ('Stale+Conn/Id=', ?, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR)",
    )
    .bind(alice.id)
    .execute(stack.app.pool())
    .await
    .unwrap();

    let client = management_client(stack.gateway);
    let gone = client
        .post_to_connection()
        .connection_id("Stale+Conn/Id=")
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            b"{}".to_vec(),
        ))
        .send()
        .await
        .expect_err("a 410");
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{gone:?}"
    );
    assert_eq!(gone.raw_response().map(|r| r.status().as_u16()), Some(410));

    stack
        .app
        .say(&alice, conversation, "to every connection")
        .await;
    assert_eq!(next_json(&mut socket).await["type"], "message.created");
    eventually("the stale connection is forgotten", || async {
        stack.connections_of(alice.id).await == live
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_management_api_describes_and_closes_a_connection(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    let id = stack.connections_of(alice.id).await.remove(0);
    let client = management_client(stack.gateway);

    let described = client
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("the open connection");
    assert!(described.connected_at().is_some());
    assert_eq!(
        described.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );

    client
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("deleted");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true));
    eventually("$disconnect deletes the connection", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
    let again = client.get_connection().connection_id(&id).send().await;
    assert!(
        again
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_gone_exception()),
        "{again:?}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn every_connection_of_every_participant_receives_message_events(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut alices = stack.connect(&alice).await;
    let mut bobs_phone = stack.connect(&bob).await;
    let mut bobs_laptop = stack.connect(&bob).await;
    let mut carols = stack.connect(&carol).await;

    let sent = app
        .send_message(&alice, conversation, json!({"body": "hello"}))
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    for socket in [&mut alices, &mut bobs_phone, &mut bobs_laptop] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "message.created");
        assert_eq!(event["conversation_id"], conversation);
        assert_eq!(event["version"], sent.body["version"]);
        assert_eq!(event["message"], sent.body);
    }

    let id = sent.body["id"].as_i64().unwrap();
    let path = format!("/api/conversations/{conversation}/messages/{id}");
    let edited = app
        .patch(&path, Some(&alice.access), json!({"body": "hello, bob"}))
        .await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    for socket in [&mut alices, &mut bobs_phone, &mut bobs_laptop] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "message.updated");
        assert_eq!(event["message"], edited.body);
    }

    assert_eq!(app.delete(&path, Some(&alice.access)).await.status, 204);
    for socket in [&mut alices, &mut bobs_phone, &mut bobs_laptop] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "message.deleted");
        assert_eq!(event["message"]["body"], serde_json::Value::Null);
        assert!(event["message"]["deleted_at"].is_string(), "{event}");
        assert!(event["version"].as_i64() > edited.body["version"].as_i64());
    }
    assert_silent(&mut carols, Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn without_a_delivery_queue_a_send_still_answers(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    let mut state = stack.app.state.clone();
    state.delivery = None;
    let conversation = stack.app.conversation(&alice, &[]).await;
    assert_eq!(next_json(&mut socket).await["type"], "conversation.joined");
    let (status, _) = api_tests::call_on(
        &state,
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        &alice.access,
        Some(json!({"body": "quiet"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_silent(&mut socket, Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_costs_the_same_statements_whether_anyone_listens_or_not(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let bob = stack.app.user("bob").await;
    let carol = stack.app.user("carol").await;
    let id = stack.app.conversation(&alice, &[&bob]).await;
    // Connected, but not to this conversation.
    let mut outsider = stack.connect(&carol).await;
    let (sent, quiet) = count_statements(stack.app.send_message(
        &alice,
        id,
        json!({"body": "nobody here"}),
    ))
    .await;
    assert_eq!(sent.status, 201);
    let mut socket = stack.connect(&bob).await;
    let (sent, heard) = count_statements(stack.app.send_message(
        &alice,
        id,
        json!({"body": "bob is here"}),
    ))
    .await;
    assert_eq!(sent.status, 201);
    // A fresh connection may be sent what it caught up on just before.
    let event = loop {
        let event = next_json(&mut socket).await;
        if event["message"]["body"] != "nobody here" {
            break event;
        }
    };
    assert_eq!(event["message"]["body"], "bob is here");
    assert_silent(&mut outsider, Duration::from_millis(300)).await;
    // Authentication and the send_message procedure; who listens is the
    // fan-out function's question.
    assert_eq!(quiet, 2);
    assert_eq!(heard, 2);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_unreachable_delivery_queue_never_fails_the_change(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let _socket = stack.connect(&alice).await;
    // A port nothing listens on: every post fails to connect.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    let state = stack
        .app
        .state
        .clone()
        .with_delivery(delivery_queue(nowhere, DELIVERY_QUEUE));
    let conversation = stack.app.conversation(&alice, &[]).await;
    let (status, _) = api_tests::call_on(
        &state,
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        &alice.access,
        Some(json!({"body": "still stored"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(stack.connections_of(alice.id).await.len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn conversation_events_reach_who_joined_who_stayed_and_who_left(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let mut alices = stack.connect(&alice).await;
    let mut bobs = stack.connect(&bob).await;
    let mut carols = stack.connect(&carol).await;

    let conversation = app.conversation(&alice, &[&bob]).await;
    for (socket, user) in [(&mut alices, &alice), (&mut bobs, &bob)] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "conversation.joined", "{event}");
        let own_view = app
            .get(
                &format!("/api/conversations/{conversation}"),
                Some(&user.access),
            )
            .await;
        assert_eq!(event["conversation"], own_view.body);
    }
    assert_silent(&mut carols, Duration::from_millis(200)).await;

    let added = app
        .post(
            &format!("/api/conversations/{conversation}/participants"),
            Some(&alice.access),
            json!({"user_ids": [carol.id]}),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let joined = next_json(&mut carols).await;
    assert_eq!(joined["type"], "conversation.joined");
    assert_eq!(joined["conversation"]["id"], conversation);
    for socket in [&mut alices, &mut bobs] {
        let event = next_json(socket).await;
        assert_eq!(event["type"], "conversation.updated", "{event}");
        assert_eq!(event["conversation"]["id"], conversation);
    }

    let removed = app
        .delete(
            &format!("/api/conversations/{conversation}/participants/{}", bob.id),
            Some(&alice.access),
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(
        next_json(&mut bobs).await,
        json!({"type": "conversation.left", "conversation_id": conversation})
    );
    for socket in [&mut alices, &mut carols] {
        assert_eq!(next_json(socket).await["type"], "conversation.updated");
    }

    // Nothing more of it reaches the removed user.
    app.say(&alice, conversation, "after bob left").await;
    for socket in [&mut alices, &mut carols] {
        assert_eq!(next_json(socket).await["type"], "message.created");
    }
    assert_silent(&mut bobs, Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_read_marker_goes_to_the_readers_own_connections_only(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut phone = stack.connect(&alice).await;
    let mut laptop = stack.connect(&alice).await;
    let mut bobs = stack.connect(&bob).await;
    app.say(&bob, conversation, "read me").await;
    for socket in [&mut phone, &mut laptop, &mut bobs] {
        assert_eq!(next_json(socket).await["type"], "message.created");
    }

    let read = app
        .post(
            &format!("/api/conversations/{conversation}/read"),
            Some(&alice.access),
            json!({"seq": 1}),
        )
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let expected = json!({
        "type": "conversation.read",
        "conversation_id": conversation,
        "last_read_seq": 1,
        "unread_count": 0,
    });
    assert_eq!(next_json(&mut phone).await, expected);
    assert_eq!(next_json(&mut laptop).await, expected);
    // The others get a receipt, never the reader's own read state.
    assert_eq!(
        next_json(&mut bobs).await,
        json!({"type": "receipt", "conversation_id": conversation, "user_id": alice.id, "last_read_seq": 1})
    );
    assert_silent(&mut bobs, Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_gateway_closes_an_idle_connection_and_forgets_it(pool: MySqlPool) {
    let stack = Stack::start_with(pool, |settings| {
        settings.gateway.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("closed within the wait");
    assert_eq!(closed, Some(1001));
    eventually("$disconnect deletes the connection", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_delivery_queue_that_never_answers_holds_a_change_up_for_the_nudge_timeout_only(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let _socket = stack.connect(&alice).await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let state = stack
        .app
        .state
        .clone()
        .with_delivery(delivery_queue(address, DELIVERY_QUEUE));
    let conversation = stack.app.conversation(&alice, &[]).await;
    let started = std::time::Instant::now();
    let (status, _) = api_tests::call_on(
        &state,
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        &alice.access,
        Some(json!({"body": "on time"})),
    )
    .await;
    let took = started.elapsed();
    holding.abort();
    assert_eq!(status, 201);
    assert!(
        took >= shared::realtime::queue::NUDGE_TIMEOUT && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn with_one_database_connection_per_instance_a_send_is_delivered_and_answers(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let conversation = stack.app.conversation(&alice, &[]).await;
    let mut socket = stack.connect(&alice).await;
    // As deployed: DATABASE_MAX_CONNECTIONS=1, so the look for listeners
    // must use the request's own connection.
    let state = stack
        .app
        .production_state(1)
        .await
        .with_delivery(delivery_queue(stack.gateway, DELIVERY_QUEUE));
    let started = std::time::Instant::now();
    let (status, sent) = api_tests::call_on(
        &state,
        "POST",
        &format!("/api/conversations/{conversation}/messages"),
        &alice.access,
        Some(json!({"body": "one connection"})),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], "message.created");
    assert_eq!(event["message"], sent);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_reconnecting_client_catches_up_with_since_and_ends_up_to_date(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let conversation = app.conversation(&alice, &[&bob]).await;
    let mut bobs = stack.connect(&bob).await;
    app.say(&alice, conversation, "first").await;
    let applied = next_json(&mut bobs).await["version"].as_i64().unwrap();
    bobs.close(None).await.unwrap();
    eventually("bob's connection is forgotten", || async {
        stack.connections_of(bob.id).await.is_empty()
    })
    .await;

    // Missed while away: two sends and an edit.
    let second = app.say(&alice, conversation, "second").await;
    app.say(&alice, conversation, "third").await;
    let edited = app
        .patch(
            &format!("/api/conversations/{conversation}/messages/{second}"),
            Some(&alice.access),
            json!({"body": "second, edited"}),
        )
        .await;
    assert_eq!(edited.status, 200);

    let mut bobs = stack.connect(&bob).await;
    let missed = app
        .messages(&bob, conversation, &format!("?since={applied}"))
        .await;
    assert_eq!(missed.status, 200, "{:?}", missed.body);
    let bodies: Vec<&str> = missed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["third", "second, edited"]);
    let latest = missed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .max()
        .unwrap();

    // From here on the socket carries the next change, right after the last
    // one caught up; what it repeats of the catch-up, the client drops by
    // version.
    app.say(&alice, conversation, "fourth").await;
    let event = loop {
        let event = next_json(&mut bobs).await;
        if event["version"].as_i64() > Some(latest) {
            break event;
        }
    };
    assert_eq!(event["message"]["body"], "fourth");
    assert_eq!(event["version"].as_i64(), Some(latest + 1));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn events_of_one_conversation_leave_in_version_order_under_four_concurrent_senders(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let mut senders = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        senders.push(app.user(name).await);
    }
    let eve = app.user("eve").await;
    let others: Vec<&api_tests::TestUser> = senders[1..].iter().chain([&eve]).collect();
    let conversation = app.conversation(&senders[0], &others).await;
    let mut listener = stack.connect(&eve).await;

    const EACH: usize = 10;
    let all: Vec<&api_tests::TestUser> = senders.iter().collect();
    app.send_concurrently(&all, conversation, EACH).await;

    let mut versions = Vec::new();
    for _ in 0..senders.len() * EACH {
        let event = next_json(&mut listener).await;
        assert_eq!(event["type"], "message.created", "{event}");
        versions.push(event["version"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (1..=(senders.len() * EACH) as i64).collect();
    assert_eq!(versions, expected);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_burst_of_three_hundred_handshakes_opens_them_all_and_the_gateway_keeps_serving(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let mut users = Vec::new();
    for i in 0..30 {
        users.push(stack.app.user(&format!("user{i}")).await);
    }
    let mut urls = Vec::new();
    for user in &users {
        for _ in 0..10 {
            urls.push(stack.ticket_url(user).await);
        }
    }
    let mut opening = tokio::task::JoinSet::new();
    for url in urls {
        opening.spawn(async move {
            let opened = tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async(url),
            )
            .await;
            matches!(opened, Ok(Ok(_)))
        });
    }
    let opened = opening.join_all().await;
    assert_eq!(opened.iter().filter(|ok| **ok).count(), 300);
    // Still serving: a new connection opens and answers a ping.
    let mut socket = stack.connect(&users[0]).await;
    send_text(&mut socket, r#"{"action":"ping"}"#).await;
    assert_eq!(next_json(&mut socket).await, json!({"type": "pong"}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_client_that_stops_reading_is_disconnected_instead_of_buffered_without_bound(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    // Never read from.
    let _socket = stack.connect(&alice).await;
    let id = stack.connections_of(alice.id).await.remove(0);
    let client = management_client(stack.gateway);
    let frame = aws_sdk_apigatewaymanagement::primitives::Blob::new(vec![b'x'; 16 * 1024]);
    let mut gone_after = None;
    for posted in 0..20_000 {
        let sent = client
            .post_to_connection()
            .connection_id(&id)
            .data(frame.clone())
            .send()
            .await;
        if let Err(err) = sent {
            assert!(
                err.as_service_error()
                    .is_some_and(|e| e.is_gone_exception()),
                "{err:?}"
            );
            gone_after = Some(posted);
            break;
        }
    }
    assert!(
        gone_after.is_some(),
        "20,000 frames of 16 KB were all queued"
    );
    eventually("$disconnect forgets the connection", || async {
        stack.connections_of(alice.id).await.is_empty()
    })
    .await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_connection_the_function_has_forgotten_is_closed_on_its_next_frame(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    sqlx::query("DELETE FROM realtime_connections")
        .execute(stack.app.pool())
        .await
        .unwrap();
    send_text(&mut socket, r#"{"action":"ping"}"#).await;
    assert!(
        closed(&mut socket).await,
        "the forgotten connection stayed open"
    );
}
