//! Typed configuration read once per cold start from the environment.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::MySqlSslMode;

use crate::realtime::FanoutSettings;

/// Everything a function needs to know about its surroundings.
///
/// Deliberately not `Debug`: it holds the database URL (with its password) and
/// the JWT secret.
#[derive(Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub tokens: TokenConfig,
    pub login_throttle: LoginThrottleConfig,
    pub request_log_file: PathBuf,
    /// Every request answers within this time (or sooner, when the Lambda
    /// invocation has less left): a JSON 503 instead of the gateway's error.
    pub request_deadline: Duration,
    /// Apply pending migrations at cold start (local runs); in the cloud a
    /// one-shot step applies them instead.
    pub migrate_on_start: bool,
    /// Where clients open the WebSocket (`WEBSOCKET_URL`, e.g.
    /// `wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}`); tickets
    /// are refused with a 503 when it is unset.
    pub websocket_url: Option<String>,
    /// The API Gateway Management API that events are posted to and
    /// connections closed through (`WEBSOCKET_MANAGEMENT_URL`).
    pub websocket_management_url: Option<String>,
    /// The SQS FIFO queue that changes nudge for delivery
    /// (`DELIVERY_QUEUE_URL`); nothing is delivered when it is unset.
    pub delivery_queue_url: Option<String>,
    /// An SQS endpoint in place of the regional one
    /// (`DELIVERY_QUEUE_ENDPOINT`, local runs).
    pub delivery_queue_endpoint: Option<String>,
    /// Participants per delivery shard (`DELIVERY_USERS_PER_SHARD`): a
    /// larger conversation's connections are split over more fan-out passes.
    pub delivery_users_per_shard: u32,
    /// A user's open connections beyond this close the oldest
    /// (`WEBSOCKET_MAX_CONNECTIONS_PER_USER`).
    pub max_connections_per_user: u32,
    /// Changes (sends, edits, deletes) one user may make in 10 seconds
    /// (`SEND_RATE_LIMIT`).
    pub send_rate_limit: u32,
    /// WebSocket tickets one user may take in a minute (`TICKET_RATE_LIMIT`).
    pub ticket_rate_limit: u32,
    /// The fan-out function's bounds (`FANOUT_MAX_IN_FLIGHT`,
    /// `FANOUT_HANDSHAKE_GRACE_SECONDS`).
    pub fanout: FanoutSettings,
    /// Where attachments are stored; uploads are refused with a 503 when
    /// `ATTACHMENT_BUCKET` is unset.
    pub storage: Option<StorageConfig>,
    /// Browser origins answered with CORS, and the only ones a WebSocket
    /// handshake may come from (`CORS_ALLOWED_ORIGINS`, comma-separated).
    pub cors_allowed_origins: crate::cors::AllowedOrigins,
}

/// The attachments' bucket (`ATTACHMENT_BUCKET`), the largest file
/// (`ATTACHMENT_MAX_BYTES`) and an S3 endpoint in place of the regional one
/// (`ATTACHMENT_ENDPOINT`, local runs: addressed path-style).
#[derive(Clone, Debug)]
pub struct StorageConfig {
    pub bucket: String,
    pub max_bytes: u64,
    pub endpoint: Option<String>,
}

fn storage<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<StorageConfig>, ConfigError> {
    let Some(bucket) = vars.get("ATTACHMENT_BUCKET") else {
        return Ok(None);
    };
    Ok(Some(StorageConfig {
        bucket,
        max_bytes: vars.number("ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024)?,
        endpoint: vars.get("ATTACHMENT_ENDPOINT"),
    }))
}

#[derive(Clone)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How long a statement waits for a row or table lock before it fails
    /// (and the request answers 503); below the request deadline.
    pub lock_wait_timeout: Duration,
    /// TLS to the database (`DATABASE_SSL_MODE`: disabled, preferred,
    /// required, verify_ca, verify_identity); unset keeps the URL's own
    /// `ssl-mode`, else sqlx's default, preferred.
    pub ssl_mode: Option<MySqlSslMode>,
    /// The CA certificates (PEM file) that verify_ca and verify_identity check
    /// the server against.
    pub ssl_ca: Option<PathBuf>,
}

#[derive(Clone)]
pub struct TokenConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A login's refresh tokens stop working this long after the login,
    /// however often they rotate.
    pub session_max_age: Duration,
    /// A spent refresh token presented again this soon after its rotation is
    /// a race of two tabs, not theft: refused, nothing revoked.
    pub refresh_reuse_grace: Duration,
}

/// What the maintenance run needs: the lifetimes that make a stored row
/// dead, and where the erasures it finishes announce their changes.
#[derive(Clone, Debug)]
pub struct MaintenanceConfig {
    pub session_max_age: Duration,
    pub login_failure_window: Duration,
    pub delivery_queue_url: Option<String>,
    pub delivery_queue_endpoint: Option<String>,
    pub delivery_users_per_shard: u32,
    /// Where the files of deleted messages and unattached uploads are removed.
    pub storage: Option<StorageConfig>,
}

