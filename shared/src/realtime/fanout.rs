//! One delivery pass of a conversation's shard: everything its recipients
//! have not been sent yet, read from the database, posted to their
//! connections, and the shard's cursor moved past it.
//!
//! A pass holds its cursor's row lock from reading what to send until its
//! posts are out, so passes of one shard never overlap (whatever the queue
//! does) and each connection gets the log in `version` order. Posts run
//! concurrently across connections, at most `max_in_flight` at once, and one
//! after another on each connection. A pass that fails commits nothing and is
//! retried whole: a retry may repeat an event, never skip one.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use sqlx::{Connection, MySqlConnection, MySqlPool};

use crate::realtime::events::Event;
use crate::realtime::management::{ManagementApi, Posted};
use crate::realtime::queue::Nudge;
use crate::store::delivery::{self, OutboxKind, Queued, Recipient};
use crate::store::messages::Message;
use crate::store::{conversations, messages, realtime as connections};

/// How many changes before a nudge's own a pass still looks at: nudges of
/// changes that committed close together may reach the queue in another
/// order than their versions, and a shard that has never delivered starts
/// this far back.
const REORDER_WINDOW: i64 = 32;

/// Frames one pass posts at most (changes times connections).
const MAX_FRAMES_PER_PASS: usize = 4_000;

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    /// Posts in flight at once in one pass.
    pub max_in_flight: usize,
    /// Changes (and queued events) taken per pass; a pass that takes a full
    /// batch runs again.
    pub batch: i64,
    /// A connection this young that answers 410 is not forgotten: API
    /// Gateway answers 410 while a handshake is still in progress.
    pub handshake_grace: Duration,
    /// A connection is not sent changes stamped longer than this before it
    /// opened: its client caught up on them by `version` after the
    /// handshake. That keeps a shard whose cursor lagged while nobody
    /// listened, or a shard's first pass, from replaying recent history to
    /// every connection. A change that commits longer than this after its
    /// stamp (a send held up by lock waits) is not pushed to a connection
    /// that opened in between; its client sees the gap in `version` at the
    /// next event.
    pub commit_lag: Duration,
    /// Passes of one nudge stop after this long with work left, which the
    /// nudge's handler hands on to a fresh nudge, so that one invocation ends
    /// well before its timeout.
    pub budget: Duration,
}

impl Default for FanoutSettings {
    fn default() -> Self {
        FanoutSettings {
            max_in_flight: 32,
            batch: 200,
            handshake_grace: Duration::from_secs(30),
            commit_lag: Duration::from_secs(2),
            budget: Duration::from_secs(20),
        }
    }
}

/// What a nudge's passes did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub passes: usize,
    pub changes: usize,
    pub events: usize,
    pub posts: usize,
    pub gone: usize,
    pub failed: usize,
    /// The budget ran out with changes still to deliver.
    pub unfinished: bool,
}

/// Delivers everything pending for the nudge's shard, pass after pass until
/// nothing is left.
pub async fn deliver(
    pool: &MySqlPool,
    api: &ManagementApi,
    nudge: &Nudge,
    settings: &FanoutSettings,
) -> anyhow::Result<Report> {
    let mut total = Report::default();
    let mut conn = pool.acquire().await?;
    let started = tokio::time::Instant::now();
    loop {
        let (report, more) = pass(&mut conn, api, nudge, settings).await?;
        total.passes += 1;
        total.changes += report.changes;
        total.events += report.events;
        total.posts += report.posts;
        total.gone += report.gone;
        total.failed += report.failed;
        if !more {
            return Ok(total);
        }
        if started.elapsed() >= settings.budget {
            total.unfinished = true;
            return Ok(total);
        }
    }
}

