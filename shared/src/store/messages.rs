//! Messages: sends (replies too), edits and deletes in the conversation's
//! order, and keyset pages by `seq`, by `version` or along a thread.
//!
//! Every change of a conversation first locks its row
//! ([`lock_for_member`]) and takes the next `seq`/`version` from it, so numbers are handed
//! out in the order the changes commit, with no gaps. Lock order is always the
//! conversation row, then participant or message rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Connection, FromRow, MySqlConnection};

use crate::domain::{ClientId, MessageBody};
use crate::store::conversations::lock_for_member;
use crate::store::rate_windows;
use crate::store::reactions::{self, Reaction};
use crate::store::uploads::{self, Attachment};
use crate::store::users::{PublicUser, User};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub version: i64,
    pub sender: PublicUser,
    /// `None` once deleted: the message stays as a tombstone.
    pub body: Option<String>,
    pub client_id: Option<String>,
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::serialize_option")]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::time::serialize_option")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub reply_to: Option<i64>,
    /// The first message of the thread this reply belongs to.
    pub thread_id: Option<i64>,
    /// On a thread's first message: how many messages belong to the thread.
    pub reply_count: i64,
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<Attachment>,
    /// When it last changed after it was sent, by any change (an edit, a
    /// deletion, a reaction); not shown, it tells delivery which event a
    /// change is.
    #[serde(skip)]
    pub changed_at: Option<DateTime<Utc>>,
}

/// A message row joined with its sender, as every message query selects it.
#[derive(FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    conversation_id: i64,
    seq: i64,
    version: i64,
    body: Option<String>,
    client_id: Option<String>,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
    reply_to: Option<i64>,
    thread_id: Option<i64>,
    reply_count: i32,
    reactions: Option<String>,
    attachments: Option<String>,
    changed_at: Option<DateTime<Utc>>,
    sender_id: i64,
    sender_username: Option<String>,
    sender_first_name: String,
    sender_last_name: String,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            conversation_id: row.conversation_id,
            seq: row.seq,
            version: row.version,
            sender: PublicUser {
                id: row.sender_id,
                username: row.sender_username,
                first_name: row.sender_first_name,
                last_name: row.sender_last_name,
            },
            body: row.body,
            client_id: row.client_id,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted_at: row.deleted_at,
            reply_to: row.reply_to,
            thread_id: row.thread_id,
            reply_count: i64::from(row.reply_count),
            reactions: reactions::from_column(row.reactions.as_deref()),
            attachments: uploads::from_column(row.attachments.as_deref()),
            changed_at: row.changed_at,
        }
    }
}

macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.seq, m.version, \
         IF(s.erased_at IS NULL, m.body, NULL) AS body, m.client_id, m.created_at, m.edited_at, \
         COALESCE(m.deleted_at, s.erased_at) AS deleted_at, \
         m.reply_to, m.thread_id, m.reply_count, \
         IF(s.erased_at IS NULL, m.reactions, NULL) AS reactions, \
         IF(s.erased_at IS NULL, m.attachments, NULL) AS attachments, m.changed_at, \
         s.id AS sender_id, s.username AS sender_username, \
         s.first_name AS sender_first_name, s.last_name AS sender_last_name"
    };
}
pub(crate) use message_columns;

pub enum Sent {
    /// Stored; the conversation has `participant_count` participants.
    Created {
        message: Message,
        participant_count: i32,
    },
    /// The sender already used this `client_id` here: the stored message.
    Repeated(Message),
    /// Beyond the sender's rate limit, in the window that began then.
    Limited { window_started_at: DateTime<Utc> },
    /// The sender is not a participant (or the conversation does not exist).
    NotParticipant,
    /// `reply_to` names no message of this conversation.
    NoSuchReplyTo,
    /// Another send attached one of the uploads first.
    AttachmentTaken,
}

