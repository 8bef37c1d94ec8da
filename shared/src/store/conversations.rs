//! Conversations, their participants and read markers.
//!
//! A change of membership locks the conversation row first, like every change
//! of its messages, and touches participant rows in user-id order: one lock
//! order everywhere, so concurrent adds, removes and sends never deadlock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, FromRow, MySqlConnection, QueryBuilder};

use crate::domain::Title;
use crate::store::delivery::{self, OutboxKind};
use crate::store::messages::Message;
use crate::store::users::PublicUser;

/// At most this many participants in one conversation.
pub const MAX_PARTICIPANTS: i64 = 1_000;
/// Participants shown inline in a conversation; the rest are paged.
pub const INLINE_PARTICIPANTS: i64 = 100;

/// A conversation as one participant sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub title: Option<String>,
    pub direct: bool,
    pub created_by: Option<i64>,
    #[serde(serialize_with = "crate::time::serialize")]
    pub created_at: DateTime<Utc>,
    pub participants: Vec<PublicUser>,
    pub participant_count: i64,
    pub last_message: Option<Message>,
    pub last_seq: i64,
    pub last_version: i64,
    pub last_read_seq: i64,
    pub unread_count: i64,
}

/// A conversation as one member sees it, with its last message, before its
/// participants are attached.
#[derive(FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub title: Option<String>,
    direct: bool,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The listing's key: the last message's time, else the creation's.
    pub last_activity_at: DateTime<Utc>,
    pub last_seq: i64,
    last_version: i64,
    participant_count: i32,
    pub last_read_seq: i64,
    lm_id: Option<i64>,
    lm_seq: Option<i64>,
    lm_version: Option<i64>,
    lm_body: Option<String>,
    lm_client_id: Option<String>,
    lm_created_at: Option<DateTime<Utc>>,
    lm_edited_at: Option<DateTime<Utc>>,
    lm_deleted_at: Option<DateTime<Utc>>,
    lm_reply_to: Option<i64>,
    lm_thread_id: Option<i64>,
    lm_reply_count: Option<i32>,
    lm_reactions: Option<String>,
    lm_attachments: Option<String>,
    lm_sender_id: Option<i64>,
    lm_sender_username: Option<String>,
    lm_sender_first_name: Option<String>,
    lm_sender_last_name: Option<String>,
}

impl ConversationRow {
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    pub fn into_conversation(self, participants: Vec<PublicUser>) -> Conversation {
        let last_message = match (
            self.lm_id,
            self.lm_seq,
            self.lm_version,
            self.lm_created_at,
            self.lm_sender_id,
        ) {
            (Some(id), Some(seq), Some(version), Some(created_at), Some(sender_id)) => {
                Some(Message {
                    id,
                    conversation_id: self.id,
                    seq,
                    version,
                    sender: PublicUser {
                        id: sender_id,
                        username: self.lm_sender_username,
                        first_name: self.lm_sender_first_name.unwrap_or_default(),
                        last_name: self.lm_sender_last_name.unwrap_or_default(),
                    },
                    body: self.lm_body,
                    client_id: self.lm_client_id,
                    created_at,
                    edited_at: self.lm_edited_at,
                    deleted_at: self.lm_deleted_at,
                    reply_to: self.lm_reply_to,
                    thread_id: self.lm_thread_id,
                    reply_count: i64::from(self.lm_reply_count.unwrap_or_default()),
                    reactions: crate::store::reactions::from_column(self.lm_reactions.as_deref()),
                    attachments: crate::store::uploads::from_column(self.lm_attachments.as_deref()),
                    changed_at: None,
                })
            }
            _ => None,
        };
        Conversation {
            id: self.id,
            title: self.title,
            direct: self.direct,
            created_by: self.created_by,
            created_at: self.created_at,
            participants,
            participant_count: i64::from(self.participant_count),
            last_message,
            last_seq: self.last_seq,
            last_version: self.last_version,
            last_read_seq: self.last_read_seq,
            unread_count: (self.last_seq - self.last_read_seq).max(0),
        }
    }
}

