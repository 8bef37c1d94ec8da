//! The benchmark's fixed settings and the application's configuration over
//! its database.

use std::path::Path;
use std::time::Duration;

use shared::config::Config;

use crate::database;

/// The access tokens' secret of every process of the run.
pub const SECRET: &str = "benchmark-secret-benchmark-secret-0123";
/// Where `bench serve` listens unless `BENCH_PORT` says otherwise.
pub const PORT: u16 = 18_080;
/// Requests in flight at the loaded points, and the pool that serves them:
/// 32 Lambda instances with one connection each.
pub const CONCURRENCY: u32 = 32;

/// The local stand-ins' configuration over the benchmark's database with a
/// pool of `pool_size`, tokens that outlive the run, and no login throttle
/// (the login scenario logs one user in thousands of times).
pub fn config(pool_size: u32) -> Config {
    let mut config = harness::config::app_config(std::env::temp_dir().join("bench-requests.log"));
    config.database.url = database::url();
    config.database.max_connections = pool_size;
    config.tokens.secret = SECRET.as_bytes().to_vec();
    config.tokens.access_ttl = Duration::from_secs(3600);
    config.login_throttle.max_failures = 1_000_000;
    config
}

/// The environment every function binary of the run starts with: the
/// benchmark's database and token secret, and its request log under
/// `scratch` as `log_name`.
pub fn function_env(scratch: &Path, log_name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database::url()),
        ("JWT_SECRET", SECRET.to_string()),
        (
            "REQUEST_LOG_FILE",
            scratch.join(log_name).display().to_string(),
        ),
    ]
}
