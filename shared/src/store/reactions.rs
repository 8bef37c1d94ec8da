//! Reactions: who reacted to a message with which emoji.
//!
//! Every reaction is a row of `message_reactors`; what a message shows of
//! them (each emoji in the order it was first used, its exact count and its
//! first 25 users) is kept on the message row, rewritten with the message's
//! new `version` under the conversation's lock, so reading a page of messages
//! costs nothing more and concurrent reactions cannot lose a count.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, FromRow, MySqlConnection};

use crate::domain::Emoji;
use crate::store::conversations::lock_for_member;
use crate::store::messages::{self, Message};
use crate::store::users::PublicUser;

/// A message holds at most this many distinct emoji.
pub const MAX_DISTINCT: usize = 20;
/// A reaction shows this many of the users who reacted with it.
pub const SHOWN_USERS: usize = 25;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// The first [`SHOWN_USERS`] who reacted, in the order they did.
    pub user_ids: Vec<i64>,
}

/// The reactions kept on a message row (`NULL` when it has none).
pub(crate) fn from_column(raw: Option<&str>) -> Vec<Reaction> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    serde_json::from_str(raw).unwrap_or_else(|err| {
        tracing::error!(error = %err, "a message's stored reactions do not parse");
        Vec::new()
    })
}

fn to_column(reactions: &[Reaction]) -> Option<String> {
    // A list of plain structs always serialises.
    (!reactions.is_empty()).then(|| serde_json::to_string(reactions).unwrap_or_default())
}

/// Adding a reaction, or taking one's own back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacting {
    Add,
    TakeBack,
}

pub enum Reacted {
    /// The message with its new reactions and `version`.
    Done(Message),
    /// Reacting again, or taking back what one has not given: the message
    /// as it stands.
    Unchanged(Message),
    /// No such message in a conversation the caller takes part in.
    NotFound,
    Tombstone,
    /// A new emoji on a message that already has [`MAX_DISTINCT`].
    TooMany,
}

/// Adds or takes back `user_id`'s reaction with `emoji`; a change takes the
/// conversation's next `version`.
pub async fn react(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
    user_id: i64,
    emoji: &Emoji,
    reacting: Reacting,
    now: DateTime<Utc>,
) -> Result<Reacted, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let Some(locked) = lock_for_member(&mut tx, conversation_id, user_id).await? else {
        return Ok(Reacted::NotFound);
    };
    let Some(mut message) = messages::in_conversation(&mut tx, conversation_id, message_id).await?
    else {
        return Ok(Reacted::NotFound);
    };
    if message.deleted_at.is_some() {
        return Ok(Reacted::Tombstone);
    }
    let before = message.reactions.clone();
    match reacting {
        Reacting::Add => {
            let known = message.reactions.iter().any(|r| r.emoji == emoji.as_str());
            if !known && message.reactions.len() >= MAX_DISTINCT {
                return Ok(Reacted::TooMany);
            }
            add(
                &mut tx,
                &mut message.reactions,
                message_id,
                user_id,
                emoji,
                now,
            )
            .await?;
        }
        Reacting::TakeBack => {
            take_back(&mut tx, &mut message.reactions, message_id, user_id, emoji).await?;
        }
    }
    if message.reactions == before {
        return Ok(Reacted::Unchanged(message));
    }
    let version = locked.last_version + 1;
    sqlx::query("UPDATE messages SET reactions = ?, changed_at = ?, version = ? WHERE id = ?")
        .bind(to_column(&message.reactions))
        .bind(now.naive_utc())
        .bind(version)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE conversations SET last_version = ? WHERE id = ?")
        .bind(version)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    message.version = version;
    message.changed_at = Some(now);
    Ok(Reacted::Done(message))
}

