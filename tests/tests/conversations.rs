//! The conversations function against the real MariaDB, a fresh database per test.

use api_tests::{TestApp, count_statements};
use serde_json::json;
use sqlx::MySqlPool;

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn creating_includes_the_caller_and_deduplicates_ids(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let response = app
        .post(
            "/api/conversations/",
            Some(&alice.access),
            json!({"participant_ids": [bob.id, carol.id, bob.id, alice.id], "title": "Plans ✈️"}),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let c = &response.body;
    assert!(c["id"].as_i64().unwrap() > 0);
    assert_eq!(c["title"], "Plans ✈️");
    assert_eq!(c["created_by"], alice.id);
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c["last_message"], json!(null));
    let ids: Vec<i64> = c["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![alice.id, bob.id, carol.id]);
    assert!(
        c["participants"][0].get("email").is_none(),
        "participants must not carry emails"
    );
    assert_eq!(
        c["participants"][1],
        json!({"id": bob.id, "username": "bob", "first_name": "", "last_name": ""})
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn an_unknown_participant_id_is_a_400_and_creates_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    for ids in [json!([bob.id, 999_999]), json!([-1]), json!([0])] {
        let response = app
            .post(
                "/api/conversations",
                Some(&alice.access),
                json!({"participant_ids": ids}),
            )
            .await;
        assert_eq!(response.status, 400, "{ids}");
        assert_eq!(response.body, json!({"error": "Invalid participant IDs."}));
    }
    let count: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conversations")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count.0, 0);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn creation_input_is_validated(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let too_many: Vec<i64> = (1..=101).collect();
    let cases = [
        json!({}),
        json!({"participant_ids": []}),
        json!({"participant_ids": too_many}),
        json!({"participant_ids": "1,2"}),
        json!({"participant_ids": ["a"]}),
        json!({"participant_ids": [1.5]}),
        json!({"participant_ids": [bob.id], "title": "t".repeat(256)}),
        json!({"participant_ids": [bob.id], "title": 5}),
        json!({"participant_ids": [bob.id], "admin": true}),
    ];
    for body in cases {
        let response = app
            .post("/api/conversations", Some(&alice.access), body.clone())
            .await;
        assert_eq!(response.status, 400, "{body}: {:?}", response.body);
        assert!(response.body["error"].is_string());
    }
    let ok = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "title": "t".repeat(255)}),
        )
        .await;
    assert_eq!(ok.status, 201);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_conversation_with_only_oneself_is_allowed(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let response = app
        .post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [alice.id]}),
        )
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.body["participants"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn every_conversation_route_needs_a_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let id = app.conversation(&alice, &[]).await;
    let responses = [
        app.post(
            "/api/conversations",
            None,
            json!({"participant_ids": [alice.id]}),
        )
        .await,
        app.get("/api/conversations", None).await,
        app.get(&format!("/api/conversations/{id}"), None).await,
        app.post(
            &format!("/api/conversations/{id}/participants"),
            None,
            json!({"user_ids": [alice.id]}),
        )
        .await,
        app.delete(
            &format!("/api/conversations/{id}/participants/{}", alice.id),
            None,
        )
        .await,
        app.get(&format!("/api/conversations/{id}"), Some("garbage"))
            .await,
    ];
    for response in responses {
        assert_eq!(response.status, 401, "{:?}", response.body);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn showing_a_conversation_answers_it_with_its_last_message(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, id, "first").await;
    let last = app.say(&bob, id, "second").await;
    let response = app
        .get(&format!("/api/conversations/{id}/"), Some(&alice.access))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["id"], id);
    assert_eq!(response.body["last_message"]["id"], last);
    assert_eq!(response.body["last_message"]["body"], "second");
    assert_eq!(response.body["last_message"]["sender"]["username"], "bob");
}

