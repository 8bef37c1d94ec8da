//! Typing indicators: ephemeral, never a message, no `seq` or `version`. A
//! `true` is delivered at most once every 2 seconds per user and
//! conversation, decided under the row lock of that pair's state, so the
//! throttle holds across instances; a `false` only after a delivered `true`.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{Connection, MySqlConnection};

use crate::store::conversations::PRESENCE_MAX_PARTICIPANTS;
use crate::store::delivery::{self, OutboxKind};

/// A `true` within this of the last delivered one is dropped.
pub const TYPING_THROTTLE: TimeDelta = TimeDelta::seconds(2);

pub enum Typed {
    /// Queued for the other participants' connections.
    Queued,
    /// Throttled, nothing to end, or a conversation too large for typing.
    Dropped,
    /// The user takes no part in the conversation.
    NotParticipant,
}

/// Records `typing` by `user_id` and, when it is to be delivered, queues
/// `frame` for the other participants' connections.
pub async fn record(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
    typing: bool,
    frame: &str,
    now: DateTime<Utc>,
) -> Result<Typed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let participants: Option<i32> = sqlx::query_scalar(
        "SELECT c.participant_count FROM conversation_participants p \
           JOIN conversations c ON c.id = p.conversation_id \
          WHERE p.conversation_id = ? AND p.user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(participants) = participants else {
        return Ok(Typed::NotParticipant);
    };
    if participants > PRESENCE_MAX_PARTICIPANTS {
        return Ok(Typed::Dropped);
    }
    sqlx::query(
        "INSERT INTO typing_states (conversation_id, user_id, typing_at) VALUES (?, ?, NULL) \
         ON DUPLICATE KEY UPDATE user_id = user_id",
    )
    .bind(conversation_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let last: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT typing_at FROM typing_states WHERE conversation_id = ? AND user_id = ? FOR UPDATE",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    let deliver = if typing {
        last.is_none_or(|at| now.signed_duration_since(at) >= TYPING_THROTTLE)
    } else {
        last.is_some()
    };
    if !deliver {
        return Ok(Typed::Dropped);
    }
    sqlx::query("UPDATE typing_states SET typing_at = ? WHERE conversation_id = ? AND user_id = ?")
        .bind(typing.then(|| now.naive_utc()))
        .bind(conversation_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    delivery::queue_for_participants(
        &mut tx,
        conversation_id,
        OutboxKind::Typing,
        &[user_id],
        Some(frame),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Typed::Queued)
}
