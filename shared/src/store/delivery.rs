//! What real-time delivery reads and writes: the shards' cursors over a
//! conversation's change log, the outbox of conversation events, and the
//! connections of a shard's recipients.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, MySqlConnection, QueryBuilder};

/// A conversation as the request that changed it sees it after the commit.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Audience {
    pub participant_count: i32,
    pub last_version: i64,
}

/// Read after the change has committed: a connection opened later catches
/// up by `version` after its handshake, so it cannot miss this change.
pub async fn audience(
    conn: &mut MySqlConnection,
    conversation_id: i64,
) -> Result<Option<Audience>, sqlx::Error> {
    sqlx::query_as("SELECT participant_count, last_version FROM conversations WHERE id = ?")
        .bind(conversation_id)
        .fetch_optional(&mut *conn)
        .await
}

/// Creates a shard's cursor if it has none, outside the pass's transaction,
/// at `since` or where the least advanced of the conversation's other
/// shards has got to, whichever is earlier: users moving here from another
/// shard miss nothing, and a shard created after another one delivered this
/// nudge's change still delivers it. The other cursors are read without a
/// lock (a consistent read), so a pass of another shard holding its cursor
/// across its posts holds nobody up here.
pub async fn create_cursor(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    shard: i64,
    since: i64,
) -> Result<(), sqlx::Error> {
    let least: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(delivered_version) FROM delivery_cursors WHERE conversation_id = ?",
    )
    .bind(conversation_id)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT IGNORE INTO delivery_cursors (conversation_id, shard, delivered_version) \
         VALUES (?, ?, ?)",
    )
    .bind(conversation_id)
    .bind(shard)
    .bind(least.map_or(since, |least| least.min(since)))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks a shard's cursor for one pass and returns how far it has
/// delivered, or `None` when it has no cursor yet. The lock is held until
/// the pass commits, after its posts.
pub async fn lock_cursor(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    shard: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT delivered_version FROM delivery_cursors \
         WHERE conversation_id = ? AND shard = ? FOR UPDATE",
    )
    .bind(conversation_id)
    .bind(shard)
    .fetch_optional(&mut *conn)
    .await
}

pub async fn advance_cursor(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    shard: i64,
    delivered_version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE delivery_cursors SET delivered_version = GREATEST(delivered_version, ?) \
         WHERE conversation_id = ? AND shard = ?",
    )
    .bind(delivered_version)
    .bind(conversation_id)
    .bind(shard)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Waits until no pass of the conversation is in flight: each holds its
/// cursor's lock from reading its recipients until its posts are out.
/// Returns false when the lock wait ran out first.
pub async fn wait_for_passes(
    conn: &mut MySqlConnection,
    conversation_id: i64,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let locked =
        sqlx::query("SELECT shard FROM delivery_cursors WHERE conversation_id = ? FOR UPDATE")
            .bind(conversation_id)
            .fetch_all(&mut *tx)
            .await;
    match locked {
        Ok(_) => {
            tx.commit().await?;
            Ok(true)
        }
        Err(err) if is_lock_wait_timeout(&err) => {
            tx.rollback().await?;
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

fn is_lock_wait_timeout(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("HY000") && db.message().contains("Lock wait timeout"))
}

/// An open connection of a shard's recipient.
#[derive(Debug, Clone, FromRow)]
pub struct Recipient {
    pub connection_id: String,
    pub user_id: i64,
    pub connected_at: DateTime<Utc>,
}

/// Every open connection of the participants in one shard, read under the
/// cursor's lock, so a removal that waited for the passes in flight is seen
/// by every later pass.
pub async fn shard_connections(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    shard: i64,
    shards: i64,
) -> Result<Vec<Recipient>, sqlx::Error> {
    sqlx::query_as(
        "SELECT rc.connection_id, rc.user_id, rc.connected_at \
           FROM conversation_participants p \
           JOIN realtime_connections rc ON rc.user_id = p.user_id \
          WHERE p.conversation_id = ? AND p.user_id % ? = ? \
          ORDER BY rc.user_id, rc.connected_at",
    )
    .bind(conversation_id)
    .bind(shards)
    .bind(shard)
    .fetch_all(&mut *conn)
    .await
}

/// Every open connection of `user_ids`.
pub async fn connections_of(
    conn: &mut MySqlConnection,
    user_ids: &[i64],
) -> Result<Vec<Recipient>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT connection_id, user_id, connected_at FROM realtime_connections WHERE user_id IN (",
    );
    let mut ids = query.separated(", ");
    for id in user_ids {
        ids.push_bind(*id);
    }
    query.push(") ORDER BY user_id, connected_at");
    query.build_query_as().fetch_all(&mut *conn).await
}

/// The kinds of conversation event kept in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    Joined,
    Updated,
    Left,
    Read,
    Receipt,
    Typing,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Joined => "joined",
            OutboxKind::Updated => "updated",
            OutboxKind::Left => "left",
            OutboxKind::Read => "read",
            OutboxKind::Receipt => "receipt",
            OutboxKind::Typing => "typing",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "joined" => OutboxKind::Joined,
            "updated" => OutboxKind::Updated,
            "left" => OutboxKind::Left,
            "read" => OutboxKind::Read,
            "receipt" => OutboxKind::Receipt,
            "typing" => OutboxKind::Typing,
            _ => return None,
        })
    }
}

