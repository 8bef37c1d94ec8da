//! Per-user limits, as the contract's "Rate limits" sets them: changes
//! (sends, edits, deletes) in 10 seconds and WebSocket tickets in a minute,
//! counted across every instance before the work is done.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlConnection;

use crate::config::Config;
use crate::error::ApiError;
use crate::store::rate_windows;
use crate::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `SEND_RATE_LIMIT` in 10 seconds.
    Changes,
    /// `TICKET_RATE_LIMIT` a minute.
    Tickets,
}

impl Limit {
    fn bucket(self) -> &'static str {
        match self {
            Limit::Changes => "changes",
            Limit::Tickets => "tickets",
        }
    }

    fn window(self) -> TimeDelta {
        match self {
            Limit::Changes => TimeDelta::seconds(10),
            Limit::Tickets => TimeDelta::minutes(1),
        }
    }

    fn allowed(self, config: &Config) -> u32 {
        match self {
            Limit::Changes => config.send_rate_limit,
            Limit::Tickets => config.ticket_rate_limit,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Limit::Changes => "Too many changes. Try again later.",
            Limit::Tickets => "Too many tickets. Try again later.",
        }
    }

    /// The use to count at `now` inside a statement that does the work too
    /// (the send's).
    pub fn use_at(self, config: &Config, now: DateTime<Utc>) -> rate_windows::Use {
        rate_windows::Use {
            bucket: self.bucket(),
            allowed: self.allowed(config),
            window_began_after: now - self.window(),
        }
    }

    /// The 429 for a use beyond the limit, in the window that began at
    /// `started`.
    pub fn refused(self, started: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
        ApiError::TooManyRequests {
            message: self.refusal(),
            retry_after_secs: time::seconds_until(started + self.window(), now),
        }
    }
}

/// Counts one use of `limit` by `user_id`; beyond the limit, the 429 (with
/// `Retry-After` at the window's end) to answer instead of doing the work.
pub async fn take(
    conn: &mut MySqlConnection,
    config: &Config,
    user_id: i64,
    limit: Limit,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let uses = rate_windows::reserve(conn, user_id, limit.bucket(), now, limit.window()).await?;
    if uses <= u64::from(limit.allowed(config)) {
        return Ok(());
    }
    let started = rate_windows::window_start(conn, user_id, limit.bucket())
        .await?
        .unwrap_or(now);
    Err(limit.refused(started, now))
}

/// Gives back a use that turned out to change nothing.
pub async fn give_back(
    conn: &mut MySqlConnection,
    user_id: i64,
    limit: Limit,
) -> Result<(), ApiError> {
    rate_windows::release(conn, user_id, limit.bucket()).await?;
    Ok(())
}
