//! The fan-out function: the delivery queue's consumer. Each SQS message is
//! a nudge for one shard of one conversation; its pass reads what is pending
//! from the database and posts it to the shard's connections. Messages of
//! one group come in order, one batch at a time (FIFO); a nudge that fails
//! is reported with every later one of its group, so SQS retries them in
//! order and the rest of the batch is not repeated. On a schedule it is
//! invoked with `{"action": "sweep"}` instead, nudges every shard whose
//! delivery is overdue and closes the connections of ended sessions.

use std::time::Duration;

use anyhow::Context;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::AppState;
use shared::realtime::{ManagementApi, Nudge, fanout};

/// Delivers a batch and reports the nudges to retry. Nudges of one shard
/// take one pass between them, since a pass delivers everything its shard
/// has pending: a burst of changes costs one pass per batch, not one per
/// change. A shard whose pass fails has all its nudges of the batch retried.
pub async fn handle(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let Some(management) = state.management.as_deref() else {
        tracing::error!("WEBSOCKET_MANAGEMENT_URL is not set: nothing can be delivered");
        response.batch_item_failures = event
            .records
            .iter()
            .map(|record| failure(record.message_id.clone().unwrap_or_default()))
            .collect();
        return response;
    };
    // By shard, in the order the shards first appear; each with its nudges'
    // ids and the earliest `since`.
    let mut shards: Vec<(Nudge, Vec<String>)> = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let nudge: Nudge = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(nudge)) => nudge,
            _ => {
                // Not a nudge: retrying cannot help, the dead-letter queue
                // would only keep it.
                tracing::error!(message_id = id, "not a delivery nudge; dropped");
                continue;
            }
        };
        // Nudges of one shard under another split count as another shard.
        match shards
            .iter_mut()
            .find(|(n, _)| n.group() == nudge.group() && n.shards == nudge.shards)
        {
            Some((pending, ids)) => {
                pending.since = pending.since.min(nudge.since);
                ids.push(id);
            }
            None => shards.push((nudge, vec![id])),
        }
    }
    for (nudge, ids) in shards {
        match deliver_with_retries(state, management, &nudge).await {
            Ok(report) if report.unfinished => {
                // The rest goes to a fresh nudge of the same shard, which the
                // queue hands over once this batch is done.
                let handed_on = match state.delivery.as_deref() {
                    Some(queue) => queue.send(&[nudge]).await,
                    None => Err(anyhow::anyhow!("DELIVERY_QUEUE_URL is not set")),
                };
                if let Err(err) = handed_on {
                    tracing::warn!(
                        ?nudge,
                        error = format!("{err:#}"),
                        "unfinished pass retried"
                    );
                    response
                        .batch_item_failures
                        .extend(ids.into_iter().map(failure));
                }
            }
            Ok(report) => tracing::debug!(?nudge, ?report, "delivered"),
            Err(err) => {
                tracing::warn!(
                    ?nudge,
                    error = format!("{err:#}"),
                    "delivery pass failed; the queue retries it"
                );
                response
                    .batch_item_failures
                    .extend(ids.into_iter().map(failure));
            }
        }
    }
    response
}

/// Pauses before a failed pass is tried again in the same invocation. A
/// nudge reported failed comes back only after the queue's visibility
/// timeout, with its shard's deliveries held up until then, so a passing
/// fault (a deadlock, a dropped connection) is retried here first.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(400)];

async fn deliver_with_retries(
    state: &AppState,
    management: &ManagementApi,
    nudge: &Nudge,
) -> anyhow::Result<fanout::Report> {
    let mut attempt = fanout::deliver(&state.pool, management, nudge, &state.config.fanout).await;
    for pause in RETRY_PAUSES {
        let Err(err) = &attempt else { break };
        tracing::info!(
            ?nudge,
            error = format!("{err:#}"),
            "delivery pass failed; trying again"
        );
        tokio::time::sleep(pause).await;
        attempt = fanout::deliver(&state.pool, management, nudge, &state.config.fanout).await;
    }
    attempt
}

fn failure(id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = id;
    failure
}

/// The scheduled sweep (see [`shared::realtime::sweep`]); it also closes
/// the connections of sessions past their absolute lifetime.
pub async fn sweep(state: &AppState) -> anyhow::Result<Value> {
    let queue = state
        .delivery
        .as_deref()
        .context("DELIVERY_QUEUE_URL is not set")?;
    let mut conn = state.pool.acquire().await?;
    let nudged =
        shared::realtime::sweep::sweep(&mut conn, queue, state.config.delivery_users_per_shard)
            .await?;
    let closed = shared::realtime::close_ended_sessions(
        state.management.as_deref(),
        &mut conn,
        state.config.tokens.session_max_age,
    )
    .await?;
    if nudged > 0 || closed > 0 {
        tracing::info!(
            nudged,
            closed,
            "overdue deliveries nudged again, connections of ended sessions closed"
        );
    }
    Ok(json!({"nudged": nudged, "closed": closed}))
}

/// One invocation: the queue's batch, or the schedule's sweep.
pub async fn invoked(state: &AppState, event: Value) -> Result<Value, lambda_runtime::Error> {
    if event.get("action").and_then(Value::as_str) == Some("sweep") {
        return Ok(sweep(state).await?);
    }
    let batch: SqsEvent = serde_json::from_value(event)?;
    Ok(serde_json::to_value(handle(state, batch).await)?)
}

/// The function's `main`: tracing, state, then the Lambda runtime loop.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let state = AppState::from_env()
        .await
        .inspect_err(|err| tracing::error!("cold start failed: {err:#}"))?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move { invoked(&state, event.payload).await }
    }))
    .await
}
