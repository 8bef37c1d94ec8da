//! Reactions and threads, woven into the sync model: a reaction that changes
//! something takes the conversation's next `version`, a reply joins its flat
//! thread and counts on the thread's first message, and both stay exact under
//! concurrency.

use std::collections::BTreeSet;

use api_tests::websocket::{Stack, next_of};
use api_tests::{TestApp, TestResponse, TestUser, call_on, count_statements};
use lambda_http::http::Method;
use serde_json::{Value, json};
use shared::AppState;
use sqlx::MySqlPool;

/// Every byte percent-encoded, as a client may send any path segment.
fn encoded(emoji: &str) -> String {
    emoji.bytes().map(|b| format!("%{b:02X}")).collect()
}

fn reaction_path(conversation: i64, message: i64, emoji: &str) -> String {
    format!(
        "/api/conversations/{conversation}/messages/{message}/reactions/{}",
        encoded(emoji)
    )
}

/// A reaction's PUT (add) or DELETE (take back).
async fn reaction(
    app: &TestApp,
    method: Method,
    user: &TestUser,
    conversation: i64,
    message: i64,
    emoji: &str,
) -> TestResponse {
    app.call(
        method,
        &reaction_path(conversation, message, emoji),
        Some(&user.access),
        None,
    )
    .await
}

async fn react(
    app: &TestApp,
    user: &TestUser,
    conversation: i64,
    message: i64,
    emoji: &str,
) -> TestResponse {
    reaction(app, Method::PUT, user, conversation, message, emoji).await
}

async fn take_back(
    app: &TestApp,
    user: &TestUser,
    conversation: i64,
    message: i64,
    emoji: &str,
) -> TestResponse {
    reaction(app, Method::DELETE, user, conversation, message, emoji).await
}

