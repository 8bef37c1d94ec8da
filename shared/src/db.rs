//! The MySQL pool and the embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::MySqlPool;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use crate::config::DatabaseConfig;

/// Every migration under `migrations/`, compiled into each binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A small pool that connects on first use, so a cold start does not wait for
/// the database, and that pings a connection before reusing it, because a frozen
/// Lambda instance wakes with connections the server may have dropped.
pub fn pool(config: &DatabaseConfig) -> anyhow::Result<MySqlPool> {
    let options = MySqlConnectOptions::from_str(&config.url)
        .context("DATABASE_URL is not a valid MySQL URL")?
        .charset("utf8mb4")
        .timezone(Some("+00:00".into()));
    Ok(MySqlPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(60)))
        .test_before_acquire(true)
        .connect_lazy_with(options))
}

/// Applies pending migrations. Safe to race: sqlx holds a database lock
/// (`GET_LOCK`) while it migrates, and applied migrations are skipped.
pub async fn migrate(pool: &MySqlPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("apply migrations")
}
