//! Load: 32 clients send 500 messages each into shared conversations while
//! readers page through them. Every acknowledged message is stored once and
//! listed once, nothing answers 5xx, and the request log has one intact line
//! per request naming the right user.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use api_tests::{TestApp, TestUser, call_on};
use serde_json::json;
use shared::AppState;
use sqlx::MySqlPool;

const SENDERS: usize = 32;
const MESSAGES_EACH: usize = 500;
const CONVERSATIONS: usize = 4;

/// Walks a conversation from the newest message to the oldest.
async fn walk(state: &AppState, conversation: i64, reader: &str) -> (Vec<i64>, usize) {
    let (mut ids, mut requests) = (Vec::new(), 0);
    let mut path = format!("/api/conversations/{conversation}/messages?page_size=100");
    loop {
        let (status, page) = call_on(state, "GET", &path, reader, None).await;
        requests += 1;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/api/conversations/{conversation}/messages?page_size=100&cursor={cursor}"
                )
            }
            None => return (ids, requests),
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn thirty_two_senders_and_readers_lose_and_repeat_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let state = app.production_state(40).await;

    let mut senders: Vec<TestUser> = Vec::new();
    for n in 0..SENDERS {
        senders.push(app.user(&format!("sender{n}")).await);
    }
    let mut readers = Vec::new();
    let mut conversations = Vec::new();
    for c in 0..CONVERSATIONS {
        let reader = app.user(&format!("reader{c}")).await;
        let members: Vec<&TestUser> = senders.iter().skip(c).step_by(CONVERSATIONS).collect();
        conversations.push(app.conversation(&reader, &members).await);
        readers.push(reader);
    }
    let log_before = app.log_lines().len();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, sender) in senders.iter().enumerate() {
        let (state, token) = (state.clone(), sender.access.clone());
        let conversation = conversations[n % CONVERSATIONS];
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for m in 0..MESSAGES_EACH {
                let path = format!("/api/conversations/{conversation}/messages");
                let body = json!({"body": format!("{n}/{m}"), "client_id": format!("{n}-{m}")});
                let (status, message) = call_on(&state, "POST", &path, &token, Some(body)).await;
                assert_eq!(status, 201, "sender {n} message {m}: {message}");
                acknowledged.push((conversation, message["id"].as_i64().unwrap()));
            }
            acknowledged
        }));
    }
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut reader_tasks = Vec::new();
    for (c, reader) in readers.iter().enumerate() {
        let (state, token, sending) = (state.clone(), reader.access.clone(), Arc::clone(&sending));
        let conversation = conversations[c];
        reader_tasks.push(tokio::spawn(async move {
            let mut requests = 0;
            while sending.load(std::sync::atomic::Ordering::Relaxed) {
                let (ids, made) = walk(&state, conversation, &token).await;
                requests += made;
                let unique: HashSet<_> = ids.iter().collect();
                assert_eq!(unique.len(), ids.len(), "a page walk repeated a message");
                assert!(
                    ids.windows(2).all(|w| w[0] > w[1]),
                    "a page walk went out of order"
                );
            }
            requests
        }));
    }
    let mut acknowledged: HashMap<i64, HashSet<i64>> = HashMap::new();
    for task in tasks {
        for (conversation, id) in task.await.unwrap() {
            assert!(
                acknowledged.entry(conversation).or_default().insert(id),
                "one id acknowledged twice"
            );
        }
    }
    sending.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut read_requests = 0;
    for task in reader_tasks {
        read_requests += task.await.unwrap();
    }
    let elapsed = started.elapsed();

    for (c, conversation) in conversations.iter().enumerate() {
        let (ids, made) = walk(&state, *conversation, &readers[c].access).await;
        read_requests += made;
        let listed: HashSet<i64> = ids.iter().copied().collect();
        assert_eq!(listed.len(), ids.len(), "listed twice");
        assert_eq!(
            &listed, &acknowledged[conversation],
            "listed ≠ acknowledged"
        );
    }
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored as usize, SENDERS * MESSAGES_EACH);
    println!(
        "{} sends and {read_requests} page reads in {:.1} s",
        SENDERS * MESSAGES_EACH,
        elapsed.as_secs_f64()
    );

    // The request log: one intact line per request, naming its caller.
    let lines = app.log_lines();
    let new = &lines[log_before..];
    assert_eq!(new.len(), SENDERS * MESSAGES_EACH + read_requests);
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for line in new {
        let (timestamp, rest) = line
            .split_once(" - User: ")
            .unwrap_or_else(|| panic!("torn line {line:?}"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{line:?}"
        );
        let (user, path) = rest
            .split_once(" - Path: ")
            .unwrap_or_else(|| panic!("torn line {line:?}"));
        assert!(
            path.starts_with("/api/conversations/") && path.ends_with("/messages"),
            "{line:?}"
        );
        *per_user.entry(user).or_default() += 1;
    }
    for sender in &senders {
        assert_eq!(
            per_user.get(sender.username.as_str()),
            Some(&MESSAGES_EACH),
            "{}",
            sender.username
        );
    }
}