impl MaintenanceConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        Ok(MaintenanceConfig {
            session_max_age: session_max_age(&vars)?,
            login_failure_window: login_failure_window(&vars)?,
            delivery_queue_url: vars.get("DELIVERY_QUEUE_URL"),
            delivery_queue_endpoint: vars.get("DELIVERY_QUEUE_ENDPOINT"),
            delivery_users_per_shard: delivery_users_per_shard(&vars)?,
            storage: storage(&vars)?,
        })
    }
}

fn delivery_users_per_shard<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<u32, ConfigError> {
    vars.small_number("DELIVERY_USERS_PER_SHARD", 250)
}

fn session_max_age<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(vars.number(
        "REFRESH_SESSION_MAX_AGE_SECONDS",
        30 * 24 * 3600,
    )?))
}

fn login_failure_window<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(
        vars.number("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)?,
    ))
}

#[derive(Clone, Copy, Debug)]
pub struct LoginThrottleConfig {
    pub max_failures: u32,
    pub window: Duration,
}

/// A setting that is missing or unusable; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

pub const MIN_SECRET_BYTES: usize = 32;

/// Reads named variables from any source, so tests never touch the process
/// environment.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError(format!("{name} must be set")))
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{name} must be a positive whole number, got {raw:?}"
                    ))
                }),
        }
    }

    fn small_number(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        u32::try_from(self.number(name, u64::from(default))?)
            .map_err(|_| ConfigError(format!("{name} is too large")))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("0" | "false" | "no") => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some(other) => Err(ConfigError(format!(
                "{name} must be true or false, got {other:?}"
            ))),
        }
    }
}

impl DatabaseConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_vars(&Vars(lookup))
    }

    fn from_vars<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Self, ConfigError> {
        Ok(DatabaseConfig {
            url: vars.required("DATABASE_URL")?,
            max_connections: vars.small_number("DATABASE_MAX_CONNECTIONS", 2)?,
            acquire_timeout: Duration::from_millis(
                vars.number("DATABASE_ACQUIRE_TIMEOUT_MS", 3_000)?,
            ),
            lock_wait_timeout: Duration::from_secs(
                vars.number("DATABASE_LOCK_WAIT_TIMEOUT_SECONDS", 5)?,
            ),
            ssl_mode: vars
                .get("DATABASE_SSL_MODE")
                .map(|raw| {
                    MySqlSslMode::from_str(raw.trim()).map_err(|_| {
                        ConfigError(format!(
                            "DATABASE_SSL_MODE must be disabled, preferred, required, verify_ca or verify_identity, got {raw:?}"
                        ))
                    })
                })
                .transpose()?,
            ssl_ca: vars.get("DATABASE_SSL_CA").map(PathBuf::from),
        })
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let secret = vars.required("JWT_SECRET")?.into_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long, got {}",
                secret.len()
            )));
        }
        let database = DatabaseConfig::from_vars(&vars)?;
        let request_deadline = Duration::from_millis(vars.number("REQUEST_DEADLINE_MS", 10_000)?);
        if database.lock_wait_timeout >= request_deadline {
            return Err(ConfigError(
                "DATABASE_LOCK_WAIT_TIMEOUT_SECONDS must be below REQUEST_DEADLINE_MS".into(),
            ));
        }
        Ok(Config {
            database,
            tokens: TokenConfig {
                secret,
                issuer: vars
                    .get("JWT_ISSUER")
                    .unwrap_or_else(|| "messaging-api".into()),
                audience: vars
                    .get("JWT_AUDIENCE")
                    .unwrap_or_else(|| "messaging-api".into()),
                access_ttl: Duration::from_secs(vars.number("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?),
                refresh_ttl: Duration::from_secs(
                    vars.number("REFRESH_TOKEN_TTL_SECONDS", 14 * 24 * 3600)?,
                ),
                session_max_age: session_max_age(&vars)?,
                refresh_reuse_grace: Duration::from_secs(
                    vars.number("REFRESH_REUSE_GRACE_SECONDS", 10)?,
                ),
            },
            login_throttle: LoginThrottleConfig {
                max_failures: vars.small_number("LOGIN_MAX_FAILURES", 5)?,
                window: login_failure_window(&vars)?,
            },
            request_log_file: vars
                .get("REQUEST_LOG_FILE")
                .unwrap_or_else(|| "user_requests.log".into())
                .into(),
            request_deadline,
            migrate_on_start: vars.flag("MIGRATE_ON_START")?,
            websocket_url: vars
                .get("WEBSOCKET_URL")
                .map(|url| websocket_url(&url))
                .transpose()?,
            websocket_management_url: vars.get("WEBSOCKET_MANAGEMENT_URL"),
            delivery_queue_url: vars.get("DELIVERY_QUEUE_URL"),
            delivery_queue_endpoint: vars.get("DELIVERY_QUEUE_ENDPOINT"),
            delivery_users_per_shard: delivery_users_per_shard(&vars)?,
            max_connections_per_user: vars
                .small_number("WEBSOCKET_MAX_CONNECTIONS_PER_USER", 10)?
                .max(1),
            send_rate_limit: vars.small_number("SEND_RATE_LIMIT", 30)?,
            ticket_rate_limit: vars.small_number("TICKET_RATE_LIMIT", 20)?,
            fanout: FanoutSettings {
                max_in_flight: vars.small_number("FANOUT_MAX_IN_FLIGHT", 32)? as usize,
                handshake_grace: Duration::from_secs(
                    vars.number("FANOUT_HANDSHAKE_GRACE_SECONDS", 30)?,
                ),
                ..FanoutSettings::default()
            },
            storage: storage(&vars)?,
            cors_allowed_origins: crate::cors::AllowedOrigins::parse(
                &vars.get("CORS_ALLOWED_ORIGINS").unwrap_or_default(),
            )
            .map_err(ConfigError)?,
        })
    }
}

