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
    /// The conversation whose event order this connection holds, if any.
    ordering: Option<i64>,
}

impl Drop for Db {
    /// A request that ended holding an event-order lock (a deadline cut it
    /// short) closes its connection instead of returning it: the server then
    /// releases the lock, and no later request inherits it.
    fn drop(&mut self) {
        if self.ordering.is_some()
            && let Some(conn) = self.conn.as_mut()
        {
            conn.close_on_drop();
        }
    }
}

impl Db {
    pub fn new(pool: &MySqlPool) -> Self {
        Db {
            pool: pool.clone(),
            conn: None,
            ordering: None,
        }
    }

    /// Serialises changes of one conversation together with the delivery of
    /// their events, across every instance: a named lock held from before the
    /// change's transaction until its events are out, so events leave in the
    /// order of `version`. Taken only when some participant has a connection
    /// open, in the same statement that looks: a change nobody listens to
    /// costs one round trip, and publishes nothing. Waits at most `wait`.
    pub async fn order_events(
        &mut self,
        conversation_id: i64,
        wait: Duration,
    ) -> Result<EventOrder, sqlx::Error> {
        let conn = self.conn().await?;
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT IF(EXISTS (SELECT 1 FROM conversation_participants p \
                                 JOIN realtime_connections c ON c.user_id = p.user_id \
                                WHERE p.conversation_id = ?), \
                       GET_LOCK(CONCAT('events:', DATABASE(), ':', ?), ?), NULL)",
        )
        .bind(conversation_id)
        .bind(conversation_id)
        .bind(wait.as_secs().max(1) as i64)
        .fetch_one(conn)
        .await?;
        Ok(match held {
            None => EventOrder::NobodyListening,
            Some(1) => {
                self.ordering = Some(conversation_id);
                EventOrder::Held
            }
            Some(_) => EventOrder::NotHeld,
        })
    }

    /// Lets the next change of the conversation go, once this one's events
    /// are out.
    pub async fn events_delivered(&mut self) -> Result<(), sqlx::Error> {
        let Some(conversation_id) = self.ordering else {
            return Ok(());
        };
        let conn = self.conn().await?;
        sqlx::query("SELECT RELEASE_LOCK(CONCAT('events:', DATABASE(), ':', ?))")
            .bind(conversation_id)
            .execute(conn)
            .await?;
        self.ordering = None;
        Ok(())
    }

    pub async fn conn(&mut self) -> Result<&mut MySqlConnection, sqlx::Error> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }
}

/// What [`Db::order_events`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOrder {
    /// The order is this request's until its events are out.
    Held,
    /// Not within the wait: the change goes ahead, its events maybe out of order.
    NotHeld,
    /// No participant has a connection open: there is nothing to publish.
    NobodyListening,
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
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('migrations:', DATABASE()), ?)")
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
    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT('migrations:', DATABASE()))")
        .execute(&mut *conn)
        .await
        .context("release the migration lock");
    applied?;
    released?;
    Ok(())
}
