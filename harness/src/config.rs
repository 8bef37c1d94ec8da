//! The application's configuration against the local stand-ins: the local
//! S3-compatible server, a WebSocket URL on the loopback, a fixed token
//! secret, and limits raised so that load is not refused.

use std::path::PathBuf;
use std::time::Duration;

use shared::config::{Config, DatabaseConfig, LoginThrottleConfig, TokenConfig};

use crate::storage;

/// The access tokens' signing secret of [`app_config`].
pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// The configuration every local application starts from; its pool is
/// given by the caller, so the database URL is not used until a caller
/// sets it.
pub fn app_config(log_file: PathBuf) -> Config {
    Config {
        database: DatabaseConfig {
            url: "mysql://unused-the-pool-is-given".into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            lock_wait_timeout: Duration::from_secs(5),
            ssl_mode: None,
            ssl_ca: None,
        },
        tokens: TokenConfig {
            secret: JWT_SECRET.to_vec(),
            issuer: "messaging-api".into(),
            audience: "messaging-api".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            session_max_age: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
        },
        login_throttle: LoginThrottleConfig {
            max_failures: 5,
            window: Duration::from_secs(900),
        },
        request_log_file: log_file,
        request_deadline: Duration::from_secs(10),
        migrate_on_start: false,
        websocket_url: Some("ws://127.0.0.1:9001/".into()),
        websocket_management_url: None,
        delivery_queue_url: None,
        delivery_queue_endpoint: None,
        delivery_users_per_shard: 250,
        max_connections_per_user: 10,
        // Raised so that load tests are not limited; the limit's own tests
        // lower them.
        send_rate_limit: 1_000_000,
        ticket_rate_limit: 1_000_000,
        fanout: shared::realtime::FanoutSettings::default(),
        storage: Some(storage::config()),
        cors_allowed_origins: shared::cors::AllowedOrigins::default(),
    }
}