/// Stores the reaction unless it is there already, and counts it in;
/// whether it was new.
async fn add(
    conn: &mut MySqlConnection,
    reactions: &mut Vec<Reaction>,
    message_id: i64,
    user_id: i64,
    emoji: &Emoji,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO message_reactors (message_id, emoji, user_id, reacted_at) VALUES (?, ?, ?, ?)",
    )
    .bind(message_id)
    .bind(emoji.as_str().as_bytes())
    .bind(user_id)
    .bind(now.naive_utc())
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => {}
        // Reacting again: only this statement is undone, nothing changes.
        Err(err) if super::is_unique_violation(&err) => return Ok(false),
        Err(err) => return Err(err),
    }
    match reactions.iter_mut().find(|r| r.emoji == emoji.as_str()) {
        Some(reaction) => {
            reaction.count += 1;
            if reaction.user_ids.len() < SHOWN_USERS {
                reaction.user_ids.push(user_id);
            }
        }
        None => reactions.push(Reaction {
            emoji: emoji.as_str().to_string(),
            count: 1,
            user_ids: vec![user_id],
        }),
    }
    Ok(true)
}

/// Removes the reaction if it is there, and counts it out (whether it was
/// there); when one of the users shown leaves, the next in order takes the
/// last place.
async fn take_back(
    conn: &mut MySqlConnection,
    reactions: &mut Vec<Reaction>,
    message_id: i64,
    user_id: i64,
    emoji: &Emoji,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM message_reactors WHERE message_id = ? AND emoji = ? AND user_id = ?",
    )
    .bind(message_id)
    .bind(emoji.as_str().as_bytes())
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Ok(false);
    }
    let Some(index) = reactions.iter().position(|r| r.emoji == emoji.as_str()) else {
        return Ok(true);
    };
    let reaction = &mut reactions[index];
    reaction.count -= 1;
    if reaction.count <= 0 {
        reactions.remove(index);
        return Ok(true);
    }
    let Some(shown) = reaction.user_ids.iter().position(|id| *id == user_id) else {
        return Ok(true);
    };
    reaction.user_ids.remove(shown);
    if reaction.count > reaction.user_ids.len() as i64 {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM message_reactors WHERE message_id = ? AND emoji = ? \
             ORDER BY id LIMIT 1 OFFSET ?",
        )
        .bind(message_id)
        .bind(emoji.as_str().as_bytes())
        .bind(reaction.user_ids.len() as i64)
        .fetch_optional(conn)
        .await?;
        reaction.user_ids.extend(next);
    }
    Ok(true)
}

/// Drops every reaction to a message that became a tombstone.
pub(crate) async fn forget(conn: &mut MySqlConnection, message_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM message_reactors WHERE message_id = ?")
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One user who reacted (shown as the user alone), with their place in the
/// order of reactions.
#[derive(FromRow, Serialize)]
pub struct Reactor {
    #[serde(skip)]
    pub position: i64,
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub user: PublicUser,
}

/// Up to `limit` users who reacted to the message with `emoji`, after the
/// reaction at `after` in the order they did (none for a message of an
/// erased account, a tombstone too); `None` when `reader_id` does not take
/// part in the conversation or the message is not in it.
#[allow(clippy::too_many_arguments)]
pub async fn reactors(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
    emoji: &Emoji,
    reader_id: i64,
    after: i64,
    limit: i64,
) -> Result<Option<Vec<Reactor>>, sqlx::Error> {
    let rows: Vec<Reactor> = sqlx::query_as(
        "SELECT r.id AS position, u.id, u.username, u.first_name, u.last_name \
         FROM message_reactors r JOIN users u ON u.id = r.user_id \
         WHERE r.message_id = ? AND r.emoji = ? AND r.id > ? \
           AND EXISTS (SELECT 1 FROM messages m \
                       JOIN users s ON s.id = m.sender_id AND s.erased_at IS NULL \
                       JOIN conversation_participants p \
                         ON p.conversation_id = m.conversation_id AND p.user_id = ? \
                       WHERE m.id = r.message_id AND m.conversation_id = ?) \
         ORDER BY r.id LIMIT ?",
    )
    .bind(message_id)
    .bind(emoji.as_str().as_bytes())
    .bind(after)
    .bind(reader_id)
    .bind(conversation_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty()
        && !messages::is_visible(conn, conversation_id, message_id, reader_id).await?
    {
        return Ok(None);
    }
    Ok(Some(rows))
}
