//! The floor under a send: an autocommit `INSERT` of the very row a send
//! stores, each its own statement and its own transaction, with no lock,
//! read or counter around it. A send can get near it but not past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use shared::time;
use sqlx::MySqlPool;

use crate::ceiling;
use crate::scenario::SEND_BODY;
use crate::settings::CONCURRENCY;

/// Inserts per second by as many tasks as the pool has connections, the
/// median of `runs` runs, as [`ceiling::measure`] times the raw-SQL
/// operations. The rows go into `conversation`, which nothing else writes
/// or reads, with its `seq` and `version` (unique per conversation) from a
/// counter, so that no insert waits for another's key.
pub async fn measure(
    pool: &MySqlPool,
    conversation: i64,
    sender: i64,
    runs: u32,
) -> anyhow::Result<f64> {
    let pool = pool.clone();
    let position = Arc::new(AtomicI64::new(0));
    ceiling::measure(CONCURRENCY, ceiling::RUN_TIME, runs, move || {
        let pool = pool.clone();
        let seq = position.fetch_add(1, Ordering::Relaxed) + 1;
        async move {
            let mut c = pool.acquire().await?;
            // The columns and values of a plain send's row: no client id,
            // reply, thread or attachments.
            sqlx::query(
                "INSERT INTO messages \
                   (conversation_id, sender_id, body, client_id, created_at, seq, version, reply_to, \
                    thread_id, attachments) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(conversation)
            .bind(sender)
            .bind(SEND_BODY)
            .bind(None::<&str>)
            .bind(time::now().naive_utc())
            .bind(seq)
            .bind(seq)
            .bind(None::<i64>)
            .bind(None::<i64>)
            .bind(None::<&str>)
            .execute(&mut *c)
            .await?;
            Ok(())
        }
    })
    .await
}
