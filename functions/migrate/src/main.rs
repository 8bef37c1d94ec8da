//! Applies the schema, and purges dead rows. Run as a command it creates the
//! database when missing and migrates (`cargo run -p migrate`), or purges
//! (`cargo run -p migrate -- purge`); deployed as a function it migrates on
//! each invocation (a deployment runs it once after `sam deploy`), and purges
//! when the event says `{"action": "purge"}` (a schedule in `template.yaml`);
//! a purge also removes the files no message shows any more.

use std::time::Duration;

use anyhow::Context;
use chrono::TimeDelta;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::config::{DatabaseConfig, MaintenanceConfig};
use shared::erasure::{self, Announcer};
use shared::realtime::DeliveryQueue;
use shared::storage::{self, ObjectStore};
use shared::store::maintenance;
use shared::{db, time};
use sqlx::MySql;
use sqlx::migrate::MigrateDatabase;

async fn apply(config: &DatabaseConfig) -> anyhow::Result<Value> {
    if !MySql::database_exists(&config.url).await? {
        MySql::create_database(&config.url).await?;
        tracing::info!("created the database");
    }
    let pool = db::pool(config)?;
    db::migrate(&pool).await?;
    let applied = db::MIGRATOR.iter().count();
    tracing::info!(applied, "schema is up to date");
    Ok(json!({"status": "ok", "migrations": applied}))
}

/// Erasures resumed by one run stop after this, well within the function's
/// timeout; the next run goes on.
const ERASURE_BUDGET: Duration = Duration::from_secs(60);

async fn purge(config: &DatabaseConfig, retention: MaintenanceConfig) -> anyhow::Result<Value> {
    let pool = db::pool(config)?;
    let conn = &mut *pool.acquire().await?;
    let queue = retention
        .delivery_queue_url
        .as_deref()
        .map(|url| DeliveryQueue::from_env(url, retention.delivery_queue_endpoint.as_deref()))
        .transpose()?;
    let announcer = queue.as_ref().map(|queue| Announcer {
        queue,
        users_per_shard: retention.delivery_users_per_shard,
    });
    let erasures = erasure::resume_all(conn, announcer, ERASURE_BUDGET).await?;
    let purged = maintenance::purge(
        conn,
        time::now(),
        TimeDelta::from_std(retention.session_max_age).context("session max age")?,
        TimeDelta::from_std(retention.login_failure_window).context("login failure window")?,
    )
    .await?;
    let files = match &retention.storage {
        Some(storage) => {
            let store = ObjectStore::from_env(storage).await?;
            storage::remove_unneeded(conn, &store, time::now()).await?
        }
        None => 0,
    };
    tracing::info!(
        files,
        families = purged.families,
        tokens = purged.tokens,
        login_failures = purged.login_failures,
        tickets = purged.tickets,
        connections = purged.connections,
        queued_events = purged.queued_events,
        typing_states = purged.typing_states,
        erasures,
        "purged"
    );
    Ok(json!({
        "status": "ok",
        "purged": purged,
        "files_removed": files,
        "erasures_finished": erasures
    }))
}

/// What one invocation or run does.
async fn run(
    action: Option<&str>,
    config: &DatabaseConfig,
    retention: MaintenanceConfig,
) -> anyhow::Result<Value> {
    match action {
        None | Some("migrate") => apply(config).await,
        Some("purge") => purge(config, retention).await,
        Some(other) => anyhow::bail!("unknown action {other:?}: migrate or purge"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let secrets = shared::cloud_secrets::resolve(env).await?;
    let lookup = |name: &str| secrets.get(name).cloned().or_else(|| env(name));
    let config = DatabaseConfig::from_lookup(lookup)?;
    let retention = MaintenanceConfig::from_lookup(lookup)?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        let action = std::env::args().nth(1);
        run(action.as_deref(), &config, retention).await?;
        return Ok(());
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (config, retention) = (config.clone(), retention.clone());
        async move {
            let action = event.payload["action"].as_str();
            run(action, &config, retention)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
