//! The application state built once per cold start, and the one wrapper every
//! function's handler runs in: authenticate the caller, route, answer errors as
//! the contract's JSON, and write the request log.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use http::{HeaderMap, header};
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use serde::de::DeserializeOwned;
use sqlx::MySqlPool;
use tokio::time::{Instant, timeout_at};

use crate::access_token::AccessTokens;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, is_unavailable};
use crate::pagination::CursorKey;
use crate::realtime::{DeliveryQueue, ManagementApi};
use crate::request_log::RequestLog;
use crate::router::{Endpoint, PathParams, Router};
use crate::storage::ObjectStore;
use crate::store::messages::Message;
use crate::store::users::{self, User};
use crate::{cloud_secrets, cors, db, request};

/// Shared by every invocation of a warm instance; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: MySqlPool,
    pub tokens: Arc<AccessTokens>,
    pub cursors: Arc<CursorKey>,
    pub config: Arc<Config>,
    pub request_log: Arc<RequestLog>,
    /// Where changes nudge delivery; absent, nothing is delivered.
    pub delivery: Option<Arc<DeliveryQueue>>,
    /// The WebSocket API's Management API, to close connections.
    pub management: Option<Arc<ManagementApi>>,
    /// Where attachments are stored; absent, uploads are refused.
    pub storage: Option<Arc<ObjectStore>>,
}

impl AppState {
    pub fn new(config: Config, pool: MySqlPool) -> Self {
        AppState {
            pool,
            tokens: Arc::new(AccessTokens::new(&config.tokens)),
            cursors: Arc::new(CursorKey::derive(&config.tokens.secret)),
            request_log: Arc::new(RequestLog::new(config.request_log_file.clone())),
            config: Arc::new(config),
            delivery: None,
            management: None,
            storage: None,
        }
    }

    /// Stores attachments there, and signs every download URL this process
    /// shows with it.
    pub fn with_storage(mut self, store: ObjectStore) -> Self {
        let store = Arc::new(store);
        crate::storage::install_downloads(store.clone());
        self.storage = Some(store);
        self
    }

    pub fn with_delivery(mut self, queue: DeliveryQueue) -> Self {
        self.delivery = Some(Arc::new(queue));
        self
    }

    pub fn with_management(mut self, management: ManagementApi) -> Self {
        self.management = Some(Arc::new(management));
        self
    }

    /// Configuration from the environment (and Secrets Manager, when ARNs are
    /// set) and a lazy pool; migrations only when `MIGRATE_ON_START` asks.
    pub async fn from_env() -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok();
        let secrets = cloud_secrets::resolve(env).await?;
        let config = Config::from_lookup(|name| secrets.get(name).cloned().or_else(|| env(name)))?;
        let pool = db::pool(&config.database)?;
        if config.migrate_on_start {
            db::migrate(&pool).await?;
        }
        let management = config
            .websocket_management_url
            .as_deref()
            .map(ManagementApi::from_env)
            .transpose()?;
        let delivery = config
            .delivery_queue_url
            .as_deref()
            .map(|url| DeliveryQueue::from_env(url, config.delivery_queue_endpoint.as_deref()))
            .transpose()?;
        let storage = match &config.storage {
            Some(storage) => Some(ObjectStore::from_env(storage).await?),
            None => None,
        };
        let mut state = AppState::new(config, pool);
        state.management = management.map(Arc::new);
        state.delivery = delivery.map(Arc::new);
        if let Some(store) = storage {
            state = state.with_storage(store);
        }
        Ok(state)
    }
}

/// Who is calling, as far as the bearer token says.
#[derive(Debug)]
pub enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// A valid access token of an existing user.
    User(User),
    /// A header that is not a valid token of an existing user.
    Invalid,
    /// The token could not be checked because the database failed.
    Failed { unavailable: bool, detail: String },
}

impl Caller {
    pub fn username(&self) -> Option<&str> {
        match self {
            Caller::User(user) => Some(&user.username),
            _ => None,
        }
    }
    /// The authenticated user, or the 401 (or 503) a protected route answers.
    fn into_user(self) -> Result<User, ApiError> {
        match self {
            Caller::User(user) => Ok(user),
            Caller::Anonymous => Err(ApiError::Unauthorized(
                "Authentication credentials were not provided.",
            )),
            Caller::Invalid => Err(ApiError::Unauthorized("Invalid or expired token.")),
            Caller::Failed {
                unavailable: true,
                detail,
            } => Err(ApiError::Unavailable(anyhow!("{detail}"))),
            Caller::Failed {
                unavailable: false,
                detail,
            } => Err(ApiError::Internal(anyhow!("{detail}"))),
        }
    }
}

/// Everything a handler gets besides the caller, whom only an authenticated
/// endpoint receives (see [`Endpoint`]).
pub struct RequestCtx {
    pub state: AppState,
    pub params: PathParams,
    pub query: Option<String>,
    pub body: Body,
    /// The request's one database connection, taken on first use.
    pub db: Db,
}

