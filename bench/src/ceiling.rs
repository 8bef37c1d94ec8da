//! The raw-SQL ceiling: the same statements a scenario's request runs, issued
//! straight through sqlx by as many tasks as there are pool connections, with
//! no HTTP, JSON or token work.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
