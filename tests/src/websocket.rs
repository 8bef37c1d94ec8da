//! The real-time stack on 127.0.0.1: the realtime and fan-out binaries under
//! the Runtime API emulator (invoked through its Lambda Invoke API), the
//! local gateway in front of them (WebSocket API, Management API, and the
//! delivery queue with its trigger), the application nudging that queue, and
//! WebSocket clients (tokio-tungstenite).

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
use futures_util::{SinkExt, StreamExt};
use lambda_http::http::Method;
use local_gateway::Settings;
use serde_json::Value;
use shared::realtime::ManagementApi;
use sqlx::MySqlPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::runtime_api::LambdaProcess;
use crate::{SECRET, TestApp, TestUser, database_url};

pub use harness::delivery_queue::{DELIVERY_QUEUE, delivery_queue, local_signer};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a frame that must come.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Stack {
    pub app: TestApp,
    pub gateway: SocketAddr,
    pub function: LambdaProcess,
    pub fanout: LambdaProcess,
    serving: JoinHandle<()>,
}

/// What a test stack may change.
pub struct StackSettings {
    pub gateway: Settings,
    /// Fan-out instances polling one Invoke API, as `--concurrency` runs them.
    pub fanout_instances: usize,
    /// Realtime function instances, likewise.
    pub realtime_instances: usize,
    /// `FANOUT_HANDSHAKE_GRACE_SECONDS`.
    pub handshake_grace_seconds: u64,
    /// `WEBSOCKET_MAX_CONNECTIONS_PER_USER`.
    pub max_connections_per_user: u32,
    /// `DELIVERY_USERS_PER_SHARD`.
    pub users_per_shard: u32,
    /// `FANOUT_MAX_IN_FLIGHT`.
    pub posts_in_flight: u32,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// A Management API client of the local gateway; it checks no signature,
/// but the SDK signs, so it gets made-up credentials.
pub fn management_client(gateway: SocketAddr) -> Client {
    let config = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .http_client(shared::aws_http::client())
        .endpoint_url(format!("http://{gateway}"))
        .build();
    Client::from_conf(config)
}

/// The Management API of the local gateway at `gateway`, as the functions
/// call it.
pub fn management_api(gateway: SocketAddr) -> ManagementApi {
    ManagementApi::new(&format!("http://{gateway}"), local_signer("execute-api"))
}

impl Stack {
    pub async fn start(pool: MySqlPool) -> Self {
        Self::start_with(pool, |_| {}).await
    }