async fn last_version(app: &TestApp, conversation: i64) -> i64 {
    sqlx::query_scalar("SELECT last_version FROM conversations WHERE id = ?")
        .bind(conversation)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// Who reacted with `emoji`, in the order they did, as the database holds it.
async fn stored_order(app: &TestApp, message: i64, emoji: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT user_id FROM message_reactors WHERE message_id = ? AND emoji = ? ORDER BY id",
    )
    .bind(message)
    .bind(emoji.as_bytes())
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// Four instances of the functions, each with the pool (and session
/// settings) they build in production.
async fn instances(app: &TestApp) -> Vec<AppState> {
    let mut states = Vec::new();
    for _ in 0..4 {
        states.push(app.production_state(8).await);
    }
    states
}

async fn users(app: &TestApp, count: usize) -> Vec<TestUser> {
    let mut users = Vec::with_capacity(count);
    for i in 0..count {
        users.push(app.user(&format!("user{i}")).await);
    }
    users
}

async fn group(app: &TestApp, owner: &TestUser, others: &[TestUser]) -> i64 {
    app.conversation(owner, &others.iter().collect::<Vec<_>>())
        .await
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_reaction_that_changes_something_takes_a_version_and_a_repeat_takes_none(
    pool: MySqlPool,
) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let id = app.conversation(&alice, &[&bob, &carol]).await;
    let message = app.say(&alice, id, "lunch?").await;
    let mut carols = stack.connect(&carol).await;

    let first = react(app, &bob, id, message, "👍").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.body["reactions"],
        json!([{"emoji": "👍", "count": 1, "user_ids": [bob.id]}])
    );
    assert_eq!(first.body["version"], 2);
    assert_eq!(first.body["edited_at"], Value::Null);
    let event = next_of(&mut carols, "message.updated").await;
    assert_eq!(event["message"]["version"], 2, "{event}");
    assert_eq!(event["message"]["reactions"], first.body["reactions"]);

    // Again: nothing changes, the same answer, no version.
    let again = react(app, &bob, id, message, "👍").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(last_version(app, id).await, 2);

    let second = react(app, &alice, id, message, "👍").await;
    assert_eq!(second.body["version"], 3);
    assert_eq!(
        second.body["reactions"],
        json!([{"emoji": "👍", "count": 2, "user_ids": [bob.id, alice.id]}])
    );
    let since = app.messages(&carol, id, "?since=2").await;
    assert_eq!(
        since.body["results"][0]["reactions"],
        second.body["reactions"]
    );
    assert_eq!(since.body["results"][0]["version"], 3);

    let back = take_back(app, &bob, id, message, "👍").await;
    assert_eq!(back.status, 200);
    assert_eq!(back.body["version"], 4);
    assert_eq!(
        back.body["reactions"],
        json!([{"emoji": "👍", "count": 1, "user_ids": [alice.id]}])
    );
    let back_again = take_back(app, &bob, id, message, "👍").await;
    assert_eq!(back_again.status, 200);
    assert_eq!(back_again.body["version"], 4);
    assert_eq!(last_version(app, id).await, 4);

    // Emoji compare byte for byte: a skin tone, a ZWJ sequence, a short code,
    // and "é" precomposed and decomposed are five reactions, in first use.
    let emoji = ["👍🏽", "👩\u{200d}💻", ":party-parrot:", "\u{e9}", "e\u{301}"];
    for e in emoji {
        let answer = react(app, &carol, id, message, e).await;
        assert_eq!(answer.status, 200, "{e:?}: {:?}", answer.body);
    }
    let shown = app
        .get(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&bob.access),
        )
        .await;
    let order: Vec<&str> = shown.body["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["emoji"].as_str().unwrap())
        .collect();
    assert_eq!(order, [&["👍"][..], &emoji[..]].concat());
    assert_eq!(shown.body["version"], 9);

    // Reactions change neither the unread count nor the message's edit time.
    let bobs = app
        .get(&format!("/api/conversations/{id}"), Some(&bob.access))
        .await;
    assert_eq!(bobs.body["unread_count"], 1);
    assert_eq!(bobs.body["last_version"], 9);
    assert_eq!(
        bobs.body["last_message"]["reactions"],
        shown.body["reactions"]
    );
    assert_eq!(shown.body["edited_at"], Value::Null);

    // Who reacted with 👍, paged one by one.
    react(app, &bob, id, message, "👍").await;
    let mut seen = Vec::new();
    let mut query = "?page_size=1".to_string();
    loop {
        let page = app
            .get(
                &format!("{}{query}", reaction_path(id, message, "👍")),
                Some(&carol.access),
            )
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for user in page.body["results"].as_array().unwrap() {
            assert!(user.get("email").is_none());
            seen.push(user["id"].as_i64().unwrap());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?page_size=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [alice.id, bob.id]);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_reactions_count_exactly_with_gap_free_versions_and_the_cap_holds(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let crowd = users(&app, 32).await;
    let id = group(&app, &alice, &crowd).await;
    let message = app.say(&alice, id, "vote").await;
    let states = instances(&app).await;

    let react_all = |users: Vec<TestUser>, emoji: fn(usize) -> String, method: &'static str| {
        let states = states.clone();
        async move {
            let mut reacting = tokio::task::JoinSet::new();
            for (i, user) in users.into_iter().enumerate() {
                let state = states[i % states.len()].clone();
                reacting.spawn(async move {
                    call_on(
                        &state,
                        method,
                        &reaction_path(id, message, &emoji(i)),
                        &user.access,
                        None,
                    )
                    .await
                });
            }
            reacting.join_all().await
        }
    };
    let answers = react_all(crowd.clone(), |_| "🎉".into(), "PUT").await;
    let versions: BTreeSet<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["version"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(versions, (2..=33).collect::<BTreeSet<_>>());
    let shown = app.messages(&alice, id, "?page_size=1").await;
    let reaction = &shown.body["results"][0]["reactions"][0];
    let order = stored_order(&app, message, "🎉").await;
    println!(
        "32 concurrent reactions: expected 32, count {}",
        reaction["count"]
    );
    assert_eq!(reaction["count"], 32);
    assert_eq!(order.len(), 32);
    assert_eq!(reaction["user_ids"], json!(order[..25]));
    assert_eq!(last_version(&app, id).await, 33);

    // Three of those shown take theirs back at once: the next ones move up.
    let leaving: Vec<TestUser> = crowd
        .iter()
        .filter(|u| order[..25].contains(&u.id))
        .take(3)
        .cloned()
        .collect();
    for (status, body) in react_all(leaving, |_| "🎉".into(), "DELETE").await {
        assert_eq!(status, 200, "{body}");
    }
    let shown = app.messages(&alice, id, "?page_size=1").await;
    let reaction = &shown.body["results"][0]["reactions"][0];
    let order = stored_order(&app, message, "🎉").await;
    assert_eq!(reaction["count"], 29);
    assert_eq!(reaction["user_ids"], json!(order[..25]));
    assert_eq!(last_version(&app, id).await, 36);

    // 32 different emoji at once on a fresh message: exactly 20 are taken.
    let capped = app.say(&alice, id, "pick one").await;
    let mut reacting = tokio::task::JoinSet::new();
    for (i, user) in crowd.iter().cloned().enumerate() {
        let state = states[i % states.len()].clone();
        reacting.spawn(async move {
            call_on(
                &state,
                "PUT",
                &reaction_path(id, capped, &format!(":e{i}:")),
                &user.access,
                None,
            )
            .await
        });
    }
    let answers = reacting.join_all().await;
    let taken: Vec<i64> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["version"].as_i64().unwrap())
        .collect();
    let refused = answers.iter().filter(|(status, _)| *status == 409).count();
    println!(
        "32 distinct emoji at once: {} taken, {refused} refused",
        taken.len()
    );
    assert_eq!((taken.len(), refused), (20, 12), "{answers:?}");
    let shown = app.messages(&alice, id, "?page_size=1").await;
    assert_eq!(
        shown.body["results"][0]["reactions"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // Adding to one of the twenty is no 21st.
    let existing = shown.body["results"][0]["reactions"][0]["emoji"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(react(&app, &alice, id, capped, &existing).await.status, 200);
    assert_eq!(react(&app, &alice, id, capped, ":new:").await.status, 409);
    // Every change took exactly one version.
    assert_eq!(last_version(&app, id).await, 36 + 1 + 20 + 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn reactions_refuse_bad_emoji_tombstones_and_strangers(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let other = app.conversation(&mallory, &[]).await;
    let message = app.say(&alice, id, "hi").await;
    let elsewhere = app.say(&mallory, other, "mine").await;

    for bad in ["a b", &"x".repeat(33), "x\u{7}", "\t"] {
        let answer = react(&app, &bob, id, message, bad).await;
        assert_eq!(answer.status, 400, "{bad:?}");
        assert!(
            answer.body["fields"]["emoji"].is_string(),
            "{:?}",
            answer.body
        );
    }
    let not_utf8 = app
        .call(
            Method::PUT,
            &format!("/api/conversations/{id}/messages/{message}/reactions/%FF"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(not_utf8.status, 400);
    assert!(not_utf8.body["fields"]["emoji"].is_string());

    // A stranger, and a message of another conversation: the same 404.
    let stranger = react(&app, &mallory, id, message, "👍").await;
    let wrong_conversation = react(&app, &bob, id, elsewhere, "👍").await;
    assert_eq!(stranger.status, 404);
    assert_eq!(wrong_conversation.status, 404);
    assert_eq!(stranger.body, wrong_conversation.body);
    let listing = app
        .get(&reaction_path(id, message, "👍"), Some(&mallory.access))
        .await;
    assert_eq!(listing.status, 404);

    // A tombstone takes none and shows none.
    react(&app, &bob, id, message, "👍").await;
    let deleted = app
        .delete(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(deleted.status, 204);
    for answer in [
        react(&app, &bob, id, message, "👍").await,
        take_back(&app, &bob, id, message, "👍").await,
    ] {
        assert_eq!(answer.status, 409, "{:?}", answer.body);
    }
    let tombstone = app
        .get(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(tombstone.body["reactions"], json!([]));
    assert!(stored_order(&app, message, "👍").await.is_empty());
    assert_eq!(last_version(&app, id).await, 3);
}

/// Every message of a thread, paged `page_size` at a time.
async fn whole_thread(
    app: &TestApp,
    reader: &TestUser,
    id: i64,
    first: i64,
    page_size: u32,
) -> Vec<Value> {
    let mut replies = Vec::new();
    let mut query = format!("?thread={first}&page_size={page_size}");
    loop {
        let page = app.messages(reader, id, &query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        replies.extend(page.body["results"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            // The cursor carries the thread: after and since beside it are
            // ignored.
            Some(cursor) => query = format!("?cursor={cursor}&since=0&page_size={page_size}"),
            None => return replies,
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn replies_join_one_flat_thread_and_count_exactly_under_concurrency(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let crowd = users(&app, 32).await;
    let bob = &crowd[0];
    let id = group(&app, &alice, &crowd).await;
    let first = app.say(&alice, id, "plans for friday").await;

    let reply = async |sender: &TestUser, to: i64, text: &str| {
        app.send_message(sender, id, json!({"body": text, "reply_to": to}))
            .await
    };
    let one = reply(bob, first, "pizza").await;
    assert_eq!(one.status, 201, "{:?}", one.body);
    assert_eq!(one.body["reply_to"], first);
    assert_eq!(one.body["thread_id"], first);
    assert_eq!(one.body["reply_count"], 0);
    // A reply to a reply joins the same thread.
    let two = reply(&alice, one.body["id"].as_i64().unwrap(), "with olives").await;
    assert_eq!(two.body["reply_to"], one.body["id"]);
    assert_eq!(two.body["thread_id"], first);

    // 32 replies at once, each from another sender, through four instances.
    let states = instances(&app).await;
    let mut replying = tokio::task::JoinSet::new();
    for (i, user) in crowd.iter().cloned().enumerate() {
        let state = states[i % states.len()].clone();
        replying.spawn(async move {
            call_on(
                &state,
                "POST",
                &format!("/api/conversations/{id}/messages"),
                &user.access,
                Some(json!({"body": format!("reply {i}"), "reply_to": first})),
            )
            .await
        });
    }
    for (status, body) in replying.join_all().await {
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["thread_id"], first);
    }
    let shown = app
        .get(
            &format!("/api/conversations/{id}/messages/{first}"),
            Some(&bob.access),
        )
        .await;
    println!(
        "34 replies, 32 of them concurrent: reply_count {}",
        shown.body["reply_count"]
    );
    assert_eq!(shown.body["reply_count"], 34);
    // The first message's count rose without a new version.
    assert_eq!(shown.body["version"], 1);
    assert_eq!(shown.body["thread_id"], Value::Null);
    assert_eq!(last_version(&app, id).await, 35);

    // The thread, oldest first, with no repeat and no gap, while other
    // messages and more replies arrive between pages.
    let mut replies = Vec::new();
    let mut query = format!("?thread={first}&page_size=5");
    let mut arrivals = 0;
    loop {
        let page = app.messages(&alice, id, &query).await;
        assert_eq!(page.status, 200);
        replies.extend(page.body["results"].as_array().unwrap().iter().cloned());
        if arrivals < 3 {
            app.say(bob, id, "not in the thread").await;
            assert_eq!(reply(bob, first, "late").await.status, 201);
            arrivals += 1;
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?cursor={cursor}&after=0&page_size=5"),
            None => break,
        }
    }
    let seqs: Vec<i64> = replies.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(replies.len(), 34 + 3);
    assert!(replies.iter().all(|m| m["thread_id"] == first));
    assert_eq!(
        whole_thread(&app, &alice, id, first, 100).await.len(),
        replies.len()
    );

    // A tombstone stays in its thread and in the count; a reply to one is
    // allowed.
    let gone = one.body["id"].as_i64().unwrap();
    app.delete(
        &format!("/api/conversations/{id}/messages/{gone}"),
        Some(&bob.access),
    )
    .await;
    let answer = reply(&alice, gone, "about the deleted one").await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["thread_id"], first);
    let thread = whole_thread(&app, &alice, id, first, 100).await;
    assert_eq!(thread.len(), 38);
    assert!(
        thread
            .iter()
            .any(|m| m["id"] == gone && m["body"].is_null())
    );
    let shown = app
        .get(
            &format!("/api/conversations/{id}/messages/{first}"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(shown.body["reply_count"], 38);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_reply_to_another_conversation_is_a_400_that_leaks_nothing_and_thread_is_checked(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let secret = app.conversation(&mallory, &[]).await;
    let first = app.say(&alice, id, "hi").await;
    let hidden = app.say(&mallory, secret, "hidden").await;

    let elsewhere = app
        .send_message(&alice, id, json!({"body": "x", "reply_to": hidden}))
        .await;
    let missing = app
        .send_message(&alice, id, json!({"body": "x", "reply_to": hidden + 1000}))
        .await;
    assert_eq!(elsewhere.status, 400);
    assert_eq!(elsewhere.body, missing.body);
    assert!(elsewhere.body["fields"]["reply_to"].is_string());
    for bad in [json!("1"), json!(0), json!(-1), json!(1.5), json!([first])] {
        let answer = app
            .send_message(&alice, id, json!({"body": "x", "reply_to": bad}))
            .await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(answer.body["fields"]["reply_to"].is_string(), "{bad}");
    }
    // Nothing was sent.
    let page = app.messages(&alice, id, "").await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(last_version(&app, id).await, 1);
    // null is no reply.
    let plain = app
        .send_message(&alice, id, json!({"body": "x", "reply_to": null}))
        .await;
    assert_eq!(plain.status, 201);
    assert_eq!(plain.body["thread_id"], Value::Null);

    for query in [
        "?thread=abc".to_string(),
        "?thread=0".into(),
        "?thread=-3".into(),
        format!("?thread={first}&after=0"),
        format!("?thread={first}&since=0"),
    ] {
        let answer = app.messages(&alice, id, &query).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.body["fields"]["thread"].is_string(), "{query}");
    }
    // Another conversation's message, and a stranger: the same 404.
    let other = app.messages(&alice, id, &format!("?thread={hidden}")).await;
    let stranger = app
        .messages(&mallory, id, &format!("?thread={first}"))
        .await;
    assert_eq!(other.status, 404);
    assert_eq!(stranger.status, 404);
    assert_eq!(other.body, stranger.body);
    // A message with no replies has an empty thread.
    let empty = app.messages(&alice, id, &format!("?thread={first}")).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["results"], json!([]));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn pages_with_reactions_and_replies_take_no_more_statements(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let plain = app.conversation(&alice, &[&bob]).await;
    let busy = app.conversation(&bob, &[&alice]).await;
    for n in 0..30 {
        app.say(&bob, plain, &format!("m{n}")).await;
    }
    let first = app.say(&bob, busy, "first").await;
    for n in 0..29 {
        let sent = app
            .send_message(
                &bob,
                busy,
                json!({"body": format!("r{n}"), "reply_to": first}),
            )
            .await;
        let message = sent.body["id"].as_i64().unwrap();
        if n < 10 {
            react(&app, &alice, busy, message, "👍").await;
            react(&app, &bob, busy, message, "🎉").await;
        }
    }
    let (page, plain_count) = count_statements(app.messages(&alice, plain, "?page_size=30")).await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 30);
    let (page, busy_count) = count_statements(app.messages(&alice, busy, "?page_size=30")).await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 30);
    assert_eq!(plain_count, busy_count);
    let (page, thread_count) =
        count_statements(app.messages(&alice, busy, &format!("?thread={first}&page_size=30")))
            .await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 29);
    let (_, since_count) = count_statements(app.messages(&alice, busy, "?since=0")).await;

    let (reacted, react_count) = count_statements(react(&app, &alice, busy, first, "👀")).await;
    assert_eq!(reacted.status, 200);
    let (again, repeat_count) = count_statements(react(&app, &alice, busy, first, "👀")).await;
    assert_eq!(again.status, 200);
    let (back, take_back_count) =
        count_statements(take_back(&app, &alice, busy, first, "👀")).await;
    assert_eq!(back.status, 200);
    let (listed, list_count) =
        count_statements(app.get(&reaction_path(busy, first + 1, "👍"), Some(&bob.access))).await;
    assert_eq!(listed.body["results"].as_array().unwrap().len(), 1);
    let (replied, reply_count) = count_statements(app.send_message(
        &alice,
        busy,
        json!({"body": "one more", "reply_to": first}),
    ))
    .await;
    assert_eq!(replied.status, 201);
    let (shown, show_count) = count_statements(app.get(
        &format!("/api/conversations/{busy}/messages/{first}"),
        Some(&alice.access),
    ))
    .await;
    assert_eq!(shown.status, 200);
    let group = app.conversation(&alice, &[&bob]).await;
    let (renamed, rename_count) = count_statements(app.call(
        Method::PATCH,
        &format!("/api/conversations/{group}"),
        Some(&bob.access),
        Some(json!({"title": "Renamed"})),
    ))
    .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let (members, members_count) = count_statements(app.get(
        &format!("/api/conversations/{busy}/participants"),
        Some(&alice.access),
    ))
    .await;
    assert_eq!(members.body["results"].as_array().unwrap().len(), 2);
    let (form, upload_count) = count_statements(app.post(
        "/api/uploads",
        Some(&alice.access),
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 1}),
    ))
    .await;
    assert_eq!(form.status, 201);
    println!(
        "statements: one message {show_count}, rename {rename_count}, participants page \
         {members_count}, upload form {upload_count}"
    );
    assert_eq!(show_count, plain_count);
    assert_eq!(upload_count, plain_count);
    assert_eq!(rename_count, 9);
    assert_eq!(members_count, 3);
    println!(
        "statements: page {plain_count} (with reactions and replies {busy_count}), \
         thread page {thread_count}, since page {since_count}, reaction {react_count}, \
         repeated reaction {repeat_count}, taking back {take_back_count}, \
         who reacted {list_count}, reply {reply_count}"
    );
    assert_eq!(thread_count, plain_count);
    assert_eq!(since_count, plain_count);
    assert_eq!(react_count, 10);
    assert_eq!(repeat_count, 8);
    assert_eq!(take_back_count, 10);
    assert_eq!(list_count, plain_count);
    // A plain send is 2 (authentication, the send_message procedure); a
    // reply reads its thread and counts in within the procedure.
    assert_eq!(reply_count, 2);
}
