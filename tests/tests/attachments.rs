//! Attachments through a real S3-compatible server that checks signatures:
//! a signed form puts the file straight into storage, a send attaches it
//! all or nothing, downloads are signed URLs, and the maintenance run
//! removes what no message shows.

use api_tests::storage::{self, Answer, ensure_bucket, post_form};
use api_tests::websocket::{Stack, next_json};
use api_tests::{TestApp, TestResponse, TestUser, call_on, count_statements};
use chrono::TimeDelta;
use serde_json::{Map, Value, json};
use sqlx::MySqlPool;

async fn form(app: &TestApp, user: &TestUser, body: Value) -> TestResponse {
    app.post("/api/uploads", Some(&user.access), body).await
}

/// A form for `bytes` of `content_type`, filled and posted; the upload id.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> String {
    ensure_bucket().await;
    let answer = form(
        app,
        user,
        json!({"filename": name, "content_type": content_type, "size": bytes.len()}),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let posted = post(&answer.body, content_type, bytes).await;
    assert!(
        (200..300).contains(&posted.status),
        "storage took the file: {} {}",
        posted.status,
        String::from_utf8_lossy(&posted.body)
    );
    answer.body["upload_id"].as_str().unwrap().to_string()
}

async fn post(form: &Value, content_type: &str, bytes: &[u8]) -> Answer {
    let fields: &Map<String, Value> = form["fields"].as_object().unwrap();
    post_form(form["url"].as_str().unwrap(), fields, content_type, bytes).await
}

async fn get(url: &str) -> Answer {
    storage::request("GET", url, None, Vec::new()).await
}

