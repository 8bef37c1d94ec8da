//! Failed-login counts per account, kept in the database so that throttling
//! holds across Lambda instances.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlConnection;

/// Counts one login attempt before its password is checked and returns the
/// attempts counted in the current window, this one included; a window that
/// has passed starts again at one. One statement, so parallel attempts from
/// any number of instances each get their own count: no burst passes the
/// limit.
pub async fn reserve(
    conn: &mut MySqlConnection,
    email: &str,
    now: DateTime<Utc>,
    window: TimeDelta,
) -> Result<u64, sqlx::Error> {
    // MySQL applies the assignments left to right: `failures` must be computed
    // while `window_started_at` still holds its old value. LAST_INSERT_ID(n)
    // hands the new count back in the statement's own answer.
    let result = sqlx::query(
        "INSERT INTO login_failures (email, failures, window_started_at) \
         VALUES (?, LAST_INSERT_ID(1), ?) \
         ON DUPLICATE KEY UPDATE \
           failures = LAST_INSERT_ID(IF(window_started_at <= ?, 1, failures + 1)), \
           window_started_at = IF(window_started_at <= ?, ?, window_started_at)",
    )
    .bind(email)
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
    email: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let row: Option<(DateTime<Utc>,)> =
        sqlx::query_as("SELECT window_started_at FROM login_failures WHERE email = ?")
            .bind(email)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(at,)| at))
}

/// A successful login clears the count.
pub async fn clear(conn: &mut MySqlConnection, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE email = ?")
        .bind(email)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
