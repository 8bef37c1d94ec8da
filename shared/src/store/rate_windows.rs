//! Uses of a rate-limited action per user and window, in the database so that
//! limits hold across Lambda instances.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlConnection;

/// A use counted by the statement that does the work (the send's
/// procedure, which runs [`reserve`]'s upsert and [`release`]'s update).
#[derive(Debug, Clone, Copy)]
pub struct Use {
    pub bucket: &'static str,
    /// Uses a window allows.
    pub allowed: u32,
    /// A window that began at or before this has passed.
    pub window_began_after: DateTime<Utc>,
}

/// Counts one use before the work and returns the uses counted in the
/// current window, this one included; a window that has passed starts again
/// at one. One statement, as the login throttle's: parallel uses from any
/// number of instances each get their own count. The send's procedure
/// (`migrations/20261207000001_send_procedure.sql`) runs the same upsert:
/// they change together.
pub async fn reserve(
    conn: &mut MySqlConnection,
    user_id: i64,
    bucket: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Result<u64, sqlx::Error> {
    // Assignments apply left to right: `uses` is computed while
    // `window_started_at` still holds its old value.
    let result = sqlx::query(
        "INSERT INTO rate_windows (user_id, bucket, uses, window_started_at) \
         VALUES (?, ?, LAST_INSERT_ID(1), ?) \
         ON DUPLICATE KEY UPDATE \
           uses = LAST_INSERT_ID(IF(window_started_at <= ?, 1, uses + 1)), \
           window_started_at = IF(window_started_at <= ?, ?, window_started_at)",
    )
    .bind(user_id)
    .bind(bucket)
    .bind(now.naive_utc())
    .bind((now - window).naive_utc())
    .bind((now - window).naive_utc())
    .bind(now.naive_utc())
    .execute(&mut *conn)
    .await?;
    Ok(result.last_insert_id())
}

/// When the current window began, for `Retry-After`.
pub async fn window_start(
    conn: &mut MySqlConnection,
    user_id: i64,
    bucket: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT window_started_at FROM rate_windows WHERE user_id = ? AND bucket = ?",
    )
    .bind(user_id)
    .bind(bucket)
    .fetch_optional(&mut *conn)
    .await
}

/// Gives back a use that turned out not to count (a repeated send).
pub async fn release(
    conn: &mut MySqlConnection,
    user_id: i64,
    bucket: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rate_windows SET uses = GREATEST(uses - 1, 0) WHERE user_id = ? AND bucket = ?",
    )
    .bind(user_id)
    .bind(bucket)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
