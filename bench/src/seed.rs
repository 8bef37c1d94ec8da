//! The data set, written with multi-row inserts: a user in 20 conversations of
//! 3 participants with 5 messages each, a conversation of 100,020 messages,
//! 32 conversations for concurrent senders (each with two listeners of its
//! own), two conversations of 1,000 members (the listeners' room and a quiet
//! one), a user in 1,000 conversations, for search 1,000,000 messages in
//! 1,000 conversations, 50 of them a searcher's, and an empty conversation
//! the autocommit INSERT fills.

use chrono::{DateTime, TimeDelta, Utc};
use shared::store::users::User;
use shared::{password, time};
use sqlx::{MySqlPool, QueryBuilder};

pub const PASSWORD: &str = "correct horse battery staple";
pub const BIG_CONVERSATION_MESSAGES: i64 = 100_020;

pub struct DataSet {
    pub login_email: String,
    /// Member of the 20 small conversations.
    pub reader: User,
    /// Member of the big conversation and of the one the send scenario fills.
    pub pager: User,
    pub big_conversation: i64,
    pub send_conversation: i64,
    /// One per concurrent sender: the pager and two listeners in each.
    pub spread_conversations: Vec<i64>,
    /// The two listeners of each spread conversation, 64 in all.
    pub spread_listeners: Vec<User>,
    /// The pager and 999 listeners.
    pub room: i64,
    pub room_listeners: Vec<User>,
    /// The pager and 999 others who never connect: the room's send into a
    /// conversation of the same size that nobody listens to.
    pub quiet_room: i64,
    /// Member of 1,000 conversations of 2 participants with 3 messages each.
    pub busy: User,
    /// Member of 50 of the search corpus's 1,000 conversations.
    pub searcher: User,
    /// The pager's and a friend's, for the autocommit INSERT measurement
    /// alone: its counters stay at nought, as nothing reads it.
    pub autocommit_conversation: i64,
}

pub const SEARCH_CONVERSATIONS: i64 = 1_000;
pub const SEARCH_MESSAGES_EACH: i64 = 1_000;
pub const SEARCHER_CONVERSATIONS: i64 = 50;
/// In one message of every conversation: 1,000 matches, 50 the searcher's.
pub const RARE_WORD: &str = "quetzal";
/// In every tenth message: 100,000 matches, 5,000 the searcher's.
pub const COMMON_WORD: &str = "lunch";

pub const BUSY_CONVERSATIONS: i64 = 1_000;
pub const ROOM_LISTENERS: usize = 999;