async fn last_seq(app: &TestApp, conversation: i64) -> i64 {
    sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = ?")
        .bind(conversation)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn purge(app: &TestApp) -> u64 {
    let store = storage::store(&storage::config());
    let mut conn = app.pool().acquire().await.unwrap();
    shared::storage::remove_unneeded(&mut conn, &store, shared::time::now())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_file_goes_straight_to_storage_and_a_send_attaches_it(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let id = app.conversation(&alice, &[&bob]).await;

    ensure_bucket().await;
    let answer = form(
        &app,
        &alice,
        json!({"filename": "notes \"v2\".txt", "content_type": "text/plain", "size": 11}),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(answer.body["expires_in"], 900);
    assert!(answer.body["upload_id"].is_string());
    let posted = post(&answer.body, "text/plain", b"hello world").await;
    assert!((200..300).contains(&posted.status), "{}", posted.status);
    let text = answer.body["upload_id"].as_str().unwrap().to_string();
    let picture = upload(&app, &alice, "cat.png", "image/png", b"\x89PNG not really").await;

    // No text, two files.
    let sent = app
        .send_message(&alice, id, json!({"attachments": [text, picture]}))
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    assert_eq!(sent.body["body"], "");
    let attachments = sent.body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["id"], Value::from(text.clone()));
    assert_eq!(attachments[0]["filename"], "notes \"v2\".txt");
    assert_eq!(attachments[0]["content_type"], "text/plain");
    assert_eq!(attachments[0]["size"], 11);

    // Bob downloads both: the text as a file, the picture inline.
    let message = sent.body["id"].as_i64().unwrap();
    let shown = app
        .get(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&bob.access),
        )
        .await;
    let shown = shown.body["attachments"].as_array().unwrap().clone();
    let file = get(shown[0]["url"].as_str().unwrap()).await;
    assert_eq!(file.status, 200, "{}", String::from_utf8_lossy(&file.body));
    assert_eq!(file.body, b"hello world");
    let disposition = file.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("notes _v2_.txt"), "{disposition}");
    let image = get(shown[1]["url"].as_str().unwrap()).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.body, b"\x89PNG not really");
    assert_eq!(image.headers["content-type"], "image/png");
    assert!(
        image
            .headers
            .get("content-disposition")
            .is_none_or(|d| !d.to_str().unwrap().starts_with("attachment")),
    );
    // A URL altered in any way is refused; the bucket is not public.
    let url = shown[0]["url"].as_str().unwrap();
    let forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(get(&forged).await.status, 403);
    let anonymous = url.split('?').next().unwrap();
    assert_eq!(get(anonymous).await.status, 403);

    // Pages, the conversation and an edit all carry them; a stranger sees
    // nothing.
    let page = app.messages(&bob, id, "").await;
    assert_eq!(
        page.body["results"][0]["attachments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let conversation = app
        .get(&format!("/api/conversations/{id}"), Some(&bob.access))
        .await;
    assert_eq!(
        conversation.body["last_message"]["attachments"][0]["id"],
        Value::from(text.clone())
    );
    let edited = app
        .patch(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&alice.access),
            json!({"body": "the notes"}),
        )
        .await;
    assert_eq!(edited.body["attachments"].as_array().unwrap().len(), 2);
    let stranger = app
        .get(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&mallory.access),
        )
        .await;
    assert_eq!(stranger.status, 404);
    assert!(stranger.body.get("attachments").is_none());

    // A page with attachments costs what a page without them costs.
    app.say(&alice, id, "plain").await;
    let (_, with_files) = count_statements(app.messages(&bob, id, "?page_size=2")).await;
    let other = app.conversation(&bob, &[&alice]).await;
    app.say(&alice, other, "one").await;
    app.say(&alice, other, "two").await;
    let (_, without) = count_statements(app.messages(&bob, other, "?page_size=2")).await;
    assert_eq!(with_files, without);

    // Deleted: the tombstone lists none, and the maintenance run removes the
    // files.
    let deleted = app
        .delete(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(deleted.status, 204);
    let tombstone = app
        .get(
            &format!("/api/conversations/{id}/messages/{message}"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(tombstone.body["attachments"], json!([]));
    assert!(purge(&app).await >= 2);
    assert_eq!(get(shown[0]["url"].as_str().unwrap()).await.status, 404);
    assert_eq!(get(shown[1]["url"].as_str().unwrap()).await.status, 404);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn storage_refuses_another_size_another_type_an_expired_form_and_a_forged_one(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    ensure_bucket().await;
    let answer = form(
        &app,
        &alice,
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 5}),
    )
    .await;
    assert_eq!(answer.status, 201);
    for bytes in [&b"123456"[..], &b"1234"[..]] {
        let refused = post(&answer.body, "text/plain", bytes).await;
        assert!(
            (400..500).contains(&refused.status),
            "{} bytes: {}",
            bytes.len(),
            refused.status
        );
    }
    // The object's type is the form's signed field: another one is refused.
    let mut retyped = answer.body.clone();
    retyped["fields"]["Content-Type"] = Value::from("text/html");
    assert!((400..500).contains(&post(&retyped, "text/html", b"12345").await.status));
    let mut forged = answer.body.clone();
    forged["fields"]["key"] = Value::from("attachments/someone-elses");
    assert!((400..500).contains(&post(&forged, "text/plain", b"12345").await.status));

    // A form handed out 16 minutes ago has expired.
    let store = storage::store(&storage::config());
    let old = store.upload_form(
        "attachments/expired",
        "text/plain",
        5,
        shared::time::now() - TimeDelta::minutes(16),
    );
    let old = serde_json::to_value(&old).unwrap();
    let refused = post(&old, "text/plain", b"12345").await;
    assert!((400..500).contains(&refused.status), "{}", refused.status);
    // The fitting file is taken.
    assert!((200..300).contains(&post(&answer.body, "text/plain", b"12345").await.status));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_send_with_an_upload_it_may_not_attach_sends_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let bobs = upload(&app, &bob, "b.txt", "text/plain", b"bob").await;
    let used = upload(&app, &alice, "a.txt", "text/plain", b"alice").await;
    let first = app
        .send_message(&alice, id, json!({"body": "first", "attachments": [used]}))
        .await;
    assert_eq!(first.status, 201);
    // A form taken but no file uploaded.
    let missing = form(
        &app,
        &alice,
        json!({"filename": "m.txt", "content_type": "text/plain", "size": 3}),
    )
    .await;
    let missing = missing.body["upload_id"].as_str().unwrap().to_string();
    // Uploaded at another size than declared cannot happen through the form;
    // a file put there directly is checked against the declared size.
    let wrong = form(
        &app,
        &alice,
        json!({"filename": "w.txt", "content_type": "text/plain", "size": 3}),
    )
    .await;
    let wrong = wrong.body["upload_id"].as_str().unwrap().to_string();
    storage::store(&storage::config())
        .client()
        .put_object()
        .bucket(storage::BUCKET)
        .key(shared::store::uploads::key_of(&wrong))
        .content_type("text/plain")
        .body(b"longer than three".to_vec().into())
        .send()
        .await
        .unwrap();
    let fresh = upload(&app, &alice, "ok.txt", "text/plain", b"ok").await;
    let before = last_seq(&app, id).await;
    for (attachments, why) in [
        (json!([bobs]), "another user's"),
        (json!([used]), "already attached"),
        (json!([missing]), "never uploaded"),
        (json!([wrong]), "another size"),
        (json!([fresh, bobs]), "one of two another user's"),
        (json!("not a list"), "not a list"),
        (json!([]), "empty"),
        (json!([fresh, fresh]), "twice"),
        (
            json!((0..11).map(|i| format!("u{i}")).collect::<Vec<_>>()),
            "eleven",
        ),
        (json!([1]), "not a string"),
        (json!(["\u{e5}caX\u{0}"]), "not an upload id"),
        (json!(["x".repeat(65)]), "too long for an upload id"),
    ] {
        let refused = app
            .send_message(&alice, id, json!({"body": "x", "attachments": attachments}))
            .await;
        assert_eq!(refused.status, 400, "{why}: {:?}", refused.body);
        assert!(refused.body["fields"]["attachments"].is_string(), "{why}");
    }
    assert_eq!(last_seq(&app, id).await, before, "nothing was sent");
    // The fresh upload is still free.
    let sent = app
        .send_message(&alice, id, json!({"attachments": [fresh]}))
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    // A retry of that send is answered from what was stored.
    let retried = app
        .send_message(
            &alice,
            id,
            json!({"body": "with key", "client_id": "k1", "attachments": [upload(&app, &alice, "k.txt", "text/plain", b"k").await]}),
        )
        .await;
    assert_eq!(retried.status, 201);
    let ids: Vec<Value> = retried.body["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    let again = app
        .send_message(
            &alice,
            id,
            json!({"body": "with key", "client_id": "k1", "attachments": ids}),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["id"], retried.body["id"]);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn concurrent_sends_racing_for_one_upload_attach_it_once(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let upload_id = upload(&app, &alice, "race.txt", "text/plain", b"race").await;
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(app.production_state(4).await);
    }
    let mut sending = tokio::task::JoinSet::new();
    for i in 0..8 {
        let state = instances[i % 4].clone();
        let token = alice.access.clone();
        let upload_id = upload_id.clone();
        sending.spawn(async move {
            call_on(
                &state,
                "POST",
                &format!("/api/conversations/{id}/messages"),
                &token,
                Some(json!({"body": format!("try {i}"), "attachments": [upload_id]})),
            )
            .await
        });
    }
    let answers = sending.join_all().await;
    let won = answers.iter().filter(|(status, _)| *status == 201).count();
    let lost = answers.iter().filter(|(status, _)| *status == 400).count();
    println!("8 sends racing for one upload: {won} attached it, {lost} refused");
    assert_eq!((won, lost), (1, 7), "{answers:?}");
    assert_eq!(last_seq(&app, id).await, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn upload_forms_refuse_bad_fields_and_old_unattached_uploads_are_removed(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    ensure_bucket().await;
    let good = json!({"filename": "a.txt", "content_type": "text/plain", "size": 1});
    for (field, value) in [
        ("filename", json!("")),
        ("filename", json!("a/b.txt")),
        ("filename", json!("a\\b.txt")),
        ("filename", json!("a\u{1}b")),
        ("filename", json!("x".repeat(256))),
        ("filename", json!(null)),
        ("content_type", json!("text")),
        ("content_type", json!("text/plain; charset=utf-8")),
        ("content_type", json!(7)),
        ("size", json!(0)),
        ("size", json!(-1)),
        ("size", json!("5")),
        ("size", json!(1.5)),
        ("size", json!(storage::MAX_BYTES + 1)),
    ] {
        let mut body = good.clone();
        body[field] = value.clone();
        let refused = form(&app, &alice, body).await;
        assert_eq!(refused.status, 400, "{field} = {value}: {:?}", refused.body);
        assert!(
            refused.body["fields"][field].is_string(),
            "{field} = {value}: {:?}",
            refused.body
        );
    }
    let anonymous = app.post("/api/uploads", None, good.clone()).await;
    assert_eq!(anonymous.status, 401);

    // An upload left unattached for a day goes, file and row; a fresh one
    // stays.
    let old = upload(&app, &alice, "old.txt", "text/plain", b"old").await;
    let fresh = upload(&app, &alice, "fresh.txt", "text/plain", b"fresh").await;
    sqlx::query("UPDATE uploads SET created_at = created_at - INTERVAL 25 HOUR WHERE id = ?")
        .bind(&old)
        .execute(app.pool())
        .await
        .unwrap();
    assert_eq!(purge(&app).await, 1);
    let store = storage::store(&storage::config());
    let key = |id: &str| shared::store::uploads::key_of(id);
    assert!(store.stored(&key(&old)).await.unwrap().is_none());
    assert!(store.stored(&key(&fresh)).await.unwrap().is_some());
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_pushed_message_carries_download_urls_signed_by_the_fanout_function(pool: MySqlPool) {
    let stack = Stack::start(pool).await;
    let app = &stack.app;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = app.conversation(&alice, &[&bob]).await;
    let file = upload(app, &alice, "plan.pdf", "application/pdf", b"%PDF-1.7 plan").await;
    let mut bobs = stack.connect(&bob).await;
    let sent = app
        .send_message(
            &alice,
            id,
            json!({"body": "the plan", "attachments": [file]}),
        )
        .await;
    assert_eq!(sent.status, 201);
    let event = loop {
        let event = next_json(&mut bobs).await;
        if event["type"] == "message.created" && event["message"]["id"] == sent.body["id"] {
            break event;
        }
    };
    let url = event["message"]["attachments"][0]["url"].as_str().unwrap();
    let download = get(url).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body, b"%PDF-1.7 plan");
}
