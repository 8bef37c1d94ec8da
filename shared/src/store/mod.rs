//! SQL, one module per entity, one function per query. Every function takes
//! the request's one connection (`shared::db::Db`), so a request acquires one
//! connection from the pool and releases it once, and returns `sqlx::Error` for
//! the caller to map.
//!
//! Times are bound as naive UTC: sqlx sends a `DateTime<Utc>` as a MySQL
//! `TIMESTAMP`, whose range ends in 2038, while every column is `DATETIME(6)`.

pub mod conversations;
pub mod delivery;
pub mod erasure;
pub mod login_failures;
pub mod maintenance;
pub mod messages;
pub mod rate_windows;
pub mod reactions;
pub mod realtime;
pub mod refresh_tokens;
pub mod search;
pub mod typing;
pub mod uploads;
pub mod users;

/// True for a duplicate-key error (sqlx's MySQL driver names no constraint).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