/// The member's view of conversations with the last message of each, found
/// by one dive into `messages (conversation_id, seq)` per row.
macro_rules! member_view {
    () => {
        "SELECT c.id, c.title, (c.direct_low IS NOT NULL) AS direct, c.created_by, c.created_at, \
                c.last_activity_at, c.last_seq, c.last_version, c.participant_count, p.last_read_seq, \
                m.id AS lm_id, m.seq AS lm_seq, m.version AS lm_version, \
                IF(s.erased_at IS NULL, m.body, NULL) AS lm_body, \
                m.client_id AS lm_client_id, m.created_at AS lm_created_at, m.edited_at AS lm_edited_at, \
                COALESCE(m.deleted_at, s.erased_at) AS lm_deleted_at, \
                m.reply_to AS lm_reply_to, m.thread_id AS lm_thread_id, m.reply_count AS lm_reply_count, \
                IF(s.erased_at IS NULL, m.reactions, NULL) AS lm_reactions, \
                IF(s.erased_at IS NULL, m.attachments, NULL) AS lm_attachments, \
                s.id AS lm_sender_id, s.username AS lm_sender_username, \
                s.first_name AS lm_sender_first_name, s.last_name AS lm_sender_last_name \
         FROM conversation_participants p \
         JOIN conversations c ON c.id = p.conversation_id \
         LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq \
         LEFT JOIN users s ON s.id = m.sender_id "
    };
}

/// A conversation's row as a change sees it, locked until the transaction
/// ends.
#[derive(FromRow)]
pub struct Locked {
    pub last_seq: i64,
    pub last_version: i64,
    pub participant_count: i32,
    pub direct: bool,
    pub created_by: Option<i64>,
}

/// Binds conversation id and user id (its plan is checked by the tests).
/// Membership is part of the condition, for a member removed since the plain
/// check before it; the row stays locked even when the condition fails
/// (InnoDB locks the row before the subquery is evaluated, at any isolation
/// level), which is why that check comes first.
pub const LOCK_FOR_MEMBER_SQL: &str = "SELECT c.last_seq, c.last_version, c.participant_count, \
            (c.direct_low IS NOT NULL) AS direct, c.created_by \
     FROM conversations c WHERE c.id = ? \
      AND EXISTS (SELECT 1 FROM conversation_participants p \
                  WHERE p.conversation_id = c.id AND p.user_id = ?) \
     FOR UPDATE";

/// Locks the conversation's row, if `user_id` takes part in it: the first
/// step of every change to a conversation. Membership is read first without
/// a lock, so a stranger's change takes no lock at all and cannot queue the
/// members' changes behind it; then only the conversation's row is locked
/// (the membership subquery is a plain read), and membership changes take
/// this same lock first, so membership cannot change under the caller.
pub async fn lock_for_member(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
) -> Result<Option<Locked>, sqlx::Error> {
    if !is_member(&mut *conn, conversation_id, user_id).await? {
        return Ok(None);
    }
    sqlx::query_as(LOCK_FOR_MEMBER_SQL)
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
}

