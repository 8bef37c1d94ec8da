//! Messages: idempotent sends and keyset pages over `(conversation_id, id)`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool};

use crate::domain::{ClientId, MessageBody};
use crate::store::users::{PublicUser, User};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub sender: PublicUser,
    pub body: String,
    pub client_id: Option<String>,
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: DateTime<Utc>,
}

/// A message row joined with its sender, as every message query selects it.
#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    conversation_id: i64,
    body: String,
    client_id: Option<String>,
    created_at: DateTime<Utc>,
    sender_id: i64,
    sender_username: String,
    sender_first_name: String,
    sender_last_name: String,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            conversation_id: row.conversation_id,
            sender: PublicUser {
                id: row.sender_id,
                username: row.sender_username,
                first_name: row.sender_first_name,
                last_name: row.sender_last_name,
            },
            body: row.body,
            client_id: row.client_id,
            created_at: row.created_at,
        }
    }
}

macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.body, m.client_id, m.created_at, \
         s.id AS sender_id, s.username AS sender_username, \
         s.first_name AS sender_first_name, s.last_name AS sender_last_name"
    };
}

pub enum Sent {
    Created(Message),
    /// The sender already used this `client_id` here: the stored message.
    Repeated(Message),
    /// The sender is not a participant (or the conversation does not exist).
    NotParticipant,
}

/// Stores a message if, and only if, the sender is a participant: the
/// membership check and the insert are one statement, so a sender removed
/// meanwhile cannot slip a message in.
pub async fn send(
    pool: &MySqlPool,
    conversation_id: i64,
    sender: &User,
    body: &MessageBody,
    client_id: Option<&ClientId>,
    now: DateTime<Utc>,
) -> Result<Sent, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO messages (conversation_id, sender_id, body, client_id, created_at) \
         SELECT ?, ?, ?, ?, ? FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(sender.id)
    .bind(body.as_str())
    .bind(client_id.map(ClientId::as_str))
    .bind(now.naive_utc())
    .bind(conversation_id)
    .bind(sender.id)
    .execute(pool)
    .await;
    let message = match inserted {
        Ok(result) if result.rows_affected() == 0 => return Ok(Sent::NotParticipant),
        Ok(result) => Message {
            id: i64::try_from(result.last_insert_id())
                .map_err(|e| sqlx::Error::Decode(e.into()))?,
            conversation_id,
            sender: PublicUser {
                id: sender.id,
                username: sender.username.clone(),
                first_name: sender.first_name.clone(),
                last_name: sender.last_name.clone(),
            },
            body: body.as_str().to_string(),
            client_id: client_id.map(|c| c.as_str().to_string()),
            created_at: now,
        },
        Err(err) if super::is_unique_violation(&err) && client_id.is_some() => {
            let stored = by_client_id(
                pool,
                conversation_id,
                sender.id,
                client_id.map(ClientId::as_str),
            )
            .await?;
            return Ok(stored.map_or(Sent::NotParticipant, Sent::Repeated));
        }
        Err(err) => return Err(err),
    };
    Ok(Sent::Created(message))
}

async fn by_client_id(
    pool: &MySqlPool,
    conversation_id: i64,
    sender_id: i64,
    client_id: Option<&str>,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users s ON s.id = m.sender_id \
          WHERE m.conversation_id = ? AND m.sender_id = ? AND m.client_id = ?"
    ))
    .bind(conversation_id)
    .bind(sender_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Message::from))
}

/// Moves the conversation's activity forward for every participant, so that
/// it lists first; never backwards, whatever order concurrent sends finish in.
pub async fn touch_activity(
    pool: &MySqlPool,
    conversation_id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE conversation_participants SET last_activity_at = ? \
         WHERE conversation_id = ? AND last_activity_at < ?",
    )
    .bind(at.naive_utc())
    .bind(conversation_id)
    .bind(at.naive_utc())
    .execute(pool)
    .await?;
    Ok(())
}

/// Which way a page runs from its starting id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first, ids below the bound.
    Older,
    /// Oldest first, ids above the bound.
    Newer,
}

/// Up to `limit` messages of a conversation beyond `bound` in `direction`.
/// The index is forced: on a large conversation MariaDB was seen to choose a
/// `ref` scan of the whole conversation over the `range` this query needs.
pub async fn page(
    pool: &MySqlPool,
    conversation_id: i64,
    bound: i64,
    direction: Direction,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let sql = match direction {
        Direction::Older => concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m FORCE INDEX (messages_by_conversation) JOIN users s ON s.id = m.sender_id \
              WHERE m.conversation_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"
        ),
        Direction::Newer => concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m FORCE INDEX (messages_by_conversation) JOIN users s ON s.id = m.sender_id \
              WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?"
        ),
    };
    let rows: Vec<MessageRow> = sqlx::query_as(sql)
        .bind(conversation_id)
        .bind(bound)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(Message::from).collect())
}