impl RequestCtx {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        request::json(&self.body)
    }

    /// The query string's parameters, refusing any the route does not know.
    pub fn query(&self, allowed: &[&str]) -> Result<request::Query, ApiError> {
        request::Query::parse(self.query.as_deref(), allowed)
    }

    /// Nudges delivery of a conversation's committed change (see
    /// [`crate::realtime::announce`]); `version` is the change's own when it
    /// is in the log. Never fails the request.
    pub async fn announce(&mut self, conversation_id: i64, version: Option<i64>) {
        let Some(queue) = self.state.delivery.clone() else {
            return;
        };
        let per_shard = self.state.config.delivery_users_per_shard;
        match self.db.conn().await {
            Ok(conn) => {
                crate::realtime::announce(conn, &queue, conversation_id, version, per_shard).await
            }
            Err(err) => tracing::warn!(conversation_id, error = %err, "delivery not nudged"),
        }
    }

    /// Nudges delivery of a send (see [`crate::realtime::announce_from`]).
    pub async fn announce_sent(&self, message: &Message, participant_count: i32) {
        if let Some(queue) = self.state.delivery.as_deref() {
            crate::realtime::announce_from(
                queue,
                message.conversation_id,
                message.version - 1,
                participant_count,
                self.state.config.delivery_users_per_shard,
            )
            .await;
        }
    }
}

async fn authenticate(state: &AppState, db: &mut Db, headers: &HeaderMap) -> Caller {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Caller::Anonymous;
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(verified) = token.and_then(|t| state.tokens.verify(t).ok()) else {
        return Caller::Invalid;
    };
    let found = match db.conn().await {
        Ok(conn) => users::find_signed_in(conn, verified.user_id, verified.session.as_ref()).await,
        Err(err) => Err(err),
    };
    match found {
        Ok(Some(user)) => Caller::User(User {
            session: verified.session,
            ..user
        }),
        Ok(None) => Caller::Invalid,
        Err(err) => Caller::Failed {
            unavailable: is_unavailable(&err),
            detail: format!("authenticate caller: {err}"),
        },
    }
}

/// Runs one request through a function's routes. Every request, answered or
/// refused, leaves one request-log line; a CORS preflight is answered
/// before any of them.
pub async fn handle(state: &AppState, router: &Router, req: Request) -> Response<Body> {
    let deadline = deadline(state, &req);
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let origins = &state.config.cors_allowed_origins;
    if cors::is_preflight(&parts.method, &parts.headers) {
        state.request_log.record(None, &path);
        return cors::preflight(origins, &parts.headers);
    }
    let mut db = Db::new(&state.pool);
    let caller = timeout_at(deadline, authenticate(state, &mut db, &parts.headers))
        .await
        .unwrap_or_else(|_| Caller::Failed {
            unavailable: true,
            detail: "request deadline passed while authenticating".into(),
        });
    let username = caller.username().map(str::to_owned);
    let outcome =
        match request::check_body_size(&body).and_then(|()| router.at(&parts.method, &path)) {
            Ok((endpoint, params)) => {
                let ctx = RequestCtx {
                    state: state.clone(),
                    params,
                    query: parts.uri.query().map(str::to_owned),
                    body,
                    db,
                };
                let work = async {
                    match endpoint {
                        Endpoint::Public(handler) => handler(ctx).await,
                        Endpoint::Authenticated(handler) => handler(caller.into_user()?, ctx).await,
                    }
                };
                timeout_at(deadline, work).await.unwrap_or_else(|_| {
                    Err(ApiError::Unavailable(anyhow!(
                        "request deadline passed: {path}"
                    )))
                })
            }
            Err(err) => Err(err),
        };
    let mut response = outcome.unwrap_or_else(ApiError::into_response);
    cors::allow_reading(origins, &parts.headers, &mut response);
    state.request_log.record(username.as_deref(), &path);
    response
}

/// Kept between the deadline and the end of the Lambda invocation, for the
/// answer to get out.
const INVOCATION_MARGIN: Duration = Duration::from_millis(500);

/// When this request must have answered: the configured deadline, or sooner
/// when the Lambda invocation ends sooner.
fn deadline(state: &AppState, req: &Request) -> Instant {
    let now = Instant::now();
    let configured = state.config.request_deadline;
    let remaining = req.lambda_context_ref().and_then(|context| {
        let ends = UNIX_EPOCH + Duration::from_millis(context.deadline);
        ends.duration_since(SystemTime::now())
            .ok()
            .map(|left| left.saturating_sub(INVOCATION_MARGIN))
    });
    now + remaining.map_or(configured, |left| left.min(configured))
}

/// A function's `main`: tracing, state, then the Lambda runtime loop.
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    crate::memory::return_large_allocations();
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::from_env()
        .await
        .inspect_err(|err| tracing::error!("cold start failed: {err:#}"))?;
    let router = Arc::new(router);
    lambda_http::run(service_fn(move |req: Request| {
        let state = state.clone();
        let router = Arc::clone(&router);
        async move { Ok::<_, Infallible>(handle(&state, &router, req).await) }
    }))
    .await
}