/// Creates a group conversation with its participants, all or nothing.
pub async fn create(
    conn: &mut MySqlConnection,
    title: Option<&Title>,
    created_by: i64,
    participant_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let id = insert_conversation(&mut tx, title, created_by, None, participant_ids, now).await?;
    delivery::queue_for_users(&mut tx, id, OutboxKind::Joined, participant_ids, None, now).await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert_conversation(
    conn: &mut MySqlConnection,
    title: Option<&Title>,
    created_by: i64,
    direct_pair: Option<(i64, i64)>,
    participant_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO conversations \
           (title, created_by, created_at, last_activity_at, participant_count, direct_low, direct_high) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(title.map(Title::as_str))
    .bind(created_by)
    .bind(now.naive_utc())
    .bind(now.naive_utc())
    .bind(participant_ids.len() as i64)
    .bind(direct_pair.map(|(low, _)| low))
    .bind(direct_pair.map(|(_, high)| high))
    .execute(&mut *conn)
    .await?;
    let id = i64::try_from(result.last_insert_id()).map_err(|e| sqlx::Error::Decode(e.into()))?;
    insert_participants(conn, id, participant_ids, now, 0).await?;
    Ok(id)
}

/// Whether opening a direct conversation made it.
pub enum Opened {
    Created(i64),
    Existing(i64),
}

impl Opened {
    pub fn id(&self) -> i64 {
        match self {
            Opened::Created(id) | Opened::Existing(id) => *id,
        }
    }
}

/// Opens the direct conversation of a pair of users (the same id twice for
/// notes to self), creating it once: the unique pair key decides between
/// concurrent openers. Both users take part afterwards; one who already did
/// keeps their read marker.
pub async fn open_direct(
    conn: &mut MySqlConnection,
    caller: i64,
    other: i64,
    now: DateTime<Utc>,
) -> Result<Opened, sqlx::Error> {
    let pair = (caller.min(other), caller.max(other));
    let mut members = vec![pair.0, pair.1];
    members.dedup();
    let mut tx = conn.begin().await?;
    match insert_conversation(&mut tx, None, caller, Some(pair), &members, now).await {
        Ok(id) => {
            delivery::queue_for_users(&mut tx, id, OutboxKind::Joined, &members, None, now).await?;
            tx.commit().await?;
            return Ok(Opened::Created(id));
        }
        Err(err) if super::is_unique_violation(&err) => tx.rollback().await?,
        Err(err) => return Err(err),
    }
    let mut tx = conn.begin().await?;
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, last_seq FROM conversations WHERE direct_low = ? AND direct_high = ? FOR UPDATE",
    )
    .bind(pair.0)
    .bind(pair.1)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, last_seq)) = row else {
        return Err(sqlx::Error::RowNotFound);
    };
    let missing = missing_members(&mut tx, id, &members).await?;
    join(&mut tx, id, &missing, now, last_seq).await?;
    // The caller sees it open; whoever it brought back is told they are in.
    let mut told = missing.clone();
    told.push(caller);
    delivery::queue_for_users(&mut tx, id, OutboxKind::Joined, &told, None, now).await?;
    tx.commit().await?;
    Ok(Opened::Existing(id))
}

/// What adding participants came to.
pub enum Added {
    /// Done; these users were not participants before.
    Done { newcomers: Vec<i64> },
    /// The caller does not take part (or there is no such conversation).
    NotFound,
    /// A direct conversation takes no one else.
    Direct,
    /// The conversation would pass [`MAX_PARTICIPANTS`].
    Full,
}

