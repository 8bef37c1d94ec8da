//! Conversations and their participants.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, MySqlPool, QueryBuilder};

use crate::domain::Title;
use crate::store::messages::Message;
use crate::store::users::PublicUser;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub title: Option<String>,
    pub created_by: Option<i64>,
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: DateTime<Utc>,
    pub participants: Vec<PublicUser>,
    pub last_message: Option<Message>,
}

/// A conversation as one member sees it, with its last message, before its
/// participants are attached.
#[derive(FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub title: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The member's copy of the conversation's activity: the listing's key.
    pub last_activity_at: DateTime<Utc>,
    lm_id: Option<i64>,
    lm_body: Option<String>,
    lm_client_id: Option<String>,
    lm_created_at: Option<DateTime<Utc>>,
    lm_sender_id: Option<i64>,
    lm_sender_username: Option<String>,
    lm_sender_first_name: Option<String>,
    lm_sender_last_name: Option<String>,
}

impl ConversationRow {
    pub fn into_conversation(self, participants: Vec<PublicUser>) -> Conversation {
        let last_message = match (
            self.lm_id,
            self.lm_body,
            self.lm_created_at,
            self.lm_sender_id,
            self.lm_sender_username,
        ) {
            (Some(id), Some(body), Some(created_at), Some(sender_id), Some(username)) => {
                Some(Message {
                    id,
                    conversation_id: self.id,
                    sender: PublicUser {
                        id: sender_id,
                        username,
                        first_name: self.lm_sender_first_name.unwrap_or_default(),
                        last_name: self.lm_sender_last_name.unwrap_or_default(),
                    },
                    body,
                    client_id: self.lm_client_id,
                    created_at,
                })
            }
            _ => None,
        };
        Conversation {
            id: self.id,
            title: self.title,
            created_by: self.created_by,
            created_at: self.created_at,
            participants,
            last_message,
        }
    }
}

/// The member's view of conversations with the last message of each, found
/// by one index dive per row on `messages (conversation_id, id)`.
macro_rules! member_view {
    () => {
        "SELECT c.id, c.title, c.created_by, c.created_at, p.last_activity_at, \
                m.id AS lm_id, m.body AS lm_body, m.client_id AS lm_client_id, m.created_at AS lm_created_at, \
                s.id AS lm_sender_id, s.username AS lm_sender_username, \
                s.first_name AS lm_sender_first_name, s.last_name AS lm_sender_last_name \
         FROM conversation_participants p \
         JOIN conversations c ON c.id = p.conversation_id \
         LEFT JOIN messages m ON m.id = (SELECT MAX(lm.id) FROM messages lm WHERE lm.conversation_id = c.id) \
         LEFT JOIN users s ON s.id = m.sender_id "
    };
}

/// Creates a conversation with its participants, all or nothing.
pub async fn create(
    pool: &MySqlPool,
    title: Option<&Title>,
    created_by: i64,
    participant_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let result =
        sqlx::query("INSERT INTO conversations (title, created_by, created_at) VALUES (?, ?, ?)")
            .bind(title.map(Title::as_str))
            .bind(created_by)
            .bind(now.naive_utc())
            .execute(&mut *tx)
            .await?;
    let id = i64::try_from(result.last_insert_id()).map_err(|e| sqlx::Error::Decode(e.into()))?;
    insert_participants(&mut tx, id, participant_ids, now, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Adds participants; those already present are left as they are.
pub async fn add_participants(
    pool: &MySqlPool,
    conversation_id: i64,
    user_ids: &[i64],
    now: DateTime<Utc>,
    activity_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    insert_participants(&mut conn, conversation_id, user_ids, now, activity_at).await
}

async fn insert_participants(
    conn: &mut sqlx::MySqlConnection,
    conversation_id: i64,
    user_ids: &[i64],
    joined_at: DateTime<Utc>,
    activity_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut query = QueryBuilder::new(
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at, last_activity_at) ",
    );
    query.push_values(user_ids, |mut row, user_id| {
        row.push_bind(conversation_id)
            .push_bind(*user_id)
            .push_bind(joined_at.naive_utc())
            .push_bind(activity_at.naive_utc());
    });
    query.push(" ON DUPLICATE KEY UPDATE user_id = user_id");
    query.build().execute(conn).await?;
    Ok(())
}

/// One conversation, if `user_id` takes part in it.
pub async fn for_member(
    pool: &MySqlPool,
    conversation_id: i64,
    user_id: i64,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        member_view!(),
        "WHERE p.conversation_id = ? AND p.user_id = ?"
    ))
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await
}

/// A page of a user's conversations, most recent activity first, strictly
/// after the position `(activity, id)`.
pub async fn page_for_member(
    pool: &MySqlPool,
    user_id: i64,
    after: (DateTime<Utc>, i64),
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        member_view!(),
        "WHERE p.user_id = ? AND (p.last_activity_at < ? OR (p.last_activity_at = ? AND p.conversation_id < ?)) \
         ORDER BY p.last_activity_at DESC, p.conversation_id DESC LIMIT ?"
    ))
    .bind(user_id)
    .bind(after.0.naive_utc())
    .bind(after.0.naive_utc())
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The participants of several conversations in one query, by user id.
pub async fn participants(
    pool: &MySqlPool,
    conversation_ids: &[i64],
) -> Result<Vec<(i64, PublicUser)>, sqlx::Error> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(FromRow)]
    struct Row {
        conversation_id: i64,
        #[sqlx(flatten)]
        user: PublicUser,
    }
    let mut query = QueryBuilder::new(
        "SELECT p.conversation_id, u.id, u.username, u.first_name, u.last_name \
         FROM conversation_participants p JOIN users u ON u.id = p.user_id WHERE p.conversation_id IN (",
    );
    let mut ids = query.separated(", ");
    for id in conversation_ids {
        ids.push_bind(*id);
    }
    query.push(") ORDER BY p.conversation_id, u.id");
    let rows: Vec<Row> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.conversation_id, r.user))
        .collect())
}

/// The creator of a conversation, if `user_id` takes part in it.
pub async fn creator_for_member(
    pool: &MySqlPool,
    conversation_id: i64,
    user_id: i64,
) -> Result<Option<Option<i64>>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT c.created_by FROM conversations c \
         JOIN conversation_participants p ON p.conversation_id = c.id WHERE c.id = ? AND p.user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(creator,)| creator))
}

/// Removes one participant; false when they were not one.
pub async fn remove_participant(
    pool: &MySqlPool,
    conversation_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// True when `user_id` takes part in the conversation.
pub async fn is_member(
    pool: &MySqlPool,
    conversation_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// Attaches the participants of every conversation on a page, in one query.
pub async fn with_participants(
    pool: &MySqlPool,
    rows: Vec<ConversationRow>,
) -> Result<Vec<Conversation>, sqlx::Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_conversation: HashMap<i64, Vec<PublicUser>> = HashMap::new();
    for (conversation_id, user) in participants(pool, &ids).await? {
        by_conversation
            .entry(conversation_id)
            .or_default()
            .push(user);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let members = by_conversation.remove(&row.id).unwrap_or_default();
            row.into_conversation(members)
        })
        .collect())
}
