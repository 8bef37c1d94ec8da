//! Real-time delivery end to end on 127.0.0.1: a WebSocket client, the local
//! gateway, the realtime binary invoked through the Lambda Invoke API, the
//! publisher posting through the Management API, and the real database.

use std::time::Duration;

use api_tests::websocket::{
    Stack, assert_silent, eventually, management_client, next_json, send_text,
};
use chrono::TimeDelta;
use futures_util::StreamExt;
use serde_json::json;
use shared::realtime::Publisher;
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
        stack.app.pool(),
        alice.id,
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
async fn two_connections_of_one_user_both_receive_a_published_event(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let bob = stack.app.user("bob").await;
    let mut phone = stack.connect(&alice).await;
    let mut laptop = stack.connect(&alice).await;
    let mut bobs = stack.connect(&bob).await;

    let event = json!({"type": "conversation.left", "conversation_id": 7});
    stack
        .app
        .state
        .publish(vec![(alice.id, event.clone())])
        .await;
    assert_eq!(next_json(&mut phone).await, event);
    assert_eq!(next_json(&mut laptop).await, event);
    assert_silent(&mut bobs, Duration::from_millis(300)).await;
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_post_to_a_gone_connection_is_a_410_and_the_publisher_forgets_it(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
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

    let event = json!({"type": "conversation.left", "conversation_id": 1});
    stack
        .app
        .state
        .publish(vec![(alice.id, event.clone())])
        .await;
    assert_eq!(next_json(&mut socket).await, event);
    assert_eq!(stack.connections_of(alice.id).await, live);
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
async fn without_a_publisher_a_send_still_answers(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let alice = stack.app.user("alice").await;
    let mut socket = stack.connect(&alice).await;
    let mut state = stack.app.state.clone();
    state.publisher = None;
    let conversation = stack.app.conversation(&alice, &[]).await;
    assert_silent(&mut socket, Duration::from_millis(100)).await;
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
async fn an_unreachable_gateway_never_fails_the_change(pool: MySqlPool) {
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
        .with_publisher(Publisher::new(management_client(nowhere)));
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
