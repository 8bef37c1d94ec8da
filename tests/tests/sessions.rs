//! Refresh sessions end: an absolute lifetime from login, a purge of what can
//! no longer matter, a theft warning that names whom it concerns, and
//! concurrent rotations of one token that never both succeed.

use std::sync::{Arc, Mutex};

use api_tests::{PASSWORD, TestApp, call_on};
use chrono::TimeDelta;
use serde_json::{Value, json};
use shared::store::maintenance::{self, Purged};
use shared::time;
use sqlx::MySqlPool;

async fn count(app: &TestApp, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(app.pool())
        .await
        .unwrap();
    n
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_session_ends_at_its_maximum_age_however_often_it_rotates(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let mut token = alice.refresh.clone();
    for _ in 0..3 {
        let rotated = app.refresh(&token).await;
        assert_eq!(rotated.status, 200);
        token = rotated.body["refresh_token"].as_str().unwrap().to_string();
    }
    // The login was 30 days ago (the default maximum age) and one second.
    sqlx::query(
        "UPDATE refresh_token_families SET created_at = NOW(6) - INTERVAL 30 DAY - INTERVAL 1 SECOND",
    )
    .execute(app.pool())
    .await
    .unwrap();
    let ended = app.refresh(&token).await;
    assert_eq!(ended.status, 401);
    assert_eq!(ended.error(), "Invalid or expired refresh token.");
    // A new login starts a new session.
    let again = app.login(&alice.email, PASSWORD).await;
    let fresh = again.body["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(fresh).await.status, 200);
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn a_rotated_token_never_outlives_its_session(pool: MySqlPool) {
    let app = TestApp::with_config(pool, |c| {
        c.tokens.refresh_ttl = std::time::Duration::from_secs(14 * 24 * 3600);
    });
    let alice = app.user("alice").await;
    sqlx::query("UPDATE refresh_token_families SET created_at = NOW(6) - INTERVAL 29 DAY")
        .execute(app.pool())
        .await
        .unwrap();
    assert_eq!(app.refresh(&alice.refresh).await.status, 200);
    let latest: (chrono::NaiveDateTime, chrono::NaiveDateTime) = sqlx::query_as(
        "SELECT t.expires_at, f.created_at + INTERVAL 30 DAY FROM refresh_tokens t \
         JOIN refresh_token_families f ON f.id = t.family_id ORDER BY t.id DESC LIMIT 1",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(latest.0 <= latest.1, "{latest:?}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_purge_deletes_ended_sessions_expired_tokens_passed_windows_and_dead_websockets(
    pool: MySqlPool,
) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.user("carol").await;
    // Alice: a live session with one spent token and one live one.
    let live = app.refresh(&alice.refresh).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Bob logged out: his family is revoked.
    assert_eq!(app.logout(&bob.refresh).await.status, 204);
    // Carol's session is past its maximum age.
    sqlx::query(
        "UPDATE refresh_token_families f JOIN users u ON u.id = f.user_id \
         SET f.created_at = NOW(6) - INTERVAL 31 DAY WHERE u.username = 'carol'",
    )
    .execute(app.pool())
    .await
    .unwrap();
    // Dave: a live session whose one token has expired.
    let dave = app.user("dave").await;
    sqlx::query(
        "UPDATE refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id \
         SET t.expires_at = NOW(6) - INTERVAL 1 SECOND WHERE f.user_id = ?",
    )
    .bind(dave.id)
    .execute(app.pool())
    .await
    .unwrap();
    // Throttling rows: one window passed, one current.
    app.login("stale@example.org", "wrong").await;
    sqlx::query("UPDATE login_failures SET window_started_at = NOW(6) - INTERVAL 1 HOUR")
        .execute(app.pool())
        .await
        .unwrap();
    app.login("fresh@example.org", "wrong").await;
    // WebSocket tickets: one expired, one live; connections: one older than
    // any WebSocket lives, one current.
    for issued in [time::now() - TimeDelta::minutes(2), time::now()] {
        shared::realtime::issue_ticket(
            &mut app.pool().acquire().await.unwrap(),
            dave.id,
            None,
            issued,
        )
        .await
        .unwrap();
    }
    for (id, age) in [
        ("old=", TimeDelta::hours(3)),
        ("new=", TimeDelta::minutes(5)),
    ] {
        shared::store::realtime::insert_connection(
            &mut app.pool().acquire().await.unwrap(),
            id,
            dave.id,
            None,
            time::now() - age,
        )
        .await
        .unwrap();
    }

    // Conversation events: one queued two hours ago, one just now.
    for age in [TimeDelta::hours(2), TimeDelta::zero()] {
        sqlx::query(
            "INSERT INTO realtime_outbox (conversation_id, user_id, kind, created_at) \
             VALUES (1, ?, 'left', ?)",
        )
        .bind(dave.id)
        .bind((time::now() - age).naive_utc())
        .execute(app.pool())
        .await
        .unwrap();
    }

    // Typing states: one of two hours ago, one current.
    let talk = app.conversation(&dave, &[]).await;
    for (user, age) in [(dave.id, TimeDelta::hours(2)), (bob.id, TimeDelta::zero())] {
        sqlx::query(
            "INSERT INTO typing_states (conversation_id, user_id, typing_at) VALUES (?, ?, ?)",
        )
        .bind(talk)
        .bind(user)
        .bind((time::now() - age).naive_utc())
        .execute(app.pool())
        .await
        .unwrap();
    }

    let purged = maintenance::purge(
        &mut app.pool().acquire().await.unwrap(),
        time::now(),
        TimeDelta::days(30),
        TimeDelta::minutes(15),
    )
    .await
    .unwrap();
    assert_eq!(
        purged,
        Purged {
            families: 2,
            tokens: 1,
            login_failures: 1,
            tickets: 1,
            connections: 1,
            queued_events: 1,
            typing_states: 1,
        }
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM refresh_token_families").await,
        2
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM refresh_tokens").await, 2);
    let remaining: Vec<(String,)> = sqlx::query_as("SELECT email FROM login_failures")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert_eq!(remaining, [("fresh@example.org".to_string(),)]);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM realtime_tickets").await,
        1
    );
    let connections: Vec<(String,)> =
        sqlx::query_as("SELECT connection_id FROM realtime_connections")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(connections, [("new=".to_string(),)]);
    // Alice's spent token is kept: presenting it again still revokes her session.
    app.outlive_the_reuse_grace().await;
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
    assert_eq!(app.refresh(&live).await.status, 401);
    // A second purge finds nothing more to delete but Alice's revoked family.
    let again = maintenance::purge(
        &mut app.pool().acquire().await.unwrap(),
        time::now(),
        TimeDelta::days(30),
        TimeDelta::minutes(15),
    )
    .await
    .unwrap();
    assert_eq!(again.families, 1);
}

/// Collects the warnings logged while a test runs on its own thread.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() == tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_theft_warning_names_the_user_and_the_family_but_not_the_token(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    app.refresh(&alice.refresh).await;
    app.outlive_the_reuse_grace().await;
    let warnings = Warnings::default();
    let guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(warnings.clone()));
    assert_eq!(app.refresh(&alice.refresh).await.status, 401);
    drop(guard);
    let (family,): (Vec<u8>,) = sqlx::query_as("SELECT id FROM refresh_token_families")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let family: String = family.iter().map(|b| format!("{b:02x}")).collect();
    let logged = warnings.0.lock().unwrap().join("\n");
    assert!(
        logged.contains(&format!("user_id={}", alice.id)),
        "{logged}"
    );
    assert!(logged.contains(&family), "{logged}");
    assert!(!logged.contains(&alice.refresh), "{logged}");
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn two_rotations_of_one_token_at_once_one_succeeds_and_the_family_lives(pool: MySqlPool) {
    let app = TestApp::new(pool);
    app.user("alice").await;
    let states = [app.production_state(4).await, app.production_state(4).await];
    for round in 0..20 {
        let login = app.login("alice@example.org", PASSWORD).await;
        let token = login.body["refresh_token"].as_str().unwrap().to_string();
        let attempt = |n: usize| {
            let (state, token) = (states[n].clone(), token.clone());
            tokio::spawn(async move {
                call_on(
                    &state,
                    "POST",
                    "/api/auth/refresh",
                    "",
                    Some(json!({"refresh_token": token})),
                )
                .await
            })
        };
        let (a, b) = (attempt(0), attempt(1));
        let mut outcomes: Vec<(u16, Value)> = vec![a.await.unwrap(), b.await.unwrap()];
        outcomes.sort_by_key(|(status, _)| *status);
        assert_eq!(
            (outcomes[0].0, outcomes[1].0),
            (200, 401),
            "round {round}: {outcomes:?}"
        );
        // The loser presented a token spent a moment before: within the
        // reuse grace, so nothing is revoked and the winner's token works.
        assert_eq!(outcomes[1].1["error"], "Refresh token already used.");
        let winner = outcomes[0].1["refresh_token"].as_str().unwrap();
        assert_eq!(app.refresh(winner).await.status, 200, "round {round}");
    }
}
