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

/// A database filled under the schema of the first two migrations, then
/// migrated: messages take `seq`/`version` in id order per conversation, the
/// counters match, and nothing is unread.
#[sqlx::test(migrations = false)]
async fn data_written_under_the_old_schema_migrates_to_the_sync_model(pool: MySqlPool) {
    let old = std::env::temp_dir().join(format!("old-schema-{}", shared::secret::random_token()));
    std::fs::create_dir_all(&old).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    for name in [
        "20261123000001_users_and_auth.sql",
        "20261123000002_conversations_and_messages.sql",
    ] {
        std::fs::copy(format!("{source}/{name}"), old.join(name)).unwrap();
    }
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    std::fs::remove_dir_all(&old).unwrap();

    let t = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
    for (id, name) in [(1, "ann"), (2, "ben"), (3, "cat")] {
        sqlx::query(
            "INSERT INTO users (id, email, username, password_hash, created_at) VALUES (?, ?, ?, 'x', ?)",
        )
        .bind(id)
        .bind(format!("{name}@example.org"))
        .bind(name)
        .bind(t("2026-01-01 00:00:00"))
        .execute(&pool)
        .await
        .unwrap();
    }
    for (id, at) in [
        (10, "2026-01-02 00:00:00"),
        (20, "2026-01-03 00:00:00"),
        (30, "2026-01-04 00:00:00"),
    ] {
        sqlx::query(
            "INSERT INTO conversations (id, title, created_by, created_at) VALUES (?, NULL, 1, ?)",
        )
        .bind(id)
        .bind(t(at))
        .execute(&pool)
        .await
        .unwrap();
    }
    for (conversation, user) in [(10, 1), (10, 2), (20, 1), (20, 2), (20, 3), (30, 3)] {
        sqlx::query(
            "INSERT INTO conversation_participants (conversation_id, user_id, joined_at, last_activity_at) \
             VALUES (?, ?, '2026-01-02', '2026-01-05')",
        )
        .bind(conversation)
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Interleaved ids across two conversations; conversation 30 stays empty.
    for (id, conversation, sender, at) in [
        (101, 10, 1, "2026-01-05 10:00:00"),
        (102, 20, 2, "2026-01-05 10:01:00"),
        (103, 10, 2, "2026-01-05 10:02:00"),
        (105, 20, 3, "2026-01-05 10:03:00"),
        (107, 10, 1, "2026-01-05 10:04:00"),
    ] {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, sender_id, body, created_at) VALUES (?, ?, ?, 'old', ?)",
        )
        .bind(id)
        .bind(conversation)
        .bind(sender)
        .bind(t(at))
        .execute(&pool)
        .await
        .unwrap();
    }

    migrate(&pool).await.unwrap();

    let numbered: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, seq, version FROM messages ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        numbered,
        [
            (101, 1, 1),
            (102, 1, 1),
            (103, 2, 2),
            (105, 2, 2),
            (107, 3, 3)
        ]
    );
    let counters: Vec<(i64, i64, i64, i32, chrono::NaiveDateTime)> = sqlx::query_as(
        "SELECT id, last_seq, last_version, participant_count, last_activity_at FROM conversations ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        counters,
        [
            (10, 3, 3, 2, t("2026-01-05 10:04:00")),
            (20, 2, 2, 3, t("2026-01-05 10:03:00")),
            (30, 0, 0, 1, t("2026-01-04 00:00:00")),
        ]
    );
    let unread: (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(c.last_seq - p.last_read_seq), 0) AS SIGNED) \
         FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unread.0, 0);

    // And the API reads it: Ben's conversations by activity, nothing unread.
    let app = api_tests::TestApp::new(pool);
    let token = app
        .state
        .tokens
        .issue(2, None, shared::time::now())
        .unwrap();
    let listed = app.get("/api/conversations", Some(&token)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let results = listed.body["results"].as_array().unwrap();
    let ids: Vec<i64> = results.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [10, 20]);
    assert_eq!(results[0]["unread_count"], 0);
    assert_eq!(results[0]["last_message"]["id"], 107);
    assert_eq!(results[0]["last_message"]["seq"], 3);
}

#[sqlx::test(migrations = false)]
async fn the_migration_lock_name_fits_mysqls_64_characters_for_any_database_name(pool: MySqlPool) {
    // MySQL refuses GET_LOCK names over 64 characters (error 3057); a
    // database name may itself have 64.
    let expression = shared::migration_lock!().replace("DATABASE()", "REPEAT('d', 64)");
    let length: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CHAR_LENGTH({expression})"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(length <= 64, "{length} characters");
}