/// A new message: its text (none with attachments), its retry key, the
/// message it answers and the uploads it carries.
pub struct Draft<'a> {
    pub body: Option<&'a MessageBody>,
    pub client_id: Option<&'a ClientId>,
    pub reply_to: Option<i64>,
    pub attachments: &'a [Attachment],
}

impl<'a> Draft<'a> {
    /// A text that answers none, with no retry key and no attachment.
    pub fn new(body: &'a MessageBody) -> Self {
        Draft {
            body: Some(body),
            client_id: None,
            reply_to: None,
            attachments: &[],
        }
    }
}

/// Stores a message as the conversation's next `seq` and `version`, moves the
/// sender's read marker to it and the conversation's activity forward, in one
/// transaction; only a participant can send. A reply joins the thread of the
/// message it answers, whose `reply_count` rises (without a new `version`).
/// The send counts as one use of `counted` (given back when it changes
/// nothing). One call of the `send_message` procedure: the conversation's
/// lock is held for no round trip of the network.
pub async fn send(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    sender: &User,
    draft: Draft<'_>,
    counted: rate_windows::Use,
    now: DateTime<Utc>,
) -> Result<Sent, sqlx::Error> {
    let Draft {
        body,
        client_id,
        reply_to,
        attachments,
    } = draft;
    let body = body.map_or("", MessageBody::as_str);
    let upload_ids = (!attachments.is_empty()).then(|| {
        let ids: Vec<&str> = attachments.iter().map(|a| a.id.as_str()).collect();
        serde_json::Value::from(ids).to_string()
    });
    let stored: SendOutcome = sqlx::query_as("CALL send_message(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(conversation_id)
        .bind(sender.id)
        .bind(body)
        .bind(client_id.map(ClientId::as_str))
        .bind(now.naive_utc())
        .bind(reply_to)
        .bind(uploads::to_column(attachments))
        .bind(upload_ids)
        .bind(counted.bucket)
        .bind(counted.allowed)
        .bind(counted.window_began_after.naive_utc())
        .fetch_one(&mut *conn)
        .await?;
    match stored.outcome.as_str() {
        "created" => {}
        "limited" => {
            return Ok(Sent::Limited {
                window_started_at: stored.window_started_at.unwrap_or(now),
            });
        }
        "repeated" => {
            let repeated = by_client_id(
                &mut *conn,
                conversation_id,
                sender.id,
                client_id.map(ClientId::as_str),
            )
            .await?;
            return repeated
                .map(Sent::Repeated)
                .ok_or_else(|| unexpected("a repeated send without its stored message"));
        }
        "not_participant" => return Ok(Sent::NotParticipant),
        "no_reply_to" => return Ok(Sent::NoSuchReplyTo),
        "attachment_taken" => return Ok(Sent::AttachmentTaken),
        other => return Err(unexpected(&format!("send_message answered {other:?}"))),
    }
    let (Some(id), Some(seq), Some(version), Some(participant_count)) = (
        stored.id,
        stored.seq,
        stored.version,
        stored.participant_count,
    ) else {
        return Err(unexpected(
            "send_message created a message without its numbers",
        ));
    };
    Ok(Sent::Created {
        message: Message {
            id,
            conversation_id,
            seq,
            version,
            sender: PublicUser::from(sender),
            body: Some(body.to_string()),
            client_id: client_id.map(|c| c.as_str().to_string()),
            created_at: now,
            edited_at: None,
            deleted_at: None,
            reply_to,
            thread_id: stored.thread_id,
            reply_count: 0,
            reactions: Vec::new(),
            attachments: attachments.to_vec(),
            changed_at: None,
        },
        participant_count,
    })
}

/// The one row `send_message` answers (see its migration).
#[derive(FromRow)]
struct SendOutcome {
    outcome: String,
    id: Option<i64>,
    seq: Option<i64>,
    version: Option<i64>,
    thread_id: Option<i64>,
    participant_count: Option<i32>,
    window_started_at: Option<DateTime<Utc>>,
}

fn unexpected(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(what.to_string())
}

/// The caller's stored send with `client_id` in a conversation they take
/// part in, if any.
pub async fn repeat_of(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    sender_id: i64,
    client_id: &ClientId,
) -> Result<Option<Message>, sqlx::Error> {
    if !crate::store::conversations::is_member(conn, conversation_id, sender_id).await? {
        return Ok(None);
    }
    by_client_id(conn, conversation_id, sender_id, Some(client_id.as_str())).await
}

async fn by_client_id(
    conn: &mut MySqlConnection,
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
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(Message::from))
}