/// The one answer for every conversation the caller may not see.
fn assert_hidden(response: &api_tests::TestResponse) {
    assert_eq!(response.status, 404, "{:?}", response.body);
    assert_eq!(response.body, json!({"error": "Not found."}));
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn strangers_removed_participants_and_missing_ids_get_the_same_404_everywhere(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let (alice, bob, eve) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("eve").await,
    );
    let id = app.conversation(&alice, &[&bob]).await;
    app.say(&alice, id, "hello").await;
    assert_eq!(
        app.delete(
            &format!("/api/conversations/{id}/participants/{}", bob.id),
            Some(&bob.access)
        )
        .await
        .status,
        204
    );

    let cases = [(&eve, id), (&bob, id), (&alice, 987_654), (&eve, 987_654)];
    for (who, conversation) in cases {
        let token = Some(who.access.as_str());
        assert_hidden(
            &app.get(&format!("/api/conversations/{conversation}"), token)
                .await,
        );
        assert_hidden(
            &app.post(
                &format!("/api/conversations/{conversation}/participants"),
                token,
                json!({"user_ids": [who.id]}),
            )
            .await,
        );
        assert_hidden(
            &app.delete(
                &format!(
                    "/api/conversations/{conversation}/participants/{}",
                    alice.id
                ),
                token,
            )
            .await,
        );
        assert_hidden(
            &app.delete(
                &format!("/api/conversations/{conversation}/participants/{}", who.id),
                token,
            )
            .await,
        );
        assert_hidden(
            &app.send_message(who, conversation, json!({"body": "let me in"}))
                .await,
        );
        assert_hidden(&app.messages(who, conversation, "").await);
        assert_hidden(&app.messages(who, conversation, "?after=1").await);
    }
    for raw in ["abc", "-1", "0", "99999999999999999999999"] {
        assert_hidden(
            &app.get(&format!("/api/conversations/{raw}"), Some(&alice.access))
                .await,
        );
        assert_hidden(
            &app.get(
                &format!("/api/conversations/{raw}/messages"),
                Some(&alice.access),
            )
            .await,
        );
    }
    // Nothing the outsiders tried was stored.
    let stored: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, 1);
    let members: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM conversation_participants")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(members.0, 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn any_participant_may_add_users_who_then_see_the_conversation(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let id = app.conversation(&alice, &[&bob]).await;
    let response = app
        .post(
            &format!("/api/conversations/{id}/participants/"),
            Some(&bob.access),
            json!({"user_ids": [carol.id, alice.id]}),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["participants"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.get(&format!("/api/conversations/{id}"), Some(&carol.access))
            .await
            .status,
        200
    );
    let listed = app.get("/api/conversations", Some(&carol.access)).await;
    assert_eq!(listed.body["results"][0]["id"], id);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn adding_an_unknown_user_is_a_400_and_adds_nobody(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let id = app.conversation(&alice, &[&bob]).await;
    let response = app
        .post(
            &format!("/api/conversations/{id}/participants"),
            Some(&alice.access),
            json!({"user_ids": [carol.id, 424_242]}),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body, json!({"error": "Invalid participant IDs."}));
    assert_hidden(
        &app.get(&format!("/api/conversations/{id}"), Some(&carol.access))
            .await,
    );
    for body in [json!({}), json!({"user_ids": []}), json!({"user_ids": "x"})] {
        let bad = app
            .post(
                &format!("/api/conversations/{id}/participants"),
                Some(&alice.access),
                body,
            )
            .await;
        assert_eq!(bad.status, 400);
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_participant_may_leave_and_then_sees_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    let response = app
        .delete(
            &format!("/api/conversations/{id}/participants/{}/", bob.id),
            Some(&bob.access),
        )
        .await;
    assert_eq!(response.status, 204);
    assert_hidden(
        &app.get(&format!("/api/conversations/{id}"), Some(&bob.access))
            .await,
    );
    assert_eq!(
        app.get("/api/conversations", Some(&bob.access)).await.body["results"],
        json!([])
    );
    let remaining = app
        .get(&format!("/api/conversations/{id}"), Some(&alice.access))
        .await;
    assert_eq!(remaining.body["participants"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn only_the_creator_removes_others(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let id = app.conversation(&alice, &[&bob, &carol]).await;

    let refused = app
        .delete(
            &format!("/api/conversations/{id}/participants/{}", carol.id),
            Some(&bob.access),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body["error"].is_string());
    assert_eq!(
        app.get(&format!("/api/conversations/{id}"), Some(&carol.access))
            .await
            .status,
        200
    );

    let removed = app
        .delete(
            &format!("/api/conversations/{id}/participants/{}", carol.id),
            Some(&alice.access),
        )
        .await;
    assert_eq!(removed.status, 204);
    assert_hidden(
        &app.get(&format!("/api/conversations/{id}"), Some(&carol.access))
            .await,
    );
    // Removing someone who is not (or no longer) a participant.
    assert_hidden(
        &app.delete(
            &format!("/api/conversations/{id}/participants/{}", carol.id),
            Some(&alice.access),
        )
        .await,
    );
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn my_conversations_list_by_latest_activity(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let first = app.conversation(&alice, &[&bob]).await;
    let second = app.conversation(&alice, &[]).await;
    let third = app.conversation(&bob, &[&alice]).await;
    let _not_mine = app.conversation(&bob, &[]).await;

    let ids = |body: &serde_json::Value| -> Vec<i64> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    let listed = app.get("/api/conversations", Some(&alice.access)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(ids(&listed.body), vec![third, second, first]);
    assert_eq!(listed.body["next_cursor"], json!(null));

    app.say(&bob, first, "bump").await;
    let listed = app.get("/api/conversations/", Some(&alice.access)).await;
    assert_eq!(ids(&listed.body), vec![first, third, second]);
    assert_eq!(listed.body["results"][0]["last_message"]["body"], "bump");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn conversation_pages_cover_every_conversation_once(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(app.conversation(&alice, &[]).await);
    }
    let mut seen = Vec::new();
    let mut query = "?page_size=3".to_string();
    loop {
        let page = app
            .get(&format!("/api/conversations{query}"), Some(&alice.access))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let results = page.body["results"].as_array().unwrap();
        assert!(results.len() <= 3);
        seen.extend(results.iter().map(|c| c["id"].as_i64().unwrap()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?page_size=3&cursor={cursor}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn conversation_cursors_are_bound_to_their_user_and_page_sizes_are_checked(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    for _ in 0..3 {
        app.conversation(&alice, &[&bob]).await;
    }
    let page = app
        .get("/api/conversations?page_size=1", Some(&alice.access))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let stolen = app
        .get(
            &format!("/api/conversations?cursor={cursor}"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(stolen.status, 400);
    assert_eq!(stolen.error(), "Invalid cursor.");
    for query in [
        "?page_size=abc",
        "?page_size=0",
        "?page_size=-1",
        "?cursor=forged",
        "?cursor=",
        "?page=2",
    ] {
        let response = app
            .get(&format!("/api/conversations{query}"), Some(&alice.access))
            .await;
        assert_eq!(response.status, 400, "{query}");
    }
    let clamped = app
        .get("/api/conversations?page_size=1000", Some(&alice.access))
        .await;
    assert_eq!(clamped.status, 200);
    assert_eq!(clamped.body["results"].as_array().unwrap().len(), 3);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn listing_conversations_takes_three_statements_whatever_the_page(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let others = [app.user("bob").await, app.user("carol").await];
    for _ in 0..20 {
        let id = app.conversation(&alice, &[&others[0], &others[1]]).await;
        for n in 0..5 {
            app.say(&alice, id, &format!("message {n}")).await;
        }
    }
    let (small, small_count) =
        count_statements(app.get("/api/conversations?page_size=2", Some(&alice.access))).await;
    let (full, full_count) =
        count_statements(app.get("/api/conversations?page_size=20", Some(&alice.access))).await;
    assert_eq!(small.status, 200);
    assert_eq!(full.body["results"].as_array().unwrap().len(), 20);
    assert_eq!(
        full.body["results"][0]["participants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(full.body["results"][0]["last_message"]["body"], "message 4");
    println!("list conversations: {small_count} statements for 2, {full_count} for 20");
    assert_eq!(small_count, 3);
    assert_eq!(full_count, 3);

    // A cold production pool: the connection it opens on the way, and that
    // connection's session set-up, are not the request's statements.
    let cold = app.production_state(2).await;
    let request = lambda_http::http::Request::builder()
        .uri("/api/conversations")
        .header("authorization", format!("Bearer {}", alice.access))
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (response, cold_count) =
        count_statements(api_tests::Gateway::new().handle(&cold, request)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cold_count, 3, "on a cold pool");

    let id = full.body["results"][0]["id"].as_i64().unwrap();
    let (shown, show_count) =
        count_statements(app.get(&format!("/api/conversations/{id}"), Some(&alice.access))).await;
    assert_eq!(shown.status, 200);
    println!("show conversation: {show_count} statements");
    assert_eq!(show_count, 3);

    let (members, members_count) = count_statements(app.get(
        &format!("/api/conversations/{id}/participants"),
        Some(&alice.access),
    ))
    .await;
    assert_eq!(members.status, 200);
    assert_eq!(members_count, 3);

    // Opening a direct conversation: authentication, the users check, then
    // BEGIN, the conversation, its participants, the events for connected
    // recipients, COMMIT, and the caller's view (conversation, participants).
    // Opening it again finds it. Adding queues `joined` and `updated`.
    let bob = app.user("bob-direct").await;
    let open = || {
        app.post(
            "/api/conversations",
            Some(&alice.access),
            json!({"participant_ids": [bob.id], "direct": true}),
        )
    };
    let (opened, open_count) = count_statements(open()).await;
    assert_eq!(opened.status, 201);
    assert_eq!(open_count, 9);
    let (again, again_count) = count_statements(open()).await;
    assert_eq!(again.status, 200);
    println!("open direct: {open_count} statements, {again_count} when it exists");
    assert_eq!(again_count, 12);

    let carol = app.user("carol-added").await;
    let (added, add_count) = count_statements(app.post(
        &format!("/api/conversations/{id}/participants"),
        Some(&alice.access),
        json!({"user_ids": [carol.id]}),
    ))
    .await;
    assert_eq!(added.status, 200);
    println!("add participants: {add_count} statements");
    assert_eq!(add_count, 14);
}
