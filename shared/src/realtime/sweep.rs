//! The sweep: every shard whose delivery is overdue is nudged again. A change
//! whose nudge never reached the queue (the queue unreachable, the request
//! cut off after its commit) is then still pushed, within the sweep's
//! interval, instead of only with the conversation's next change.

use chrono::TimeDelta;
use sqlx::MySqlConnection;

use crate::realtime::{DeliveryQueue, Nudge, shards_for};
use crate::store::delivery;
use crate::time;

/// A conversation event still queued after this is overdue: a pass takes
/// events within a second of their change when its nudge arrives.
const EVENT_OVERDUE_AFTER: TimeDelta = TimeDelta::seconds(10);

/// Conversations looked at per sweep; the next sweep takes the rest.
const CONVERSATIONS_PER_SWEEP: i64 = 1_000;

/// Nudges every shard of each conversation with overdue delivery and returns
/// how many nudges were sent. A shard's pass starts at its own cursor.
pub async fn sweep(
    conn: &mut MySqlConnection,
    queue: &DeliveryQueue,
    users_per_shard: u32,
) -> anyhow::Result<usize> {
    let overdue = delivery::overdue(
        conn,
        time::now() - EVENT_OVERDUE_AFTER,
        CONVERSATIONS_PER_SWEEP,
    )
    .await?;
    let mut nudges = Vec::new();
    for conversation in overdue {
        let shards = shards_for(i64::from(conversation.participant_count), users_per_shard);
        let since = conversation
            .delivered_version
            .unwrap_or(conversation.last_version);
        nudges.extend((0..shards).map(|shard| Nudge {
            conversation_id: conversation.conversation_id,
            shard,
            shards,
            since,
        }));
    }
    queue.send(&nudges).await?;
    Ok(nudges.len())
}