/// Queues a conversation event for those of `user_ids` with a connection
/// open (the others fetch the conversation when they connect). Returns how
/// many were queued.
pub async fn queue_for_users(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    kind: OutboxKind,
    user_ids: &[i64],
    payload: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let mut query = QueryBuilder::new(
        "INSERT INTO realtime_outbox (conversation_id, user_id, kind, payload, created_at) \
         SELECT DISTINCT ",
    );
    query
        .push_bind(conversation_id)
        .push(", rc.user_id, ")
        .push_bind(kind.as_str())
        .push(", ")
        .push_bind(payload)
        .push(", ")
        .push_bind(now.naive_utc())
        .push(" FROM realtime_connections rc WHERE rc.user_id IN (");
    let mut ids = query.separated(", ");
    for id in user_ids {
        ids.push_bind(*id);
    }
    query.push(")");
    Ok(query.build().execute(&mut *conn).await?.rows_affected())
}

/// Queues a conversation event for every participant with a connection
/// open, but `except`; `payload` is the frame itself, for events that are
/// not rendered per recipient.
pub async fn queue_for_participants(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    kind: OutboxKind,
    except: &[i64],
    payload: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "INSERT INTO realtime_outbox (conversation_id, user_id, kind, payload, created_at) \
         SELECT DISTINCT p.conversation_id, p.user_id, ",
    );
    query
        .push_bind(kind.as_str())
        .push(", ")
        .push_bind(payload)
        .push(", ")
        .push_bind(now.naive_utc())
        .push(
            " FROM conversation_participants p \
              JOIN realtime_connections rc ON rc.user_id = p.user_id \
             WHERE p.conversation_id = ",
        )
        .push_bind(conversation_id);
    if !except.is_empty() {
        query.push(" AND p.user_id NOT IN (");
        let mut ids = query.separated(", ");
        for id in except {
            ids.push_bind(*id);
        }
        query.push(")");
    }
    Ok(query.build().execute(&mut *conn).await?.rows_affected())
}

/// A queued conversation event.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    pub user_id: i64,
    pub kind: OutboxKind,
    pub payload: Option<String>,
}

/// The oldest `limit` events queued for the users of one shard.
pub async fn queued(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    shard: i64,
    shards: i64,
    limit: i64,
) -> Result<Vec<Queued>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT id, user_id, kind, payload FROM realtime_outbox \
          WHERE conversation_id = ? AND user_id % ? = ? ORDER BY id LIMIT ?",
    )
    .bind(conversation_id)
    .bind(shards)
    .bind(shard)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, user_id, kind, payload)| {
            Some(Queued {
                id,
                user_id,
                kind: OutboxKind::parse(&kind)?,
                payload,
            })
        })
        .collect())
}

pub async fn delete_queued(conn: &mut MySqlConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::new("DELETE FROM realtime_outbox WHERE id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    query.build().execute(&mut *conn).await?;
    Ok(())
}

/// A conversation whose delivery is overdue: a shard's cursor is behind its
/// log, or an event for one of its users has waited longer than it should.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Overdue {
    pub conversation_id: i64,
    pub participant_count: i32,
    /// Where its least advanced shard has delivered up to, when it has a
    /// cursor.
    pub delivered_version: Option<i64>,
    pub last_version: i64,
}

/// Conversations with overdue delivery, each once, at most `limit`: a
/// cursor behind the log (its nudge never reached the queue, or was given
/// up), or an event queued before `queued_before`.
pub async fn overdue(
    conn: &mut MySqlConnection,
    queued_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Overdue>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id AS conversation_id, c.participant_count, c.last_version, \
                (SELECT MIN(d.delivered_version) FROM delivery_cursors d \
                  WHERE d.conversation_id = c.id) AS delivered_version \
           FROM conversations c \
          WHERE c.id IN (SELECT d.conversation_id FROM delivery_cursors d \
                           JOIN conversations lagging ON lagging.id = d.conversation_id \
                          WHERE d.delivered_version < lagging.last_version \
                         UNION \
                         SELECT conversation_id FROM realtime_outbox WHERE created_at < ?) \
          LIMIT ?",
    )
    .bind(queued_before.naive_utc())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The conversation's last version, for a pass with nobody to post to.
pub async fn last_version(
    conn: &mut MySqlConnection,
    conversation_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT last_version FROM conversations WHERE id = ?")
        .bind(conversation_id)
        .fetch_optional(&mut *conn)
        .await
        .map(Option::unwrap_or_default)
}