/// One message of a conversation `user_id` takes part in, a tombstone
/// included; `None` alike for a stranger, a missing message and another
/// conversation's message.
pub async fn one_for_member(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
    user_id: i64,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users s ON s.id = m.sender_id \
          WHERE m.id = ? AND m.conversation_id = ? \
            AND EXISTS (SELECT 1 FROM conversation_participants p \
                         WHERE p.conversation_id = m.conversation_id AND p.user_id = ?)"
    ))
    .bind(message_id)
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(Message::from))
}

/// One message of a conversation, as a change reads it under the
/// conversation's lock.
pub(crate) async fn in_conversation(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
) -> Result<Option<Message>, sqlx::Error> {
    let row: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m JOIN users s ON s.id = m.sender_id \
          WHERE m.id = ? AND m.conversation_id = ?"
    ))
    .bind(message_id)
    .bind(conversation_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Message::from))
}

/// What a change to an existing message is.
pub enum Change<'a> {
    Edit(&'a MessageBody),
    Delete,
}

pub enum Changed {
    /// The message as it now stands.
    Done(Box<Message>),
    /// Deleting a tombstone again: nothing changed.
    Unchanged,
    /// No such message in a conversation the caller takes part in.
    NotFound,
    /// The caller is a participant but not the message's sender.
    NotSender,
    /// Editing a deleted message.
    Deleted,
}

/// Edits or deletes a message of `editor`'s, taking the conversation's next
/// `version`.
pub async fn change(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
    editor: i64,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<Changed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let Some(locked) = lock_for_member(&mut tx, conversation_id, editor).await? else {
        return Ok(Changed::NotFound);
    };
    let Some(mut message) = in_conversation(&mut tx, conversation_id, message_id).await? else {
        return Ok(Changed::NotFound);
    };
    if message.sender.id != editor {
        return Ok(Changed::NotSender);
    }
    let version = locked.last_version + 1;
    match (change, message.deleted_at.is_some()) {
        (Change::Edit(_), true) => return Ok(Changed::Deleted),
        (Change::Delete, true) => return Ok(Changed::Unchanged),
        (Change::Edit(body), false) => {
            sqlx::query(
                "UPDATE messages SET body = ?, edited_at = ?, changed_at = ?, version = ? \
                 WHERE id = ?",
            )
            .bind(body.as_str())
            .bind(now.naive_utc())
            .bind(now.naive_utc())
            .bind(version)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
            message.body = Some(body.as_str().to_string());
            message.edited_at = Some(now);
            message.changed_at = Some(now);
        }
        (Change::Delete, false) => {
            sqlx::query(
                "UPDATE messages SET body = NULL, reactions = NULL, attachments = NULL, \
                 deleted_at = ?, changed_at = ?, version = ? WHERE id = ?",
            )
            .bind(now.naive_utc())
            .bind(now.naive_utc())
            .bind(version)
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
            if !message.reactions.is_empty() {
                reactions::forget(&mut tx, message_id).await?;
            }
            message.body = None;
            message.deleted_at = Some(now);
            message.reactions.clear();
            message.attachments.clear();
            message.changed_at = Some(now);
        }
    }
    sqlx::query("UPDATE conversations SET last_version = ? WHERE id = ?")
        .bind(version)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    message.version = version;
    Ok(Changed::Done(Box::new(message)))
}

