//! The periodic purge of rows that can no longer matter: ended refresh-token
//! families (revoked, or past the session's maximum age) with all their
//! tokens, expired tokens, login-failure windows that have passed, expired
//! WebSocket tickets, connections older than any WebSocket lives,
//! conversation events that no delivery pass took within an hour (their
//! recipients' connections are gone by then, or have caught up), and typing
//! states older than any typing indicator lasts.
//!
//! Spent tokens of a live family are kept until the family ends: presenting
//! one again is how theft is detected.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::MySqlConnection;

/// Rows deleted per statement, so no purge holds many locks at once.
const BATCH: i64 = 1_000;

/// How many rows each step deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub families: u64,
    pub tokens: u64,
    pub login_failures: u64,
    pub tickets: u64,
    pub connections: u64,
    pub queued_events: u64,
    pub typing_states: u64,
}

/// API Gateway closes every WebSocket connection after 2 hours, so an older
/// row is one whose `$disconnect` never arrived.
pub const CONNECTION_MAX_AGE: TimeDelta = TimeDelta::hours(2);

/// A conversation event still queued after this was never delivered.
pub const QUEUED_EVENT_MAX_AGE: TimeDelta = TimeDelta::hours(1);

/// A typing state this old throttles nothing any more (a row without a
/// time is the same as no row).
pub const TYPING_STATE_MAX_AGE: TimeDelta = TimeDelta::hours(1);

pub async fn purge(
    conn: &mut MySqlConnection,
    now: DateTime<Utc>,
    session_max_age: TimeDelta,
    login_failure_window: TimeDelta,
) -> Result<Purged, sqlx::Error> {
    let sessions_started_before = (now - session_max_age).naive_utc();
    Ok(Purged {
        // Their tokens go with them (ON DELETE CASCADE).
        families: in_batches(
            &mut *conn,
            "DELETE FROM refresh_token_families \
             WHERE revoked_at IS NOT NULL OR created_at <= ? LIMIT ?",
            sessions_started_before,
        )
        .await?,
        tokens: in_batches(
            &mut *conn,
            "DELETE FROM refresh_tokens WHERE expires_at <= ? LIMIT ?",
            now.naive_utc(),
        )
        .await?,
        login_failures: in_batches(
            &mut *conn,
            "DELETE FROM login_failures WHERE window_started_at <= ? LIMIT ?",
            (now - login_failure_window).naive_utc(),
        )
        .await?,
        tickets: in_batches(
            &mut *conn,
            "DELETE FROM realtime_tickets WHERE expires_at <= ? LIMIT ?",
            now.naive_utc(),
        )
        .await?,
        connections: in_batches(
            &mut *conn,
            "DELETE FROM realtime_connections WHERE connected_at <= ? LIMIT ?",
            (now - CONNECTION_MAX_AGE).naive_utc(),
        )
        .await?,
        queued_events: in_batches(
            &mut *conn,
            "DELETE FROM realtime_outbox WHERE created_at <= ? LIMIT ?",
            (now - QUEUED_EVENT_MAX_AGE).naive_utc(),
        )
        .await?,
        typing_states: in_batches(
            &mut *conn,
            "DELETE FROM typing_states WHERE typing_at IS NULL OR typing_at <= ? LIMIT ?",
            (now - TYPING_STATE_MAX_AGE).naive_utc(),
        )
        .await?,
    })
}

async fn in_batches(
    conn: &mut MySqlConnection,
    sql: &'static str,
    bound: chrono::NaiveDateTime,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(sql)
            .bind(bound)
            .bind(BATCH)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
