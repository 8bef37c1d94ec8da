//! Working through an erased account's conversations (see
//! [`crate::store::erasure`]): each conversation's change commits, then is
//! announced to real-time delivery, so the other participants get the
//! conversation without the account and its messages as `message.deleted`.
//! The request that erases does what fits its budget; the maintenance run
//! finishes the rest.

use std::time::Duration;

use sqlx::MySqlConnection;
use tokio::time::Instant;

use crate::realtime::{self, DeliveryQueue};
use crate::store::erasure;
use crate::time;

/// Conversations read per round.
const ROUND: i64 = 50;

/// Where real-time changes are announced, when anywhere.
#[derive(Clone, Copy)]
pub struct Announcer<'a> {
    pub queue: &'a DeliveryQueue,
    pub users_per_shard: u32,
}

/// Erases the account in its pending conversations until none is left
/// (then marks the erasure finished and returns true) or `budget` has
/// passed (false).
pub async fn work_through(
    conn: &mut MySqlConnection,
    announcer: Option<Announcer<'_>>,
    user_id: i64,
    budget: Duration,
) -> Result<bool, sqlx::Error> {
    let started = Instant::now();
    loop {
        let pending = erasure::pending_conversations(&mut *conn, user_id, ROUND).await?;
        if pending.is_empty() {
            erasure::mark_finished(conn, user_id, time::now()).await?;
            return Ok(true);
        }
        for conversation_id in pending {
            let changed =
                erasure::erase_in_conversation(&mut *conn, conversation_id, user_id, time::now())
                    .await?;
            if let Some(Announcer {
                queue,
                users_per_shard,
            }) = announcer
            {
                realtime::announce(
                    &mut *conn,
                    queue,
                    conversation_id,
                    changed.first_version,
                    users_per_shard,
                )
                .await;
            }
            if started.elapsed() >= budget {
                return Ok(false);
            }
        }
    }
}

/// Finishes every erasure left unfinished, oldest first, until `budget` has
/// passed; returns how many finished.
pub async fn resume_all(
    conn: &mut MySqlConnection,
    announcer: Option<Announcer<'_>>,
    budget: Duration,
) -> Result<u64, sqlx::Error> {
    let started = Instant::now();
    let mut finished = 0;
    for user_id in erasure::unfinished(&mut *conn, 100).await? {
        let left = budget.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        if work_through(&mut *conn, announcer, user_id, left).await? {
            finished += 1;
        }
    }
    Ok(finished)
}
