//! `DATABASE_SSL_MODE=required` (the cloud default) never falls back to plain
//! text: against a server without TLS it does not connect at all, and the
//! health check says so; against one with TLS the session is encrypted.

use std::time::Duration;

use api_tests::{TestApp, call_on};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlSslMode;

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn required_tls_is_encrypted_or_refused_never_plain_text(pool: MySqlPool) {
    let app = TestApp::new(pool);
    let (_, have_ssl): (String, String) = sqlx::query_as("SHOW VARIABLES LIKE 'have_ssl'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let required = app
        .production_state_with(1, |config| {
            config.database.ssl_mode = Some(MySqlSslMode::Required);
            config.database.acquire_timeout = Duration::from_secs(2);
        })
        .await;
    if have_ssl == "YES" {
        let (_, cipher): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .fetch_one(&required.pool)
            .await
            .unwrap();
        assert!(
            !cipher.is_empty(),
            "a required-TLS session is not encrypted"
        );
    } else {
        assert!(
            required.pool.acquire().await.is_err(),
            "connected without TLS"
        );
        let (status, body) = call_on(&required, "GET", "/api/health", "", None).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["database"], "unavailable");
    }
    // Preferred (local runs) connects either way.
    let preferred = app
        .production_state_with(1, |config| {
            config.database.ssl_mode = Some(MySqlSslMode::Preferred);
        })
        .await;
    assert!(preferred.pool.acquire().await.is_ok());
}