/// Adds participants, all or none; those already present keep their state.
/// Newcomers' read markers start at the conversation's `last_seq`.
pub async fn add_participants(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    caller: i64,
    user_ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Added, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let Some(locked) = lock_for_member(&mut tx, conversation_id, caller).await? else {
        return Ok(Added::NotFound);
    };
    if locked.direct {
        return Ok(Added::Direct);
    }
    let missing = missing_members(&mut tx, conversation_id, user_ids).await?;
    if i64::from(locked.participant_count) + missing.len() as i64 > MAX_PARTICIPANTS {
        return Ok(Added::Full);
    }
    join(&mut tx, conversation_id, &missing, now, locked.last_seq).await?;
    if !missing.is_empty() {
        delivery::queue_for_users(
            &mut tx,
            conversation_id,
            OutboxKind::Joined,
            &missing,
            None,
            now,
        )
        .await?;
        delivery::queue_for_participants(
            &mut tx,
            conversation_id,
            OutboxKind::Updated,
            &missing,
            None,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Added::Done { newcomers: missing })
}

/// The users of `user_ids` who do not take part yet.
async fn missing_members(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    let mut query =
        QueryBuilder::new("SELECT user_id FROM conversation_participants WHERE conversation_id = ");
    query.push_bind(conversation_id).push(" AND user_id IN (");
    let mut ids = query.separated(", ");
    for id in user_ids {
        ids.push_bind(*id);
    }
    query.push(")");
    let present: Vec<(i64,)> = query.build_query_as().fetch_all(&mut *conn).await?;
    Ok(user_ids
        .iter()
        .copied()
        .filter(|id| !present.iter().any(|(p,)| p == id))
        .collect())
}

/// Makes `newcomers` participants and counts them in; the caller holds the
/// conversation's lock.
async fn join(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    newcomers: &[i64],
    now: DateTime<Utc>,
    read_up_to: i64,
) -> Result<(), sqlx::Error> {
    if newcomers.is_empty() {
        return Ok(());
    }
    insert_participants(conn, conversation_id, newcomers, now, read_up_to).await?;
    sqlx::query("UPDATE conversations SET participant_count = participant_count + ? WHERE id = ?")
        .bind(newcomers.len() as i64)
        .bind(conversation_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_participants(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_ids: &[i64],
    joined_at: DateTime<Utc>,
    read_up_to: i64,
) -> Result<(), sqlx::Error> {
    let mut sorted = user_ids.to_vec();
    sorted.sort_unstable();
    let mut query = QueryBuilder::new(
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at, last_read_seq) ",
    );
    query.push_values(&sorted, |mut row, user_id| {
        row.push_bind(conversation_id)
            .push_bind(*user_id)
            .push_bind(joined_at.naive_utc())
            .push_bind(read_up_to);
    });
    query.build().execute(conn).await?;
    Ok(())
}

/// What removing a participant came to.
pub enum Removed {
    Done,
    /// The caller does not take part, or the target does not.
    NotFound,
    /// Only the creator may remove someone else.
    NotCreator,
}

/// Removes `target` from the conversation: the caller themselves (leaving) or,
/// for its creator, anyone.
pub async fn remove_participant(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    caller: i64,
    target: i64,
    now: DateTime<Utc>,
) -> Result<Removed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let Some(locked) = lock_for_member(&mut tx, conversation_id, caller).await? else {
        return Ok(Removed::NotFound);
    };
    if target != caller && locked.created_by != Some(caller) {
        return Ok(Removed::NotCreator);
    }
    let deleted = sqlx::query(
        "DELETE FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(target)
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Ok(Removed::NotFound);
    }
    sqlx::query("UPDATE conversations SET participant_count = participant_count - 1 WHERE id = ?")
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
    delivery::queue_for_users(
        &mut tx,
        conversation_id,
        OutboxKind::Left,
        &[target],
        None,
        now,
    )
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
    tx.commit().await?;
    Ok(Removed::Done)
}

pub enum Renamed {
    Done,
    NotFound,
    /// A direct conversation has no title.
    Direct,
}

/// Sets a group conversation's title (`None` clears it), by any participant;
/// every connected participant is queued `conversation.updated`.
pub async fn rename(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    caller: i64,
    title: Option<&Title>,
    now: DateTime<Utc>,
) -> Result<Renamed, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let Some(locked) = lock_for_member(&mut tx, conversation_id, caller).await? else {
        return Ok(Renamed::NotFound);
    };
    if locked.direct {
        return Ok(Renamed::Direct);
    }
    sqlx::query("UPDATE conversations SET title = ? WHERE id = ?")
        .bind(title.map(Title::as_str).filter(|title| !title.is_empty()))
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
    tx.commit().await?;
    Ok(Renamed::Done)
}

/// Binds conversation id and user id (its plan is checked by the tests).
pub const FOR_MEMBER_SQL: &str = concat!(
    member_view!(),
    "WHERE p.conversation_id = ? AND p.user_id = ?"
);

/// One conversation, if `user_id` takes part in it.
pub async fn for_member(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(FOR_MEMBER_SQL)
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await
}

/// A page of a user's conversations: binds user id, activity bound (twice),
/// id bound, limit and user id (its plan is checked by the tests). The join
/// order is fixed: from the user's participant rows to their conversations,
/// never a walk of all conversations (seen chosen for a user in most of them).
pub const PAGE_FOR_MEMBER_SQL: &str = concat!(
    member_view!(),
    "JOIN (SELECT STRAIGHT_JOIN pc.id FROM conversation_participants pp \
                 JOIN conversations pc ON pc.id = pp.conversation_id \
                WHERE pp.user_id = ? AND (pc.last_activity_at < ? \
                      OR (pc.last_activity_at = ? AND pc.id < ?)) \
                ORDER BY pc.last_activity_at DESC, pc.id DESC LIMIT ?) page ON page.id = c.id \
         WHERE p.user_id = ?"
);