async fn pass(
    conn: &mut MySqlConnection,
    api: &ManagementApi,
    nudge: &Nudge,
    settings: &FanoutSettings,
) -> anyhow::Result<(Report, bool)> {
    let Nudge {
        conversation_id,
        shard,
        shards,
        since,
    } = *nudge;
    let start = (since - REORDER_WINDOW).max(0);
    let mut tx = conn.begin().await?;
    let cursor = match delivery::lock_cursor(&mut tx, conversation_id, shard).await? {
        Some(cursor) => cursor,
        None => {
            tx.rollback().await?;
            delivery::create_cursor(conn, conversation_id, shard, start).await?;
            tx = conn.begin().await?;
            delivery::lock_cursor(&mut tx, conversation_id, shard)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?
        }
    };
    // A cursor further behind than the window lagged while nobody listened:
    // every change in between was made with no connection to deliver to.
    let delivered = cursor.max(start);
    let participants = delivery::shard_connections(&mut tx, conversation_id, shard, shards).await?;
    let queued = delivery::queued(&mut tx, conversation_id, shard, shards, settings.batch).await?;
    if participants.is_empty() && queued.is_empty() {
        // Nobody to post to: whatever the log holds now needs no delivery
        // here (a connection opened later catches up by `version`).
        let last = delivery::last_version(&mut tx, conversation_id).await?;
        delivery::advance_cursor(&mut tx, conversation_id, shard, last).await?;
        tx.commit().await?;
        return Ok((Report::default(), false));
    }
    // A pass posts a bounded number of frames, so that it ends well within
    // the invocation; what is left is the next pass's.
    let changes_taken =
        (MAX_FRAMES_PER_PASS / participants.len().max(1)).clamp(1, settings.batch as usize);
    let changes =
        messages::log_since(&mut tx, conversation_id, delivered, changes_taken as i64).await?;

    let mut by_user: HashMap<i64, Vec<Bytes>> = HashMap::new();
    for event in &queued {
        if let Some(frame) = render(&mut tx, conversation_id, event).await? {
            by_user.entry(event.user_id).or_default().push(frame);
        }
    }
    // A removed user's `conversation.left` goes to connections that are no
    // longer a participant's.
    let mut outsiders: Vec<i64> = by_user
        .keys()
        .copied()
        .filter(|user| !participants.iter().any(|r| r.user_id == *user))
        .collect();
    outsiders.sort_unstable();
    let others = delivery::connections_of(&mut tx, &outsiders).await?;

    let lag = TimeDelta::from_std(settings.commit_lag).unwrap_or(TimeDelta::MAX);
    let message_frames: Vec<(DateTime<Utc>, Bytes)> = changes
        .iter()
        .cloned()
        .map(|message| (changed_at(&message), Event::of_message(message).frame()))
        .collect();
    let mut plan: BTreeMap<String, (Recipient, Vec<Bytes>)> = BTreeMap::new();
    for recipient in participants {
        let mut frames = by_user.get(&recipient.user_id).cloned().unwrap_or_default();
        let caught_up_before = recipient.connected_at.checked_sub_signed(lag);
        frames.extend(
            message_frames
                .iter()
                .filter(|(at, _)| caught_up_before.is_none_or(|before| *at >= before))
                .map(|(_, frame)| frame.clone()),
        );
        plan.insert(recipient.connection_id.clone(), (recipient, frames));
    }
    for recipient in others {
        let frames = by_user.get(&recipient.user_id).cloned().unwrap_or_default();
        plan.insert(recipient.connection_id.clone(), (recipient, frames));
    }
    plan.retain(|_, (_, frames)| !frames.is_empty());

    let mut report = Report {
        changes: changes.len(),
        events: queued.len(),
        ..Report::default()
    };
    let now = Utc::now();
    let grace = TimeDelta::from_std(settings.handshake_grace).unwrap_or(TimeDelta::MAX);
    let outcomes = futures_util::stream::iter(plan.into_values())
        .map(|(recipient, frames)| post_in_order(api, recipient, frames))
        .buffer_unordered(settings.max_in_flight.max(1))
        .collect::<Vec<_>>()
        .await;
    // A conversation event whose post failed stays queued for the next pass
    // (messages need no such care: the client sees the gap by version).
    let mut failed_users: Vec<i64> = Vec::new();
    for (recipient, outcome) in outcomes {
        if outcome.failed > 0 {
            failed_users.push(recipient.user_id);
        }
        report.posts += outcome.sent + outcome.failed;
        report.failed += outcome.failed;
        if outcome.gone && !is_fresh(recipient.connected_at, now, grace) {
            report.gone += 1;
            connections::delete_connection(&mut tx, &recipient.connection_id).await?;
        }
    }
    if let Some(last) = changes.last() {
        delivery::advance_cursor(&mut tx, conversation_id, shard, last.version).await?;
    }
    let ids: Vec<i64> = queued
        .iter()
        .filter(|event| !failed_users.contains(&event.user_id))
        .map(|event| event.id)
        .collect();
    delivery::delete_queued(&mut tx, &ids).await?;
    tx.commit().await?;
    let more = changes.len() >= changes_taken || queued.len() as i64 >= settings.batch;
    Ok((report, more))
}

/// When a message last changed, by its own time stamps.
fn changed_at(message: &Message) -> DateTime<Utc> {
    [message.changed_at, message.edited_at, message.deleted_at]
        .into_iter()
        .flatten()
        .fold(message.created_at, DateTime::max)
}

fn is_fresh(connected_at: DateTime<Utc>, now: DateTime<Utc>, grace: TimeDelta) -> bool {
    now.signed_duration_since(connected_at) < grace
}

/// A queued conversation event as the recipient's frame, or `None` when
/// there is nothing to show them any more (gone from the conversation).
async fn render(
    conn: &mut MySqlConnection,
    conversation_id: i64,
    event: &Queued,
) -> Result<Option<Bytes>, sqlx::Error> {
    Ok(match event.kind {
        OutboxKind::Joined | OutboxKind::Updated => {
            conversations::view_for(conn, conversation_id, event.user_id)
                .await?
                .map(|conversation| {
                    if event.kind == OutboxKind::Joined {
                        Event::ConversationJoined { conversation }
                    } else {
                        Event::ConversationUpdated { conversation }
                    }
                    .frame()
                })
        }
        OutboxKind::Left => Some(Event::ConversationLeft { conversation_id }.frame()),
        OutboxKind::Read | OutboxKind::Receipt | OutboxKind::Typing => {
            event.payload.clone().map(Bytes::from)
        }
    })
}

struct Outcome {
    sent: usize,
    failed: usize,
    gone: bool,
}

/// One connection's frames, in order; a connection that answers 410 gets
/// nothing more in this pass.
async fn post_in_order(
    api: &ManagementApi,
    recipient: Recipient,
    frames: Vec<Bytes>,
) -> (Recipient, Outcome) {
    let mut outcome = Outcome {
        sent: 0,
        failed: 0,
        gone: false,
    };
    for frame in frames {
        match post_with_retry(api, &recipient.connection_id, frame).await {
            Posted::Sent => outcome.sent += 1,
            Posted::Gone => {
                outcome.gone = true;
                break;
            }
            Posted::Failed(error) => {
                outcome.failed += 1;
                tracing::warn!(
                    connection_id = recipient.connection_id,
                    error,
                    "real-time delivery failed; the client catches up by version"
                );
            }
        }
    }
    (recipient, outcome)
}

/// A post that failed for another reason than 410 is tried once more.
async fn post_with_retry(api: &ManagementApi, connection_id: &str, frame: Bytes) -> Posted {
    match api.post(connection_id, frame.clone()).await {
        Posted::Failed(_) => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            api.post(connection_id, frame).await
        }
        other => other,
    }
}