async fn insert_user(
    pool: &MySqlPool,
    name: &str,
    hash: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<User> {
    let email = format!("{name}@bench.test");
    let id = sqlx::query(
        "INSERT INTO users (email, username, password_hash, first_name, last_name, created_at) VALUES (?, ?, ?, '', '', ?)",
    )
    .bind(&email)
    .bind(name)
    .bind(hash)
    .bind(at.naive_utc())
    .execute(pool)
    .await?
    .last_insert_id();
    let id = i64::try_from(id)?;
    Ok(User {
        id,
        email,
        username: name.into(),
        first_name: String::new(),
        last_name: String::new(),
        created_at: at,
        session: None,
    })
}

async fn insert_conversation(
    pool: &MySqlPool,
    creator: i64,
    members: &[i64],
    at: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let id = sqlx::query(
        "INSERT INTO conversations (title, created_by, created_at, last_activity_at, participant_count) \
         VALUES (NULL, ?, ?, ?, ?)",
    )
    .bind(creator)
    .bind(at.naive_utc())
    .bind(at.naive_utc())
    .bind(members.len() as i64)
    .execute(pool)
    .await?
    .last_insert_id();
    let id = i64::try_from(id)?;
    let mut query = QueryBuilder::new(
        "INSERT INTO conversation_participants (conversation_id, user_id, joined_at) ",
    );
    query.push_values(members, |mut row, user| {
        row.push_bind(id).push_bind(*user).push_bind(at.naive_utc());
    });
    query.build().execute(pool).await?;
    Ok(id)
}

/// Inserts `count` messages alternating between `senders`, one millisecond
/// apart from `from`, and moves the conversation's counters and activity to
/// the last one.
async fn insert_messages(
    pool: &MySqlPool,
    conversation: i64,
    senders: &[i64],
    count: i64,
    from: DateTime<Utc>,
) -> anyhow::Result<()> {
    const BATCH: i64 = 2_000;
    let mut start = 0;
    while start < count {
        let end = (start + BATCH).min(count);
        let mut query = QueryBuilder::new(
            "INSERT INTO messages (conversation_id, sender_id, body, client_id, created_at, seq, version) ",
        );
        query.push_values(start..end, |mut row, n| {
            let sender = senders[(n as usize) % senders.len()];
            let at = from + TimeDelta::milliseconds(n);
            row.push_bind(conversation)
                .push_bind(sender)
                .push_bind(format!(
                    "Message number {n} in a conversation that goes on and on."
                ))
                .push_bind(None::<String>)
                .push_bind(at.naive_utc())
                .push_bind(n + 1)
                .push_bind(n + 1);
        });
        query.build().execute(pool).await?;
        start = end;
    }
    let last = from + TimeDelta::milliseconds(count - 1);
    sqlx::query(
        "UPDATE conversations SET last_seq = ?, last_version = ?, last_activity_at = ? WHERE id = ?",
    )
    .bind(count)
    .bind(count)
    .bind(last.naive_utc())
    .bind(conversation)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn seed(pool: &MySqlPool) -> anyhow::Result<DataSet> {
    // One hash serves every account: hashing is measured by the login scenario.
    let hash = password::hash(PASSWORD.into()).await?;
    let base = time::now() - TimeDelta::days(1);
    let login = insert_user(pool, "login", &hash, base).await?;
    let reader = insert_user(pool, "reader", &hash, base).await?;
    let pager = insert_user(pool, "pager", &hash, base).await?;
    let friend = insert_user(pool, "friend", &hash, base).await?;

    for n in 0..20 {
        let a = insert_user(pool, &format!("member-{n}-a"), &hash, base).await?;
        let b = insert_user(pool, &format!("member-{n}-b"), &hash, base).await?;
        let at = base + TimeDelta::minutes(n);
        let id = insert_conversation(pool, reader.id, &[reader.id, a.id, b.id], at).await?;
        insert_messages(pool, id, &[reader.id, a.id, b.id], 5, at).await?;
    }
    let big_conversation =
        insert_conversation(pool, pager.id, &[pager.id, friend.id], base).await?;
    insert_messages(
        pool,
        big_conversation,
        &[pager.id, friend.id],
        BIG_CONVERSATION_MESSAGES,
        base,
    )
    .await?;
    let send_conversation =
        insert_conversation(pool, pager.id, &[pager.id, friend.id], base).await?;
    let autocommit_conversation =
        insert_conversation(pool, pager.id, &[pager.id, friend.id], base).await?;
    let mut spread_conversations = Vec::new();
    let mut spread_listeners = Vec::new();
    for n in 0..32 {
        let a = insert_user(pool, &format!("listener-{n}-a"), &hash, base).await?;
        let b = insert_user(pool, &format!("listener-{n}-b"), &hash, base).await?;
        spread_conversations
            .push(insert_conversation(pool, pager.id, &[pager.id, a.id, b.id], base).await?);
        spread_listeners.extend([a, b]);
    }
    let mut room_listeners = Vec::new();
    for n in 0..ROOM_LISTENERS {
        room_listeners.push(insert_user(pool, &format!("room-{n}"), &hash, base).await?);
    }
    let room_members: Vec<i64> = std::iter::once(pager.id)
        .chain(room_listeners.iter().map(|u| u.id))
        .collect();
    let room = insert_conversation(pool, pager.id, &room_members, base).await?;
    let mut quiet_members = vec![pager.id];
    for n in 0..ROOM_LISTENERS {
        quiet_members.push(
            insert_user(pool, &format!("quiet-{n}"), &hash, base)
                .await?
                .id,
        );
    }
    let quiet_room = insert_conversation(pool, pager.id, &quiet_members, base).await?;
    let busy = insert_user(pool, "busy", &hash, base).await?;
    for n in 0..BUSY_CONVERSATIONS {
        let at = base + TimeDelta::seconds(n);
        let id = insert_conversation(pool, busy.id, &[busy.id, friend.id], at).await?;
        insert_messages(pool, id, &[friend.id, busy.id], 3, at).await?;
    }
    let searcher = insert_user(pool, "searcher", &hash, base).await?;
    let stranger = insert_user(pool, "stranger", &hash, base).await?;
    for n in 0..SEARCH_CONVERSATIONS {
        let member = if n < SEARCHER_CONVERSATIONS {
            searcher.id
        } else {
            stranger.id
        };
        let id = insert_conversation(pool, member, &[member, friend.id], base).await?;
        insert_search_messages(pool, id, [member, friend.id], base).await?;
    }
    sqlx::query("ANALYZE TABLE messages, conversations, conversation_participants")
        .execute(pool)
        .await?;
    Ok(DataSet {
        login_email: login.email,
        reader,
        pager,
        big_conversation,
        send_conversation,
        spread_conversations,
        spread_listeners,
        room,
        room_listeners,
        quiet_room,
        busy,
        searcher,
        autocommit_conversation,
    })
}

/// [`SEARCH_MESSAGES_EACH`] messages of everyday words, one in ten with
/// [`COMMON_WORD`] and one with [`RARE_WORD`], in one statement.
async fn insert_search_messages(
    pool: &MySqlPool,
    conversation: i64,
    senders: [i64; 2],
    from: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO messages (conversation_id, sender_id, body, created_at, seq, version) \
         WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         SELECT ?, IF(i % 2 = 0, ?, ?), \
                CONCAT('Update ', i, ' on the weekly plan for the team', \
                       IF(i % 10 = 3, ' over {COMMON_WORD}', ''), IF(i = 7, ' and a {RARE_WORD}', '')), \
                ? + INTERVAL i SECOND, i + 1, i + 1 FROM n",
        last = SEARCH_MESSAGES_EACH - 1
    )))
    .bind(conversation)
    .bind(senders[0])
    .bind(senders[1])
    .bind(from.naive_utc())
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE conversations SET last_seq = ?, last_version = ?, \
         last_activity_at = ? + INTERVAL ? SECOND WHERE id = ?",
    )
    .bind(SEARCH_MESSAGES_EACH)
    .bind(SEARCH_MESSAGES_EACH)
    .bind(from.naive_utc())
    .bind(SEARCH_MESSAGES_EACH - 1)
    .bind(conversation)
    .execute(pool)
    .await?;
    Ok(())
}