    /// [`Self::start`] with adjusted settings.
    pub async fn start_with(pool: MySqlPool, adjust: impl FnOnce(&mut StackSettings)) -> Self {
        let url = database_url(&pool);
        let log_file =
            std::env::temp_dir().join(format!("realtime-{}.log", shared::secret::random_token()));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gateway");
        let gateway = listener.local_addr().expect("an address");
        let mut settings = StackSettings {
            gateway: Settings {
                delivery_queue: Some(DELIVERY_QUEUE.into()),
                ..Settings::default()
            },
            fanout_instances: 2,
            realtime_instances: 1,
            handshake_grace_seconds: 30,
            max_connections_per_user: 10,
            users_per_shard: 250,
            posts_in_flight: 32,
        };
        adjust(&mut settings);
        let env = [
            ("DATABASE_URL", url),
            ("JWT_SECRET", String::from_utf8(SECRET.to_vec()).unwrap()),
            ("REQUEST_LOG_FILE", log_file.display().to_string()),
            ("WEBSOCKET_MANAGEMENT_URL", format!("http://{gateway}")),
            ("AWS_REGION", "us-east-1".into()),
            // The storage's one identity; the local SQS checks nothing.
            ("AWS_ACCESS_KEY_ID", crate::storage::ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", crate::storage::SECRET_KEY.into()),
            ("ATTACHMENT_BUCKET", crate::storage::BUCKET.into()),
            ("ATTACHMENT_ENDPOINT", crate::storage::endpoint()),
            // The origin of a local web page.
            ("CORS_ALLOWED_ORIGINS", "http://127.0.0.1:9002".into()),
            (
                "FANOUT_HANDSHAKE_GRACE_SECONDS",
                settings.handshake_grace_seconds.to_string(),
            ),
            (
                "WEBSOCKET_MAX_CONNECTIONS_PER_USER",
                settings.max_connections_per_user.to_string(),
            ),
            ("FANOUT_MAX_IN_FLIGHT", settings.posts_in_flight.to_string()),
            (
                "DELIVERY_QUEUE_URL",
                local_gateway::queue_url(gateway, DELIVERY_QUEUE),
            ),
            ("DELIVERY_QUEUE_ENDPOINT", format!("http://{gateway}")),
        ];
        let function =
            LambdaProcess::spawn_instances("realtime", &env, settings.realtime_instances).await;
        let fanout =
            LambdaProcess::spawn_instances("fanout", &env, settings.fanout_instances).await;
        let mut gateway_settings = settings.gateway;
        gateway_settings.invoke_url = format!("http://{}", function.api.addr);
        gateway_settings.fanout_invoke_url = Some(format!("http://{}", fanout.api.addr));
        let serving = tokio::spawn(local_gateway::serve(listener, gateway_settings));
        let (cap, per_shard) = (settings.max_connections_per_user, settings.users_per_shard);
        let mut app = TestApp::with_config(pool, |config| {
            config.websocket_url = Some(format!("ws://{gateway}/"));
            config.websocket_management_url = Some(format!("http://{gateway}"));
            config.max_connections_per_user = cap;
            config.delivery_users_per_shard = per_shard;
        });
        app.state = app
            .state
            .clone()
            .with_delivery(delivery_queue(gateway, DELIVERY_QUEUE))
            .with_management(management_api(gateway));
        Stack {
            app,
            gateway,
            function,
            fanout,
            serving,
        }
    }

    /// A fresh ticket URL for `user`.
    pub async fn ticket_url(&self, user: &TestUser) -> String {
        let response = self
            .app
            .call(
                Method::POST,
                "/api/realtime/tickets",
                Some(&user.access),
                None,
            )
            .await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        response.body["url"].as_str().expect("a url").to_string()
    }

    /// Opens a WebSocket for `user`; panics unless the handshake succeeds.
    pub async fn connect(&self, user: &TestUser) -> Socket {
        let url = self.ticket_url(user).await;
        let (socket, response) =
            tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(url))
                .await
                .expect("the handshake finished in time")
                .expect("the handshake succeeded");
        assert_eq!(response.status(), 101);
        socket
    }

    /// The connection ids stored for `user_id`.
    pub async fn connections_of(&self, user_id: i64) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT connection_id FROM realtime_connections WHERE user_id = ? ORDER BY connected_at",
        )
        .bind(user_id)
        .fetch_all(self.app.pool())
        .await
        .expect("connections")
    }
}

/// The next text frame as JSON, skipping control frames.
/// The next event of `kind`, skipping others (a fresh connection may be sent
/// its first seconds' changes again).
pub async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_json(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

pub async fn next_json(socket: &mut Socket) -> Value {
    let frame = tokio::time::timeout(FRAME_WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => return text.as_str().to_owned(),
                Some(Ok(Message::Close(frame))) => panic!("closed by the gateway: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("socket failed: {err}"),
                None => panic!("socket ended"),
            }
        }
    })
    .await
    .expect("a frame within the wait");
    serde_json::from_str(&frame).unwrap_or_else(|e| panic!("not JSON ({e}): {frame}"))
}

/// Waits for the gateway to close `socket`; false when it stays open for the
/// frame wait.
pub async fn closed(socket: &mut Socket) -> bool {
    tokio::time::timeout(FRAME_WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Nothing arrives for `wait`.
pub async fn assert_silent(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(wait, socket.next()).await {
        panic!("unexpected frame: {text}");
    }
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket
        .send(Message::text(text.to_string()))
        .await
        .expect("send a frame");
}

/// Polls until `check` holds, for at most the frame wait.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + FRAME_WAIT;
    while tokio::time::Instant::now() < until {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not within {FRAME_WAIT:?}: {what}");
}
