//! WebSocket tickets (stored as digests) and the open connections of each user.

use chrono::{DateTime, Utc};
use sqlx::{MySqlConnection, QueryBuilder};

use crate::store::refresh_tokens::FamilyId;
use crate::store::users::PublicUser;

/// The SHA-256 digest of a ticket.
pub type TicketDigest = [u8; 32];

pub async fn insert_ticket(
    conn: &mut MySqlConnection,
    user_id: i64,
    session: Option<FamilyId>,
    digest: &TicketDigest,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO realtime_tickets (ticket_hash, user_id, session_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&digest[..])
    .bind(user_id)
    .bind(session.as_ref().map(|s| &s[..]))
    .bind(now.naive_utc())
    .bind(expires_at.naive_utc())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whom a spent ticket stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: i64,
    pub session: Option<FamilyId>,
}

/// Spends a live ticket and returns whom it stands for; `None` for an
/// unknown, used or expired one. The update decides: two connections racing
/// with the same ticket cannot both win, since the row lock lets one update
/// it and the other then sees `used_at` set.
pub async fn consume_ticket(
    conn: &mut MySqlConnection,
    digest: &TicketDigest,
    now: DateTime<Utc>,
) -> Result<Option<Redeemed>, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE realtime_tickets SET used_at = ? \
         WHERE ticket_hash = ? AND used_at IS NULL AND expires_at > ?",
    )
    .bind(now.naive_utc())
    .bind(&digest[..])
    .bind(now.naive_utc())
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() != 1 {
        return Ok(None);
    }
    let row: Option<(i64, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT user_id, session_id FROM realtime_tickets WHERE ticket_hash = ?")
            .bind(&digest[..])
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(user_id, session)| Redeemed {
        user_id,
        session: session.and_then(|s| FamilyId::try_from(s.as_slice()).ok()),
    }))
}

pub async fn insert_connection(
    conn: &mut MySqlConnection,
    connection_id: &str,
    user_id: i64,
    session: Option<FamilyId>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // A gateway never reuses a connection id; a retried $connect is the same
    // connection.
    sqlx::query(
        "INSERT IGNORE INTO realtime_connections (connection_id, user_id, session_id, connected_at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(connection_id)
    .bind(user_id)
    .bind(session.as_ref().map(|s| &s[..]))
    .bind(now.naive_utc())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The user a connection stands for.
pub async fn connection_user(
    conn: &mut MySqlConnection,
    connection_id: &str,
) -> Result<Option<PublicUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.first_name, u.last_name \
           FROM realtime_connections c JOIN users u ON u.id = c.user_id \
          WHERE c.connection_id = ?",
    )
    .bind(connection_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Connections opened in a session that has ended without closing them:
/// one started before `started_before` (past its absolute lifetime), or one
/// revoked or purged; at most `limit`.
pub async fn of_ended_sessions(
    conn: &mut MySqlConnection,
    started_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT rc.connection_id FROM realtime_connections rc \
           LEFT JOIN refresh_token_families f ON f.id = rc.session_id \
          WHERE rc.session_id IS NOT NULL \
            AND (f.id IS NULL OR f.revoked_at IS NOT NULL OR f.created_at <= ?) \
          LIMIT ?",
    )
    .bind(started_before.naive_utc())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// Every connection of `user_id`.
pub async fn of_user(conn: &mut MySqlConnection, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT connection_id FROM realtime_connections WHERE user_id = ?")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
}

pub async fn delete_connection(
    conn: &mut MySqlConnection,
    connection_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM realtime_connections WHERE connection_id = ?")
        .bind(connection_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The connections of `user_id` beyond the newest `keep`, oldest first.
pub async fn beyond_newest(
    conn: &mut MySqlConnection,
    user_id: i64,
    keep: u32,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT connection_id FROM realtime_connections WHERE user_id = ? \
         ORDER BY connected_at DESC, connection_id DESC LIMIT 18446744073709551615 OFFSET ?",
    )
    .bind(user_id)
    .bind(keep)
    .fetch_all(&mut *conn)
    .await
}

/// Every connection opened in one of `sessions`.
pub async fn of_sessions(
    conn: &mut MySqlConnection,
    sessions: &[FamilyId],
) -> Result<Vec<String>, sqlx::Error> {
    if sessions.is_empty() {
        return Ok(Vec::new());
    }
    let mut query =
        QueryBuilder::new("SELECT connection_id FROM realtime_connections WHERE session_id IN (");
    let mut ids = query.separated(", ");
    for session in sessions {
        ids.push_bind(&session[..]);
    }
    query.push(")");
    query.build_query_scalar().fetch_all(&mut *conn).await
}