/// A `ws://` or `wss://` URL with a path, so that a query string can follow
/// it (`ws://127.0.0.1:9001` becomes `ws://127.0.0.1:9001/`).
fn websocket_url(raw: &str) -> Result<String, ConfigError> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("wss://")
        .or_else(|| raw.strip_prefix("ws://"))
        .filter(|rest| !rest.is_empty() && !rest.contains('?') && !rest.contains('#'))
        .ok_or_else(|| {
            ConfigError(format!(
                "WEBSOCKET_URL must be a ws:// or wss:// URL without a query, got {raw:?}"
            ))
        })?;
    Ok(if rest.contains('/') {
        raw.to_string()
    } else {
        format!("{raw}/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[
            ("DATABASE_URL", "mysql://root@127.0.0.1/x"),
            ("JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(c.tokens.refresh_ttl, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(
            c.tokens.session_max_age,
            Duration::from_secs(30 * 24 * 3600)
        );
        assert_eq!(c.request_deadline, Duration::from_secs(10));
        assert_eq!(c.database.lock_wait_timeout, Duration::from_secs(5));
        assert_eq!(c.login_throttle.max_failures, 5);
        assert_eq!(c.login_throttle.window, Duration::from_secs(900));
        assert_eq!(c.request_log_file, PathBuf::from("user_requests.log"));
        assert!(!c.migrate_on_start);
    }

    #[test]
    fn database_tls_settings_are_read_and_checked() {
        let base = [("DATABASE_URL", "mysql://x"), ("JWT_SECRET", SECRET)];
        let unset = config(&base).unwrap();
        assert!(unset.database.ssl_mode.is_none());
        let set = config(&[
            base[0],
            base[1],
            ("DATABASE_SSL_MODE", "VERIFY_IDENTITY"),
            ("DATABASE_SSL_CA", "/opt/rds-ca.pem"),
        ])
        .unwrap();
        assert!(matches!(
            set.database.ssl_mode,
            Some(MySqlSslMode::VerifyIdentity)
        ));
        assert_eq!(set.database.ssl_ca, Some(PathBuf::from("/opt/rds-ca.pem")));
        let err = config(&[base[0], base[1], ("DATABASE_SSL_MODE", "sometimes")])
            .err()
            .unwrap();
        assert!(err.to_string().contains("DATABASE_SSL_MODE"), "{err}");
    }

    #[test]
    fn a_missing_database_url_names_the_variable() {
        let err = config(&[("JWT_SECRET", SECRET)]).err().unwrap();
        assert!(
            err.to_string().contains("DATABASE_URL must be set"),
            "{err}"
        );
    }

    #[test]
    fn a_short_secret_is_refused_without_echoing_it() {
        let err = config(&[
            ("DATABASE_URL", "mysql://x"),
            ("JWT_SECRET", "short-secret"),
        ])
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(text.contains("at least 32 bytes"), "{text}");
        assert!(!text.contains("short-secret"), "{text}");
    }

    #[test]
    fn a_non_numeric_lifetime_is_refused() {
        let err = config(&[
            ("DATABASE_URL", "mysql://x"),
            ("JWT_SECRET", SECRET),
            ("ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ])
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("ACCESS_TOKEN_TTL_SECONDS"),
            "{err}"
        );
    }

    #[test]
    fn the_websocket_url_gets_a_path_and_must_be_a_websocket_url() {
        assert_eq!(
            websocket_url("ws://127.0.0.1:9001").unwrap(),
            "ws://127.0.0.1:9001/"
        );
        assert_eq!(
            websocket_url("wss://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap(),
            "wss://abc.execute-api.eu-west-1.amazonaws.com/prod"
        );
        for bad in ["http://x", "ws://", "ws://x/?a=1", "x"] {
            assert!(websocket_url(bad).is_err(), "{bad}");
        }
    }
}