/// A page of a user's conversations, most recent activity first, strictly
/// after the position `(activity, id)`. The page's ids are chosen first, so
/// last messages are looked up for that page only; the page is put in order
/// here rather than by a second sort in the server (measured: that sort's
/// temporary table cost 40% of the statement).
pub async fn page_for_member(
    conn: &mut MySqlConnection,
    user_id: i64,
    after: (DateTime<Utc>, i64),
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let mut rows: Vec<ConversationRow> = sqlx::query_as(PAGE_FOR_MEMBER_SQL)
        .bind(user_id)
        .bind(after.0.naive_utc())
        .bind(after.0.naive_utc())
        .bind(after.1)
        .bind(limit)
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.sort_unstable_by_key(|row| std::cmp::Reverse((row.last_activity_at, row.id)));
    Ok(rows)
}

/// The first [`INLINE_PARTICIPANTS`] participants of each conversation, by
/// user id, in one statement: conversations of at most that many participants
/// all together by `IN`, each larger one by its own bounded branch (measured
/// on a page of 20 small conversations: 0.4 ms against 1.0 ms for a branch
/// each).
pub async fn first_participants(
    conn: &mut MySqlConnection,
    conversations: &[(i64, i64)],
) -> Result<Vec<(i64, PublicUser)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        conversation_id: i64,
        #[sqlx(flatten)]
        user: PublicUser,
    }
    const SELECT: &str = "SELECT p.conversation_id, u.id, u.username, u.first_name, u.last_name \
                          FROM conversation_participants p JOIN users u ON u.id = p.user_id ";
    let (small, large): (Vec<_>, Vec<_>) = conversations
        .iter()
        .partition(|(_, count)| *count <= INLINE_PARTICIPANTS);
    let mut query = QueryBuilder::new("");
    let mut branches = 0;
    if !small.is_empty() {
        query
            .push("(")
            .push(SELECT)
            .push("WHERE p.conversation_id IN (");
        let mut ids = query.separated(", ");
        for (id, _) in &small {
            ids.push_bind(*id);
        }
        query.push("))");
        branches += 1;
    }
    for (id, _) in &large {
        if branches > 0 {
            query.push(" UNION ALL ");
        }
        query
            .push("(")
            .push(SELECT)
            .push("WHERE p.conversation_id = ")
            .push_bind(*id)
            .push(" ORDER BY p.user_id LIMIT ")
            .push_bind(INLINE_PARTICIPANTS)
            .push(")");
        branches += 1;
    }
    if branches == 0 {
        return Ok(Vec::new());
    }
    let mut rows: Vec<Row> = query.build_query_as().fetch_all(&mut *conn).await?;
    rows.sort_unstable_by_key(|r| (r.conversation_id, r.user.id));
    Ok(rows
        .into_iter()
        .map(|r| (r.conversation_id, r.user))
        .collect())
}

/// A participant as the participants page shows it: who, how far they have
/// read (so a client can show who has seen a message), and since when.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Participant {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub user: PublicUser,
    pub last_read_seq: i64,
    #[serde(serialize_with = "crate::time::serialize")]
    pub joined_at: DateTime<Utc>,
}

/// Binds conversation id, user id bound and limit (its plan is checked by the
/// tests).
pub const PARTICIPANTS_PAGE_SQL: &str = "SELECT u.id, u.username, u.first_name, u.last_name, \
                p.last_read_seq, p.joined_at \
         FROM conversation_participants p JOIN users u ON u.id = p.user_id \
         WHERE p.conversation_id = ? AND p.user_id > ? ORDER BY p.user_id LIMIT ?";

/// A page of a conversation's participants by user id, after `after_user`.
pub async fn participants_page(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    after_user: i64,
    limit: i64,
) -> Result<Vec<Participant>, sqlx::Error> {
    sqlx::query_as(PARTICIPANTS_PAGE_SQL)
        .bind(conversation_id)
        .bind(after_user)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
}

/// True when `user_id` takes part in the conversation.
pub async fn is_member(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM conversation_participants WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// A participant's read state after a mark.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReadState {
    pub conversation_id: i64,
    pub last_read_seq: i64,
    pub unread_count: i64,
}

pub enum Marked {
    Done(ReadState),
    NotFound,
    /// The seq is past the conversation's last message.
    PastTheEnd {
        last_seq: i64,
    },
}

