//! WebSocket tickets (stored as digests) and the open connections of each user.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, MySqlPool, QueryBuilder};

/// The SHA-256 digest of a ticket.
pub type TicketDigest = [u8; 32];

pub async fn insert_ticket(
    pool: &MySqlPool,
    user_id: i64,
    digest: &TicketDigest,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO realtime_tickets (ticket_hash, user_id, created_at, expires_at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(&digest[..])
    .bind(user_id)
    .bind(now.naive_utc())
    .bind(expires_at.naive_utc())
    .execute(pool)
    .await?;
    Ok(())
}

/// Spends a live ticket and returns whom it stands for; `None` for an
/// unknown, used or expired one. One statement, so two connections racing
/// with the same ticket cannot both win: the row lock lets one update it, and
/// the other then sees `used_at` set. `LAST_INSERT_ID(expr)` hands back the
/// user of the row just updated without a second read.
pub async fn consume_ticket(
    pool: &MySqlPool,
    digest: &TicketDigest,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let result = sqlx::query(
        "UPDATE realtime_tickets SET used_at = ?, user_id = LAST_INSERT_ID(user_id) \
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
    Ok(i64::try_from(result.last_insert_id()).ok())
}

pub async fn insert_connection(
    pool: &MySqlPool,
    connection_id: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    // A gateway never reuses a connection id; a retried $connect is the same
    // connection.
    sqlx::query(
        "INSERT INTO realtime_connections (connection_id, user_id, connected_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE user_id = VALUES(user_id)",
    )
    .bind(connection_id)
    .bind(user_id)
    .bind(now.naive_utc())
    .execute(pool)
    .await?;
    Ok(())
}

/// The username a connection stands for, for the request log.
pub async fn connection_username(
    pool: &MySqlPool,
    connection_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.username FROM realtime_connections c JOIN users u ON u.id = c.user_id \
         WHERE c.connection_id = ?",
    )
    .bind(connection_id)
    .fetch_optional(pool)
    .await
}

pub async fn delete_connection(pool: &MySqlPool, connection_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM realtime_connections WHERE connection_id = ?")
        .bind(connection_id)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: String,
    pub user_id: i64,
}

/// Every open connection of any of `user_ids`, in one query.
pub async fn connections_of(
    pool: &MySqlPool,
    user_ids: &[i64],
) -> Result<Vec<Connection>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT connection_id, user_id FROM realtime_connections WHERE user_id IN (",
    );
    let mut ids = query.separated(", ");
    for id in user_ids {
        ids.push_bind(*id);
    }
    query.push(")");
    query.build_query_as().fetch_all(pool).await
}

/// Every open connection of every participant of a conversation, read when
/// called, so a change's recipients are those after its commit.
pub async fn participant_connections(
    pool: &MySqlPool,
    conversation_id: i64,
) -> Result<Vec<Connection>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.connection_id, c.user_id FROM conversation_participants p \
         JOIN realtime_connections c ON c.user_id = p.user_id \
         WHERE p.conversation_id = ?",
    )
    .bind(conversation_id)
    .fetch_all(pool)
    .await
}
