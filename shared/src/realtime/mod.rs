//! Real-time delivery, a pipeline of its own: a change commits what must be
//! delivered (the conversation's change log by `version`, and the outbox of
//! conversation events), the request then nudges the delivery queue and
//! answers, and the fan-out function's passes post the events to the open
//! connections of each shard of the conversation's recipients. Tickets open a
//! connection.

pub mod events;
pub mod fanout;
pub mod management;
pub mod queue;
pub mod sweep;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlConnection;

use crate::secret;
use crate::store::delivery;
use crate::store::realtime as store;
use crate::store::refresh_tokens::FamilyId;

pub use events::Event;
pub use fanout::FanoutSettings;
pub use management::ManagementApi;
pub use queue::{DeliveryQueue, Nudge};

/// A ticket opens one connection within this time of being issued.
pub const TICKET_TTL_SECONDS: i64 = 60;

/// The most shards one conversation's delivery is split over.
pub const MAX_SHARDS: i64 = 8;

/// Issues a single-use ticket for `user_id` in session `session`; only its
/// digest is stored.
pub async fn issue_ticket(
    conn: &mut MySqlConnection,
    user_id: i64,
    session: Option<FamilyId>,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let ticket = secret::random_token();
    let expires_at = now + TimeDelta::seconds(TICKET_TTL_SECONDS);
    store::insert_ticket(
        conn,
        user_id,
        session,
        &secret::digest_token(&ticket),
        now,
        expires_at,
    )
    .await?;
    Ok(ticket)
}

/// Spends `ticket` and returns the user and session it stands for, or `None`
/// when it is unknown, used or expired.
pub async fn redeem_ticket(
    conn: &mut MySqlConnection,
    ticket: &str,
    now: DateTime<Utc>,
) -> Result<Option<store::Redeemed>, sqlx::Error> {
    store::consume_ticket(conn, &secret::digest_token(ticket), now).await
}

/// How many shards deliver a conversation of `participants`, each serving
/// at most `users_per_shard` of them (up to [`MAX_SHARDS`]).
pub fn shards_for(participants: i64, users_per_shard: u32) -> i64 {
    let per_shard = i64::from(users_per_shard.max(1));
    ((participants + per_shard - 1) / per_shard).clamp(1, MAX_SHARDS)
}

/// After a change of a conversation has committed: nudges every delivery
/// shard of the conversation. `version` is the change's own, when it is in
/// the log; the conversation's size and last version are read after the
/// commit. Never fails its caller: the change has committed, and a client
/// that misses its event catches up by `version` (or the sweep nudges
/// again); a failure is logged.
///
/// Whether anybody listens is not asked here: the fan-out's pass finds out
/// off the request path, so a change costs the same whoever listens (that
/// question is a join of participants with connections, slowest for a large
/// group nobody listens to).
pub async fn announce(
    conn: &mut MySqlConnection,
    queue: &DeliveryQueue,
    conversation_id: i64,
    version: Option<i64>,
    users_per_shard: u32,
) {
    let audience = match delivery::audience(conn, conversation_id).await {
        Ok(Some(audience)) => audience,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(conversation_id, error = %err, "delivery not nudged");
            return;
        }
    };
    let since = version.map_or(audience.last_version, |v| v - 1);
    announce_from(
        queue,
        conversation_id,
        since,
        audience.participant_count,
        users_per_shard,
    )
    .await;
}

/// As [`announce`], for a change that read its conversation's size under
/// the conversation's lock (a send): no statement of its own. Delivery
/// starts after `since`.
pub async fn announce_from(
    queue: &DeliveryQueue,
    conversation_id: i64,
    since: i64,
    participant_count: i32,
    users_per_shard: u32,
) {
    let shards = shards_for(i64::from(participant_count), users_per_shard);
    let nudges: Vec<Nudge> = (0..shards)
        .map(|shard| Nudge {
            conversation_id,
            shard,
            shards,
            since,
        })
        .collect();
    if let Err(err) = queue.send(&nudges).await {
        tracing::warn!(
            conversation_id,
            error = format!("{err:#}"),
            "delivery not nudged"
        );
    }
}

/// Closes connections through the Management API and forgets them; the
/// gateway's `$disconnect` may come later, or never. Without a Management
/// API they are only forgotten.
pub async fn close(
    management: Option<&ManagementApi>,
    conn: &mut MySqlConnection,
    connection_ids: &[String],
) {
    for connection_id in connection_ids {
        if let Some(management) = management
            && let Err(err) = management.close(connection_id).await
        {
            tracing::warn!(
                connection_id,
                error = format!("{err:#}"),
                "could not close a connection"
            );
        }
        if let Err(err) = store::delete_connection(conn, connection_id).await {
            tracing::warn!(connection_id, error = %err, "could not forget a connection");
        }
    }
}

/// Closes every connection opened in one of `sessions`, which have ended.
pub async fn end_sessions(
    management: Option<&ManagementApi>,
    conn: &mut MySqlConnection,
    sessions: &[FamilyId],
) -> Result<(), sqlx::Error> {
    let connections = store::of_sessions(conn, sessions).await?;
    close(management, conn, &connections).await;
    Ok(())
}

/// Closes the connections of sessions that ended without a request to close
/// them: those past their absolute lifetime (`session_max_age` after login).
/// Run by the fan-out function's sweep, so such a connection lasts at most a
/// sweep's interval longer than its session. Returns how many were closed.
pub async fn close_ended_sessions(
    management: Option<&ManagementApi>,
    conn: &mut MySqlConnection,
    session_max_age: std::time::Duration,
) -> Result<usize, sqlx::Error> {
    let max_age = TimeDelta::from_std(session_max_age).unwrap_or(TimeDelta::MAX);
    let now = crate::time::now();
    let started_before = now
        .checked_sub_signed(max_age)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let ended = store::of_ended_sessions(conn, started_before, 1_000).await?;
    close(management, conn, &ended).await;
    Ok(ended.len())
}
