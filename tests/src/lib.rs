//! Test helpers: an application on a fresh database, requests sent as real
//! `lambda_http` requests to the function that owns their path (as API
//! Gateway routes them), and one method per endpoint.

use std::path::PathBuf;

use lambda_http::http::{HeaderMap, Method, Request};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::AppState;
use shared::config::Config;
use sqlx::MySqlPool;

pub use harness::config::{JWT_SECRET as SECRET, app_config as test_config};
pub use harness::routing::{Function, Gateway, function_for};
pub use harness::runtime_api;
pub use harness::statements::count_statements;

pub const PASSWORD: &str = "correct horse battery staple";

static GATEWAY: std::sync::LazyLock<Gateway> = std::sync::LazyLock::new(Gateway::new);

/// A request with a bearer token through the gateway's routing on any
/// application state (as another Lambda instance, with the production pool):
/// the status and the JSON body (null when empty).
pub async fn call_on(
    state: &AppState,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
        .expect("a valid test request");
    let response = TestResponse::from(GATEWAY.handle(state, request).await);
    (response.status, response.body)
}

/// The URL of the fresh database `#[sqlx::test]` made for the running test.
pub fn database_url(pool: &MySqlPool) -> String {
    let options = pool.connect_options();
    let database = options.get_database().expect("the test database's name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    format!("{server}/{database}")
}

pub struct TestApp {
    pub state: AppState,
    pub log_file: PathBuf,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    fn from(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.body().as_ref();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {bytes:?}"))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The seconds of `Retry-After`, which the answer must carry.
    pub fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .and_then(|seconds| seconds.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After in seconds: {:?}", self.headers))
    }

    /// The contract's error sentence.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {}", self.body))
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn new(pool: MySqlPool) -> Self {
        Self::with_config(pool, |_| {})
    }

    /// An application on the test's fresh database through the pool the
    /// functions build (its session settings included: READ COMMITTED, the
    /// lock-wait timeouts), as every function's instance has.
    pub fn with_config(pool: MySqlPool, adjust: impl FnOnce(&mut Config)) -> Self {
        // The allocator setting every function starts with (see `shared::memory`).
        shared::memory::return_large_allocations();
        let log_file =
            std::env::temp_dir().join(format!("requests-{}.log", shared::secret::random_token()));
        let mut config = test_config(log_file.clone());
        config.database.url = database_url(&pool);
        adjust(&mut config);
        let pool = shared::db::pool(&config.database).expect("a valid database URL");
        let store = config.storage.as_ref().map(storage::store);
        let mut state = AppState::new(config, pool);
        if let Some(store) = store {
            state = state.with_storage(store);
        }
        TestApp { state, log_file }
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.state.pool
    }

    /// A second application on this test's database, with the pool the
    /// functions build (its session settings included) of `connections`.
    pub async fn production_state(&self, connections: u32) -> AppState {
        self.production_state_with(connections, |_| {}).await
    }

    /// [`Self::production_state`] with adjusted settings.
    pub async fn production_state_with(
        &self,
        connections: u32,
        adjust: impl FnOnce(&mut Config),
    ) -> AppState {
        let mut config = test_config(self.log_file.clone());
        adjust(&mut config);
        config.database.url = database_url(self.pool());
        config.database.max_connections = connections;
        let pool = shared::db::pool(&config.database).expect("a valid database URL");
        let store = config.storage.as_ref().map(storage::store);
        let state = AppState::new(config, pool);
        match store {
            Some(store) => state.with_storage(store),
            None => state,
        }
    }

    /// Sends a request to the function that owns its path.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        TestResponse::from(GATEWAY.handle(&self.state, request).await)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("https://api.example.test{path}"));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                builder = builder.header("content-type", "application/json");
                Body::Text(value.to_string())
            }
            None => Body::Empty,
        };
        self.send(builder.body(body).expect("a valid test request"))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn register(&self, body: Value) -> TestResponse {
        self.post("/api/auth/register", None, body).await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/api/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Moves every rotation back past the reuse grace, so that presenting a
    /// spent token again counts as theft.
    pub async fn outlive_the_reuse_grace(&self) {
        sqlx::query(
            "UPDATE refresh_tokens SET used_at = used_at - INTERVAL 1 HOUR WHERE used_at IS NOT NULL",
        )
        .execute(self.pool())
        .await
        .expect("spent tokens aged");
    }

    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn logout(&self, refresh_token: &str) -> TestResponse {
        self.post(
            "/api/auth/logout",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn me(&self, access_token: &str) -> TestResponse {
        self.get("/api/auth/me", Some(access_token)).await
    }

    /// Registers `name@example.org` with username `name` and logs in.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.org");
        let registered = self
            .register(json!({"email": email, "password": PASSWORD, "username": name}))
            .await;
        assert_eq!(
            registered.status, 201,
            "register {name}: {:?}",
            registered.body
        );
        let login = self.login(&email, PASSWORD).await;
        assert_eq!(login.status, 200, "login {name}: {:?}", login.body);
        TestUser {
            id: registered.body["user_id"].as_i64().expect("user_id"),
            email,
            username: name.to_string(),
            access: login.body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            refresh: login.body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
        }
    }

    /// The request-log lines written so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log_file);
    }
}

impl TestApp {
    /// Creates a conversation as `owner` with `others` (or alone); panics unless 201.
    pub async fn conversation(&self, owner: &TestUser, others: &[&TestUser]) -> i64 {
        let mut ids: Vec<i64> = others.iter().map(|u| u.id).collect();
        if ids.is_empty() {
            ids.push(owner.id);
        }
        let response = self
            .post(
                "/api/conversations",
                Some(&owner.access),
                json!({"participant_ids": ids}),
            )
            .await;
        assert_eq!(
            response.status, 201,
            "create conversation: {:?}",
            response.body
        );
        response.body["id"].as_i64().expect("conversation id")
    }

    pub async fn send_message(
        &self,
        sender: &TestUser,
        conversation_id: i64,
        body: Value,
    ) -> TestResponse {
        self.post(
            &format!("/api/conversations/{conversation_id}/messages"),
            Some(&sender.access),
            body,
        )
        .await
    }

    /// Sends `text`; panics unless 201. Returns the message id.
    pub async fn say(&self, sender: &TestUser, conversation_id: i64, text: &str) -> i64 {
        let response = self
            .send_message(sender, conversation_id, json!({"body": text}))
            .await;
        assert_eq!(response.status, 201, "send: {:?}", response.body);
        response.body["id"].as_i64().expect("message id")
    }

    /// Each of `senders` sends `each` messages into `conversation_id` one
    /// after another, all senders at once; every send must answer 201.
    pub async fn send_concurrently(
        &self,
        senders: &[&TestUser],
        conversation_id: i64,
        each: usize,
    ) {
        let mut sending = tokio::task::JoinSet::new();
        for sender in senders {
            let state = self.state.clone();
            let token = sender.access.clone();
            sending.spawn(async move {
                for i in 0..each {
                    let (status, body) = call_on(
                        &state,
                        "POST",
                        &format!("/api/conversations/{conversation_id}/messages"),
                        &token,
                        Some(json!({"body": format!("message {i}")})),
                    )
                    .await;
                    assert_eq!(status, 201, "{body}");
                }
            });
        }
        sending.join_all().await;
    }

    pub async fn messages(
        &self,
        reader: &TestUser,
        conversation_id: i64,
        query: &str,
    ) -> TestResponse {
        self.get(
            &format!("/api/conversations/{conversation_id}/messages{query}"),
            Some(&reader.access),
        )
        .await
    }
}

pub mod storage;
pub mod websocket;
