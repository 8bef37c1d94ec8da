//! Erasing an account. At once, in one transaction: everything that
//! identifies the person (email and username become NULL, names empty, no
//! password) and every session. From then on message queries show the
//! account's messages as tombstones (`message_columns!`), so nothing of its
//! content is served. Then, one conversation at a time: its participation
//! ends and its messages become tombstones that take the conversation's next
//! versions, so `since=` readers see them. That part is resumable: whatever
//! a run leaves, the next run finds still pending.

use chrono::{DateTime, Utc};
use sqlx::{Connection, MySqlConnection};

use crate::store::delivery::{self, OutboxKind};
use crate::store::{realtime, refresh_tokens};

/// What erasing the account itself left to do: its open WebSocket
/// connections, to close.
pub struct Begun {
    pub connections: Vec<String>,
}

/// Erases what identifies the account and ends its sessions; `None` when it
/// was already erased.
pub async fn begin(
    conn: &mut MySqlConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Begun>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let erased = sqlx::query(
        "UPDATE users SET email = NULL, username = NULL, first_name = '', last_name = '', \
                password_hash = '', erased_at = ? \
         WHERE id = ? AND erased_at IS NULL",
    )
    .bind(now.naive_utc())
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if erased.rows_affected() == 0 {
        return Ok(None);
    }
    refresh_tokens::revoke_all_in(&mut tx, user_id, now).await?;
    for statement in [
        "DELETE FROM realtime_tickets WHERE user_id = ?",
        "DELETE FROM rate_windows WHERE user_id = ?",
    ] {
        sqlx::query(statement)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    let connections = realtime::of_user(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(Some(Begun { connections }))
}

/// Conversations where an erased account still takes part or still has a
/// message that is not a tombstone, at most `limit`.
pub async fn pending_conversations(
    conn: &mut MySqlConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT conversation_id FROM conversation_participants WHERE user_id = ? \
         UNION \
         SELECT conversation_id FROM messages WHERE sender_id = ? AND deleted_at IS NULL \
         ORDER BY conversation_id LIMIT ?",
    )
    .bind(user_id)
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// What erasing an account in one conversation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InConversation {
    /// The first version its tombstones took, when it had messages left.
    pub first_version: Option<i64>,
    pub tombstones: u64,
    /// Its participation ended here (the others are sent the conversation).
    pub left: bool,
}

/// Ends the account's participation in one conversation and turns its
/// messages there into tombstones, each taking the conversation's next
/// version, in one transaction under the conversation's row lock (the lock
/// every change of the conversation takes first).
pub async fn erase_in_conversation(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<InConversation, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let last_version: Option<i64> =
        sqlx::query_scalar("SELECT last_version FROM conversations WHERE id = ? FOR UPDATE")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(last_version) = last_version else {
        return Ok(InConversation::default());
    };
    let left = sqlx::query(
        "DELETE FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if left {
        sqlx::query(
            "UPDATE conversations SET participant_count = participant_count - 1 WHERE id = ?",
        )
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        delivery::queue_for_participants(
            &mut tx,
            conversation_id,
            OutboxKind::Updated,
            &[],
            None,
            now,
        )
        .await?;
    }
    // Versions follow the messages' order; every one is above the
    // conversation's last, so none collides with a version already taken.
    let tombstones = sqlx::query(
        "UPDATE messages m \
           JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM messages \
                  WHERE conversation_id = ? AND sender_id = ? AND deleted_at IS NULL) t \
             ON t.id = m.id \
            SET m.version = ? + t.n, m.body = NULL, m.deleted_at = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .bind(last_version)
    .bind(now.naive_utc())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if tombstones > 0 {
        sqlx::query("UPDATE conversations SET last_version = last_version + ? WHERE id = ?")
            .bind(tombstones)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(InConversation {
        first_version: (tombstones > 0).then_some(last_version + 1),
        tombstones,
        left,
    })
}

/// Marks the erasure finished, once nothing of it is pending any more.
pub async fn mark_finished(
    conn: &mut MySqlConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET erasure_finished_at = ? WHERE id = ?")
        .bind(now.naive_utc())
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Erased accounts whose erasure has not finished, oldest first.
pub async fn unfinished(conn: &mut MySqlConnection, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM users WHERE erased_at IS NOT NULL AND erasure_finished_at IS NULL \
         ORDER BY erased_at LIMIT ?",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}
