//! Search through the full-text index, over the caller's conversations only:
//! every word required as a prefix, case and accents ignored, current text
//! only, newest first, keyset-paged with a cursor bound to its query.

use std::collections::BTreeSet;

use api_tests::{TestApp, TestResponse, TestUser, count_statements};
use serde_json::{Value, json};
use sqlx::MySqlPool;

async fn search(app: &TestApp, user: &TestUser, query: &str) -> TestResponse {
    app.get(&format!("/api/messages/search?{query}"), Some(&user.access))
        .await
}

fn ids(page: &TestResponse) -> Vec<i64> {
    page.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {}", page.body))
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn search_finds_every_word_as_a_prefix_in_my_conversations_only(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    // 32 conversations with the same words; alice takes part in 16.
    let mut mine = Vec::new();
    let mut mine_messages = Vec::new();
    for i in 0..32 {
        let id = if i % 2 == 0 {
            app.conversation(&alice, &[&bob]).await
        } else {
            app.conversation(&bob, &[&carol]).await
        };
        let message = app
            .say(
                &bob,
                id,
                &format!("Quokka Lunchtime at the Café Olé, number {i}"),
            )
            .await;
        if i % 2 == 0 {
            mine.push(id);
            mine_messages.push(message);
        }
    }
    mine_messages.reverse();

    let found = search(&app, &alice, "q=quokka%20lunch%20cafe&page_size=100").await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(ids(&found), mine_messages, "newest first, mine only");
    // Case and accents are ignored; a word matches the start of a word.
    for query in [
        "q=QUOKKA%20CAF%C3%89",
        "q=quok%20ole",
        "q=lunchtime",
        "q=Caf%C3%A9%20Ol%C3%A9",
    ] {
        let page = search(&app, &alice, &format!("{query}&page_size=100")).await;
        assert_eq!(ids(&page), mine_messages, "{query}");
    }
    // Every word is required; a word in the middle of another is no match.
    let both = app.say(&alice, mine[0], "quokka and platypus").await;
    assert_eq!(
        ids(&search(&app, &alice, "q=quokka%20platypus").await),
        [both]
    );
    assert!(ids(&search(&app, &alice, "q=okka").await).is_empty());
    // Carol sees her own.
    assert_eq!(
        ids(&search(&app, &carol, "q=quokka&page_size=100").await).len(),
        16
    );

    // A left conversation is not searched.
    let left = app
        .delete(
            &format!("/api/conversations/{}/participants/{}", mine[1], alice.id),
            Some(&alice.access),
        )
        .await;
    assert_eq!(left.status, 204, "{:?}", left.body);
    let page = search(&app, &alice, "q=lunchtime&page_size=100").await;
    assert_eq!(ids(&page).len(), 15);
    assert!(!ids(&page).contains(&mine_messages[14]));

    // Current text only: an edit that removes a word; a tombstone.
    let edited = mine_messages[0];
    let answer = app
        .patch(
            &format!("/api/conversations/{}/messages/{edited}", mine[15]),
            Some(&bob.access),
            json!({"body": "Dinner instead"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(!ids(&search(&app, &alice, "q=lunchtime&page_size=100").await).contains(&edited));
    assert_eq!(ids(&search(&app, &alice, "q=dinner").await), [edited]);
    let deleted = mine_messages[1];
    app.delete(
        &format!("/api/conversations/{}/messages/{deleted}", mine[14]),
        Some(&bob.access),
    )
    .await;
    let page = search(&app, &alice, "q=lunchtime&page_size=100").await;
    assert!(!ids(&page).contains(&deleted));
    assert_eq!(ids(&page).len(), 13);

    // One conversation only; one she may not see is a 404.
    let one = search(
        &app,
        &alice,
        &format!("q=quokka&conversation_id={}", mine[0]),
    )
    .await;
    assert_eq!(ids(&one), [both, *mine_messages.last().unwrap()]);
    let theirs = app.conversation(&bob, &[&carol]).await;
    for conversation in [theirs, theirs + 1000, mine[1]] {
        let refused = search(
            &app,
            &alice,
            &format!("q=quokka&conversation_id={conversation}"),
        )
        .await;
        assert_eq!(refused.status, 404, "{conversation}");
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_query_with_nothing_searchable_is_a_clear_400(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let id = app.conversation(&alice, &[]).await;
    app.say(&alice, id, "at the zoo").await;
    for query in [
        "".to_string(),
        "q=".into(),
        "q=%20%20".into(),
        "q=%2B-*()".into(),
        format!("q={}", "x".repeat(201)),
        "q=at%20the".into(),
        "q=zo".into(),
    ] {
        let answer = search(&app, &alice, &query).await;
        assert_eq!(answer.status, 400, "{query}: {:?}", answer.body);
        assert!(answer.body["fields"]["q"].is_string(), "{query}");
    }
    let short = search(&app, &alice, "q=zo").await;
    assert!(
        short.body["fields"]["q"]
            .as_str()
            .unwrap()
            .contains("fewer than 3 characters"),
        "{:?}",
        short.body
    );
    // Short and common words beside a searchable one are left out.
    assert_eq!(
        ids(&search(&app, &alice, "q=at%20the%20zoo").await).len(),
        1
    );
    for query in ["q=zoo&conversation_id=abc", "q=zoo&conversation_id=0"] {
        let answer = search(&app, &alice, query).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.body["fields"]["conversation_id"].is_string());
    }
    let answer = search(&app, &alice, "q=zoo&page_size=0").await;
    assert_eq!(answer.status, 400);
    let answer = search(&app, &alice, "q=zoo&since=3").await;
    assert_eq!(answer.status, 400);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn paging_through_250_matches_repeats_nothing_and_misses_nothing(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = app.conversation(&alice, &[&bob]).await;
    let second = app.conversation(&bob, &[&alice]).await;
    let mut sent = BTreeSet::new();
    for i in 0..250 {
        let id = if i % 3 == 0 { first } else { second };
        sent.insert(app.say(&bob, id, &format!("wombat sighting {i}")).await);
        app.say(&bob, id, "nothing to see").await;
    }
    let mut seen = Vec::new();
    let mut query = "q=wombat&page_size=20".to_string();
    let mut pages = 0;
    loop {
        let (page, statements) = count_statements(search(&app, &alice, &query)).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        // The search is one statement after authentication.
        assert_eq!(statements, 2, "page {pages}");
        seen.extend(ids(&page));
        pages += 1;
        // Newer matches while paging do not shift the pages.
        app.say(&bob, first, "wombat late").await;
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("q=wombat&page_size=20&cursor={cursor}"),
            None => break,
        }
        // A cursor belongs to its query and its conversation filter.
        let other = search(
            &app,
            &alice,
            &format!(
                "q=sighting&cursor={cursor}",
                cursor = page.body["next_cursor"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(other.status, 400);
        let narrowed = search(
            &app,
            &alice,
            &format!(
                "q=wombat&conversation_id={first}&cursor={}",
                page.body["next_cursor"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(narrowed.status, 400);
    }
    assert_eq!(pages, 13);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), sent);
    assert_eq!(seen.len(), 250);
    let bobs = search(&app, &bob, "q=wombat&page_size=1").await;
    let cursor = bobs.body["next_cursor"].as_str().unwrap();
    // Another reader's cursor.
    let stolen = search(&app, &alice, &format!("q=wombat&cursor={cursor}")).await;
    assert_eq!(stolen.status, 400);
    assert_eq!(bobs.body["results"][0]["body"], Value::from("wombat late"));
}
