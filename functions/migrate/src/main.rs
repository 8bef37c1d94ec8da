//! Applies the schema. Run as a command (`cargo run -p migrate`) it creates
//! the database when missing; deployed as a function it migrates on each
//! invocation, so a deployment runs it once after `sam deploy`.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::config::DatabaseConfig;
use shared::db;
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = |name: &str| std::env::var(name).ok();
    let secrets = shared::cloud_secrets::resolve(env).await?;
    let config =
        DatabaseConfig::from_lookup(|name| secrets.get(name).cloned().or_else(|| env(name)))?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        apply(&config).await?;
        return Ok(());
    }
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let config = config.clone();
        async move { apply(&config).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
