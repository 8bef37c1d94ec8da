//! Failed-login counts per account, kept in the database so that throttling
//! holds across Lambda instances.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlPool;

/// The failures counted in the current window and when that window began.
pub async fn current(
    pool: &MySqlPool,
    email: &str,
) -> Result<Option<(i32, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("SELECT failures, window_started_at FROM login_failures WHERE email = ?")
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// Counts one failure; a window that has passed starts again at one.
pub async fn record(
    pool: &MySqlPool,
    email: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Result<(), sqlx::Error> {
    // MySQL applies the assignments left to right: `failures` must be computed
    // while `window_started_at` still holds its old value.
    sqlx::query(
        "INSERT INTO login_failures (email, failures, window_started_at) VALUES (?, 1, ?) \
         ON DUPLICATE KEY UPDATE \
           failures = IF(window_started_at <= ?, 1, failures + 1), \
           window_started_at = IF(window_started_at <= ?, ?, window_started_at)",
    )
    .bind(email)
    .bind(now.naive_utc())
    .bind((now - window).naive_utc())
    .bind((now - window).naive_utc())
    .bind(now.naive_utc())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn clear(pool: &MySqlPool, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = ?")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}
