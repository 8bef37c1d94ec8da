//! The MySQL pool and the embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Executor, MySql, MySqlConnection, MySqlPool};

use crate::config::DatabaseConfig;

/// A request's one database connection: taken from the pool on first use and
/// given back once, when the request ends. sqlx pings a connection each time it
/// returns to the pool, so a connection per statement would cost a round trip
/// per statement.
pub struct Db {
    pool: MySqlPool,
    conn: Option<PoolConnection<MySql>>,
}

impl Db {
    pub fn new(pool: &MySqlPool) -> Self {
        Db {
            pool: pool.clone(),
            conn: None,
        }
    }

    pub async fn conn(&mut self) -> Result<&mut MySqlConnection, sqlx::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}

/// Every migration under `migrations/`, compiled into each binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A small pool that connects on first use, so a cold start does not wait for
/// the database. A connection idle for a second or more is pinged before reuse,
/// and replaced at once if the server dropped it (a frozen Lambda instance wakes
/// with connections the server may have closed: restart, `wait_timeout`,
/// `KILL`); one used within the last second is trusted, which saves a round
/// trip on every request of a busy instance.
///
/// Sessions run at READ COMMITTED: under REPEATABLE READ, the send's
/// `INSERT ... SELECT` share-locks the sender's participant row while holding
/// the table's AUTO-INC lock, and concurrent sends and activity updates then
/// wait on each other until the lock-wait timeout (seen at 32 concurrent
/// senders). At READ COMMITTED that SELECT is a plain consistent read.
///
/// Lock waits (rows and tables) end within `lock_wait_timeout`, below the
/// request deadline, so a request stuck behind a lock fails with a 503 of its
/// own rather than leaving a statement waiting on a connection it abandoned.
pub fn pool(config: &DatabaseConfig) -> anyhow::Result<MySqlPool> {
    let mut options = MySqlConnectOptions::from_str(&config.url)
        .context("DATABASE_URL is not a valid MySQL URL")?
        .charset("utf8mb4")
        .timezone(Some("+00:00".into()));
    if let Some(mode) = config.ssl_mode {
        options = options.ssl_mode(mode);
    }
    if let Some(ca) = &config.ssl_ca {
        options = options.ssl_ca(ca);
    }
    let lock_wait = config.lock_wait_timeout.as_secs().max(1);
    Ok(MySqlPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(60)))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < TRUSTED_WHILE_IDLE {
                    return Ok(true);
                }
                // false: the pool closes it and opens another.
                Ok(conn.ping().await.is_ok())
            })
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "SET SESSION innodb_lock_wait_timeout = {lock_wait}, lock_wait_timeout = {lock_wait}"
                )))
                .await?;
                Ok(())
            })
        })
        .connect_lazy_with(options))
}

/// A connection idle for less than this is reused without a ping.
const TRUSTED_WHILE_IDLE: Duration = Duration::from_secs(1);

/// The migration lock's name, one per database. MySQL refuses lock names
/// over 64 characters (error 3057) and a database name may have 64, so the
/// name carries the database name's digest: 51 characters whatever it is.
#[macro_export]
macro_rules! migration_lock {
    () => {
        "CONCAT('migrations:', SHA1(DATABASE()))"
    };
}

/// How long a cold start waits for another one that is migrating.
const MIGRATION_LOCK_TIMEOUT_SECS: i64 = 120;

/// Applies pending migrations; applied ones are skipped, so a second run is a
/// no-op. Racing runs are serialised by a named lock held on the migrating
/// connection: sqlx's own lock asks for `GET_LOCK(name, -1)`, which MariaDB
/// answers with NULL at once instead of waiting.
pub async fn migrate(pool: &MySqlPool) -> anyhow::Result<()> {
    let mut conn = pool
        .acquire()
        .await
        .context("connect to apply migrations")?;
    let locked: Option<i64> =
        sqlx::query_scalar(concat!("SELECT GET_LOCK(", migration_lock!(), ", ?)"))
            .bind(MIGRATION_LOCK_TIMEOUT_SECS)
            .fetch_one(&mut *conn)
            .await
            .context("take the migration lock")?;
    if locked != Some(1) {
        anyhow::bail!(
            "another instance held the migration lock for {MIGRATION_LOCK_TIMEOUT_SECS} s"
        );
    }
    let applied = MIGRATOR.run(&mut *conn).await.context("apply migrations");
    let released = sqlx::query(concat!("SELECT RELEASE_LOCK(", migration_lock!(), ")"))
        .execute(&mut *conn)
        .await
        .context("release the migration lock");
    applied?;
    released?;
    Ok(())
}
