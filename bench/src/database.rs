//! The benchmark's database: `messaging_bench` on the MySQL or MariaDB at
//! `BENCH_DATABASE_SERVER`, made afresh by every run.

use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;

pub const DATABASE: &str = "messaging_bench";

/// `BENCH_DATABASE_SERVER`, else the local server as root.
pub fn server_url() -> String {
    std::env::var("BENCH_DATABASE_SERVER").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The benchmark database's URL.
pub fn url() -> String {
    format!("{}/{DATABASE}", server_url())
}

/// A plain pool of `size` connections to the benchmark database (not the
/// functions' pool: no session settings of theirs).
pub async fn pool(size: u32) -> anyhow::Result<MySqlPool> {
    Ok(MySqlPoolOptions::new()
        .max_connections(size)
        .connect(&url())
        .await?)
}

/// Drops and creates the benchmark database and migrates it; a pool of
/// `size` connections to it.
pub async fn recreate(size: u32) -> anyhow::Result<MySqlPool> {
    let admin = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&server_url())
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE}"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"
    )))
    .execute(&admin)
    .await?;
    let pool = pool(size).await?;
    shared::db::migrate(&pool).await?;
    Ok(pool)
}
