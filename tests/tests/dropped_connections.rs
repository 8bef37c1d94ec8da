//! A connection the server dropped while the instance sat idle (a restart,
//! `wait_timeout`, `KILL`) costs no failed request and no wait: an idle
//! connection is checked before reuse and replaced at once.

use std::time::{Duration, Instant};

use api_tests::{TestApp, call_on};
use sqlx::MySqlPool;

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn connections_killed_while_idle_are_replaced_without_a_failed_request(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let alice = app.user("alice").await;
    let state = app.production_state(2).await;
    // One connection of the test's own that does the killing.
    let mut admin = app.pool().acquire().await.unwrap();
    for round in 0..3 {
        // Two requests at once, so the pool holds two connections.
        let (a, b) = tokio::join!(
            call_on(&state, "GET", "/api/conversations", &alice.access, None),
            call_on(&state, "GET", "/api/auth/me", &alice.access, None),
        );
        assert_eq!((a.0, b.0), (200, 200), "round {round}");
        // Kill every connection of the production pool from another session.
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM information_schema.processlist \
             WHERE db = DATABASE() AND id <> CONNECTION_ID()",
        )
        .fetch_all(&mut *admin)
        .await
        .unwrap();
        let mut killed = 0;
        for (id,) in ids {
            if sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
                .execute(&mut *admin)
                .await
                .is_ok()
            {
                killed += 1;
            }
        }
        assert!(killed >= 2, "round {round}: killed {killed}");
        // The instance sits idle a moment, as a frozen Lambda would.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let started = Instant::now();
        let (status, body) =
            call_on(&state, "GET", "/api/conversations", &alice.access, None).await;
        let took = started.elapsed();
        println!("round {round}: {status} after killing {killed} connections, in {took:?}");
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(took < Duration::from_millis(500), "round {round}: {took:?}");
    }
}
