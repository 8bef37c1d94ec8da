//! The raw-SQL ceiling: the same statements a scenario's request runs, issued
//! straight through sqlx by as many tasks as there are pool connections, with
//! no HTTP, JSON or token work.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use shared::domain::MessageBody;
use shared::pagination::PageSize;
use shared::rate_limit::Limit;
use shared::store::conversations;
use shared::store::messages::{self, Walk};
use shared::store::users::{self, User};
use shared::time;
use sqlx::MySqlPool;

use crate::scenario::{CeilingOp, SEND_BODY};
use crate::seed::DataSet;
use crate::settings::{self, CONCURRENCY};

/// Operations per second of `op` run by `concurrency` tasks for `duration`,
/// the median of `runs` such rounds.
pub async fn measure<F, Fut>(
    concurrency: u32,
    duration: Duration,
    runs: u32,
    op: F,
) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let mut rates = Vec::new();
    for _ in 0..runs.max(1) {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (op, stop, done) = (Arc::clone(&op), Arc::clone(&stop), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    op().await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }));
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await??;
        }
        rates.push(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// How long each run of a ceiling lasts.
pub const RUN_TIME: Duration = Duration::from_secs(5);

/// What the raw-SQL operations work on: the seeded users and conversations,
/// and the bound of the page 100,000 messages deep.
pub struct Inputs {
    pub pool: MySqlPool,
    /// Member of the 20 small conversations.
    pub reader: i64,
    /// Member of the big conversation and the sender of every send.
    pub pager: User,
    pub big_conversation: i64,
    pub deep_bound: i64,
    pub send_conversation: i64,
    pub spread_conversations: Vec<i64>,
}

impl Inputs {
    pub async fn prepare(pool: &MySqlPool, data: &DataSet) -> anyhow::Result<Self> {
        let mut conn = pool.acquire().await?;
        let deep_bound = {
            let rows = messages::page(
                &mut conn,
                data.big_conversation,
                data.pager.id,
                i64::MAX,
                Walk::Older,
                100_000,
            )
            .await?
            .context("the pager's page")?;
            rows.last().context("deep bound")?.seq
        };
        let pager = users::find_signed_in(&mut conn, data.pager.id, None)
            .await?
            .context("pager")?;
        Ok(Inputs {
            pool: pool.clone(),
            reader: data.reader.id,
            pager,
            big_conversation: data.big_conversation,
            deep_bound,
            send_conversation: data.send_conversation,
            spread_conversations: data.spread_conversations.clone(),
        })
    }
}

/// Operations per second of `op` at the benchmark's concurrency, one
/// connection per operation as a request has, the median of `runs`.
pub async fn of(op: CeilingOp, inputs: &Inputs, runs: u32) -> anyhow::Result<f64> {
    let pool = inputs.pool.clone();
    match op {
        CeilingOp::ListConversations => {
            let reader = inputs.reader;
            let page = PageSize::parse(None)?.probe();
            let latest = chrono::DateTime::from_timestamp_micros(253_402_300_799_999_999)
                .context("bound")?;
            measure(CONCURRENCY, RUN_TIME, runs, move || {
                let pool = pool.clone();
                async move {
                    let mut c = pool.acquire().await?;
                    users::find_signed_in(&mut c, reader, None).await?;
                    let rows =
                        conversations::page_for_member(&mut c, reader, (latest, i64::MAX), page)
                            .await?;
                    conversations::with_participants(&mut c, rows).await?;
                    Ok(())
                }
            })
            .await
        }
        CeilingOp::Send { spread } => {
            let sender = inputs.pager.clone();
            let body = MessageBody::parse(SEND_BODY.into()).map_err(anyhow::Error::msg)?;
            let targets = Arc::new(if spread {
                inputs.spread_conversations.clone()
            } else {
                vec![inputs.send_conversation]
            });
            let next = Arc::new(AtomicUsize::new(0));
            measure(CONCURRENCY, RUN_TIME, runs, move || {
                let (pool, sender, body) = (pool.clone(), sender.clone(), body.clone());
                let n = next.fetch_add(1, Ordering::Relaxed);
                let conversation = targets[n % targets.len()];
                let config = settings::config(CONCURRENCY);
                async move {
                    let mut c = pool.acquire().await?;
                    users::find_signed_in(&mut c, sender.id, None).await?;
                    let now = time::now();
                    messages::send(
                        &mut c,
                        conversation,
                        &sender,
                        messages::Draft::new(&body),
                        Limit::Changes.use_at(&config, now),
                        now,
                    )
                    .await?;
                    Ok(())
                }
            })
            .await
        }
        CeilingOp::Page { deep } => {
            let (big, pager) = (inputs.big_conversation, inputs.pager.id);
            let bound = if deep { inputs.deep_bound } else { i64::MAX };
            let page = PageSize::parse(None)?.probe();
            measure(CONCURRENCY, RUN_TIME, runs, move || {
                let pool = pool.clone();
                async move {
                    let mut c = pool.acquire().await?;
                    users::find_signed_in(&mut c, pager, None).await?;
                    messages::page(&mut c, big, pager, bound, Walk::Older, page).await?;
                    Ok(())
                }
            })
            .await
        }
    }
}
