//! No page's body passes 1 MiB, far below Lambda's 6 MB response limit: a page
//! of large items stops early and its cursor continues where it stopped.

use std::collections::HashSet;

use api_tests::{TestApp, TestUser};
use shared::pagination::MAX_PAGE_BYTES;
use sqlx::MySqlPool;

/// A legal body whose JSON is six times its length: 10,000 × U+0001.
fn heavy_body() -> String {
    "\u{1}".repeat(10_000)
}

/// Follows `next_cursor` from `first` to the end; every body under the bound.
async fn walk(app: &TestApp, who: &TestUser, path: &str, first: &str) -> (Vec<i64>, Vec<usize>) {
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut query = first.to_string();
    loop {
        let response = app
            .call(
                lambda_http::http::Method::GET,
                &format!("{path}{query}"),
                Some(&who.access),
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{path}{query}");
        let size = response.body.to_string().len();
        assert!(size <= MAX_PAGE_BYTES, "{path}{query}: {size} bytes");
        sizes.push(size);
        ids.extend(
            response.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["id"].as_i64().unwrap()),
        );
        match response.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?page_size=100&cursor={cursor}"),
            None => return (ids, sizes),
        }
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_page_of_heavy_messages_stops_before_1_mib_and_continues(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let id = app.conversation(&alice, &[&bob]).await;
    for _ in 0..100 {
        app.say(&alice, id, &heavy_body()).await;
    }
    let unbounded: usize = 100 * serde_json::to_string(&heavy_body()).unwrap().len();
    let path = format!("/api/conversations/{id}/messages");
    for first in [
        "?page_size=100",
        "?page_size=100&after=0",
        "?page_size=100&since=0",
    ] {
        let (ids, sizes) = walk(&app, &bob, &path, first).await;
        assert_eq!(ids.len(), 100, "{first}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 100, "{first}");
        assert!(sizes.len() >= 6, "{first}: {sizes:?}");
        println!("{first}: pages of {sizes:?} bytes instead of one of {unbounded}");
    }
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_page_of_conversations_with_heavy_last_messages_stays_under_1_mib(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let mut created = HashSet::new();
    for _ in 0..100 {
        let id = app.conversation(&alice, &[&bob]).await;
        app.say(&alice, id, &heavy_body()).await;
        created.insert(id);
    }
    let (ids, sizes) = walk(&app, &bob, "/api/conversations", "?page_size=100").await;
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), created);
    assert!(sizes.len() >= 6, "{sizes:?}");
}
