//! Migrations: idempotent, and safe when two cold starts race.

use shared::db::{MIGRATOR, migrate};
use sqlx::MySqlPool;

#[sqlx::test(migrations = false)]
async fn two_racing_migrators_both_succeed_and_a_third_run_changes_nothing(pool: MySqlPool) {
    let (a, b) = tokio::join!(migrate(&pool), migrate(&pool));
    a.unwrap();
    b.unwrap();
    migrate(&pool).await.unwrap();

    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied.0, MIGRATOR.iter().count() as i64);
    for table in [
        "users",
        "refresh_tokens",
        "refresh_token_families",
        "login_failures",
        "conversations",
        "conversation_participants",
        "messages",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .execute(&pool)
            .await
            .unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn every_table_is_utf8mb4(pool: MySqlPool) {
    migrate(&pool).await.unwrap();
    let latin: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_name <> '_sqlx_migrations' AND table_collation NOT LIKE 'utf8mb4%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(latin.is_empty(), "{latin:?}");
}