/// Read receipts and typing go only to conversations of at most this many
/// participants: in a big group each would fan out to everyone.
pub const PRESENCE_MAX_PARTICIPANTS: i32 = 100;

/// Moves `user_id`'s read marker forward to `seq` (never back). A marker that
/// moves queues a `receipt` for the other participants' connections. No lock on
/// the conversation: marking read never waits for senders.
pub async fn mark_read(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<Marked, sqlx::Error> {
    let row: Option<(i64, i64, i32)> = sqlx::query_as(
        "SELECT c.last_seq, p.last_read_seq, c.participant_count FROM conversation_participants p \
         JOIN conversations c ON c.id = p.conversation_id \
         WHERE p.conversation_id = ? AND p.user_id = ?",
    )
    .bind(conversation_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((last_seq, marker, participant_count)) = row else {
        return Ok(Marked::NotFound);
    };
    if seq > last_seq {
        return Ok(Marked::PastTheEnd { last_seq });
    }
    if seq > marker {
        sqlx::query(
            "UPDATE conversation_participants SET last_read_seq = GREATEST(last_read_seq, ?) \
             WHERE conversation_id = ? AND user_id = ?",
        )
        .bind(seq)
        .bind(conversation_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    let last_read_seq = marker.max(seq);
    let state = ReadState {
        conversation_id,
        last_read_seq,
        unread_count: last_seq - last_read_seq,
    };
    let event = crate::realtime::Event::ConversationRead {
        conversation_id,
        last_read_seq,
        unread_count: state.unread_count,
    };
    let payload = String::from_utf8_lossy(&event.frame()).into_owned();
    delivery::queue_for_users(
        conn,
        conversation_id,
        OutboxKind::Read,
        &[user_id],
        Some(&payload),
        now,
    )
    .await?;
    if seq > marker && participant_count <= PRESENCE_MAX_PARTICIPANTS {
        let receipt = crate::realtime::Event::Receipt {
            conversation_id,
            user_id,
            last_read_seq,
        };
        let payload = String::from_utf8_lossy(&receipt.frame()).into_owned();
        delivery::queue_for_participants(
            conn,
            conversation_id,
            OutboxKind::Receipt,
            &[user_id],
            Some(&payload),
            now,
        )
        .await?;
    }
    Ok(Marked::Done(state))
}

/// Binds the user id (its plan is checked by the tests).
pub const UNREAD_TOTALS_SQL: &str = "SELECT CAST(COALESCE(SUM(c.last_seq - p.last_read_seq), 0) AS SIGNED), \
                CAST(COALESCE(SUM(c.last_seq > p.last_read_seq), 0) AS SIGNED) \
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id \
         WHERE p.user_id = ?";

/// The caller's unread messages over all their conversations, and in how many
/// conversations they are: one pass over the user's participant rows.
pub async fn unread_totals(
    conn: &mut MySqlConnection,
    user_id: i64,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(UNREAD_TOTALS_SQL)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
}

/// Attaches the first participants of every conversation on a page, in one
/// query.
pub async fn with_participants(
    conn: &mut MySqlConnection,
    rows: Vec<ConversationRow>,
) -> Result<Vec<Conversation>, sqlx::Error> {
    let counts: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r.id, i64::from(r.participant_count)))
        .collect();
    let mut by_conversation: HashMap<i64, Vec<PublicUser>> = HashMap::new();
    for (conversation_id, user) in first_participants(&mut *conn, &counts).await? {
        // The counts were read a statement earlier: a conversation that grew
        // past the bound since then still shows only its first participants.
        let members = by_conversation.entry(conversation_id).or_default();
        if members.len() < INLINE_PARTICIPANTS as usize {
            members.push(user);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let members = by_conversation.remove(&row.id).unwrap_or_default();
            row.into_conversation(members)
        })
        .collect())
}

/// The conversation as `user_id` sees it, or `None` when they take no part.
pub async fn view_for(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    user_id: i64,
) -> Result<Option<Conversation>, sqlx::Error> {
    let Some(row) = for_member(conn, conversation_id, user_id).await? else {
        return Ok(None);
    };
    Ok(with_participants(conn, vec![row]).await?.pop())
}
