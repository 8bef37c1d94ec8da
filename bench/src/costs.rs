//! Single pieces of a request, timed alone: one argon2id verification (the
//! bulk of a login), and the rate limit's counting statement (a send's
//! bookkeeping).

use std::time::Instant;

use shared::{password, time};
use sqlx::MySqlPool;

use crate::seed;
use crate::stats::median;

/// Verifications timed.
const ARGON2_ROUNDS: usize = 21;
/// Runs of the rate limit's counting statement timed.
const RATE_LIMIT_ROUNDS: usize = 2_000;

/// The median time of one argon2id verification of the seeded password,
/// in ms.
pub async fn argon2_verify_ms() -> anyhow::Result<f64> {
    let hash = password::hash(seed::PASSWORD.into()).await?;
    let mut times = Vec::with_capacity(ARGON2_ROUNDS);
    for _ in 0..ARGON2_ROUNDS {
        let started = Instant::now();
        password::verify(seed::PASSWORD.into(), Some(hash.clone())).await?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    Ok(median(&mut times))
}

/// What the rate limit adds to a change: its one counting statement for
/// `user_id`, on one connection, one run after another; each run's time in
/// ms.
pub async fn rate_limit_statement_ms(pool: &MySqlPool, user_id: i64) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(RATE_LIMIT_ROUNDS);
    let mut conn = pool.acquire().await?;
    for _ in 0..RATE_LIMIT_ROUNDS {
        let started = Instant::now();
        shared::store::rate_windows::reserve(
            &mut conn,
            user_id,
            "changes",
            time::now(),
            chrono::TimeDelta::seconds(10),
        )
        .await?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    Ok(times)
}