/// Which messages a page holds, from which position; a cursor carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Walk {
    /// Newest first: `seq` below the bound.
    #[serde(rename = "o")]
    Older,
    /// Oldest first: `seq` above the bound.
    #[serde(rename = "a")]
    After,
    /// In change order: `version` above the bound.
    #[serde(rename = "s")]
    Since,
    /// The replies of the thread of this first message, oldest first: `seq`
    /// above the bound.
    #[serde(rename = "t")]
    Thread(i64),
}

/// The page query of each walk, binding conversation id, bound, (the
/// thread's first message,) conversation id and reader id, and limit (its
/// plan is checked by the tests). The
/// reader's membership is a condition of the page, evaluated once: a page
/// with messages needs no statement of its own to check it.
pub fn page_sql(walk: Walk) -> &'static str {
    macro_rules! page {
        ($index:literal, $condition:literal, $order:literal) => {
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m FORCE INDEX (",
                $index,
                ") JOIN users s ON s.id = m.sender_id \
                 WHERE m.conversation_id = ? AND ",
                $condition,
                " AND EXISTS (SELECT 1 FROM conversation_participants p \
                              WHERE p.conversation_id = ? AND p.user_id = ?) \
                 ORDER BY ",
                $order,
                " LIMIT ?"
            )
        };
    }
    match walk {
        Walk::Older => page!("messages_seq", "m.seq < ?", "m.seq DESC"),
        Walk::After => page!("messages_seq", "m.seq > ?", "m.seq ASC"),
        Walk::Since => page!("messages_version", "m.version > ?", "m.version ASC"),
        Walk::Thread(_) => page!(
            "messages_thread",
            "m.seq > ? AND m.thread_id = ?",
            "m.seq ASC"
        ),
    }
}

/// Up to `limit` messages of a conversation beyond `bound` along `walk`, or
/// `None` when `reader_id` does not take part in it (or a thread's first
/// message is not in the conversation). The index is forced: on
/// a large conversation MariaDB was seen to choose a `ref` scan of the whole
/// conversation over the `range` this query needs.
pub async fn page(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    reader_id: i64,
    bound: i64,
    walk: Walk,
    limit: i64,
) -> Result<Option<Vec<Message>>, sqlx::Error> {
    let mut query = sqlx::query_as(page_sql(walk))
        .bind(conversation_id)
        .bind(bound);
    if let Walk::Thread(first) = walk {
        query = query.bind(first);
    }
    let rows: Vec<MessageRow> = query
        .bind(conversation_id)
        .bind(reader_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        // An empty page, or a stranger's, or a thread of another conversation.
        let visible = match walk {
            Walk::Thread(first) => is_visible(conn, conversation_id, first, reader_id).await?,
            _ => crate::store::conversations::is_member(conn, conversation_id, reader_id).await?,
        };
        if !visible {
            return Ok(None);
        }
    }
    Ok(Some(rows.into_iter().map(Message::from).collect()))
}

/// Whether `reader_id` takes part in the conversation and `message_id` is
/// one of its messages.
pub(crate) async fn is_visible(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    message_id: i64,
    reader_id: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM conversation_participants \
                         WHERE conversation_id = ? AND user_id = ?) \
            AND EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
    )
    .bind(conversation_id)
    .bind(reader_id)
    .bind(message_id)
    .bind(conversation_id)
    .fetch_one(conn)
    .await
}

/// The conversation's change log after `version`, oldest change first, up to
/// `limit` messages: each as it stands now, at its latest version.
pub async fn log_since(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    version: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages m FORCE INDEX (messages_version) JOIN users s ON s.id = m.sender_id \
          WHERE m.conversation_id = ? AND m.version > ? ORDER BY m.version ASC LIMIT ?"
    ))
    .bind(conversation_id)
    .bind(version)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(Message::from).collect())
}
