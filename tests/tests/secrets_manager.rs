//! The cloud configuration path: secrets read through the real AWS SDK from a
//! Secrets Manager emulator (moto) on 127.0.0.1, then served from.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use serde_json::json;
use shared::cloud_secrets::{resolve, resolve_with};
use shared::config::Config;
use shared::{AppState, app, db};
use sqlx::MySqlPool;

/// A moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] is needed: pip install 'moto[server]'");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}: is moto[server] installed?"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn client(&self) -> Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(shared::aws_http::client())
            .build();
        Client::from_conf(config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn create_secret(client: &Client, name: &str, value: &str) -> String {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret");
    created.arn.expect("an ARN")
}

/// The test server's login, as `DATABASE_URL` names it
/// (`mysql://user:password@host:port/database`).
struct TestServer {
    username: String,
    password: String,
    host: String,
    port: u16,
}

fn test_server() -> TestServer {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let (credentials, hostport) = authority.rsplit_once('@').unwrap_or(("root", authority));
    let (username, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    TestServer {
        username: username.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.parse().expect("a port number"),
    }
}

fn lookup(vars: HashMap<&'static str, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn secrets_become_the_configuration_the_functions_serve_with(pool: MySqlPool) {
    let moto = Moto::start();
    let client = moto.client();
    let (database,): (String,) = sqlx::query_as("SELECT DATABASE()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let jwt_secret = "a-jwt-secret-from-secrets-manager-0123456789";
    let jwt_arn = create_secret(&client, "messaging/jwt", jwt_secret).await;
    let server = test_server();
    let db_arn = create_secret(
        &client,
        "messaging/db",
        &json!({"engine": "mysql", "username": server.username, "password": server.password,
                "host": "db.invalid", "port": server.port, "dbname": database})
        .to_string(),
    )
    .await;

    // As template.yaml sets it up: the secret's host is replaced by the proxy endpoint.
    let env = HashMap::from([
        ("JWT_SECRET_ARN", jwt_arn),
        ("DB_SECRET_ARN", db_arn),
        ("DATABASE_HOST", server.host.clone()),
        (
            "REQUEST_LOG_FILE",
            std::env::temp_dir()
                .join("secrets-test.log")
                .display()
                .to_string(),
        ),
    ]);
    let secrets = resolve_with(&client, lookup(env.clone())).await.unwrap();
    assert_eq!(secrets["JWT_SECRET"], jwt_secret);
    assert_eq!(
        secrets["DATABASE_URL"],
        format!(
            "mysql://{}:{}@{}:{}/{database}",
            server.username, server.password, server.host, server.port
        )
    );

    let config = Config::from_lookup(|name| {
        secrets
            .get(name)
            .cloned()
            .or_else(|| env.get(name).cloned())
    })
    .unwrap();
    let state = AppState::new(config.clone(), db::pool(&config.database).unwrap());
    let request = |method: &str, path: &str, body: serde_json::Value| {
        lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(lambda_http::Body::from(body.to_string()))
            .unwrap()
    };
    let health = app::handle(
        &state,
        &auth::router(),
        request("GET", "/api/health", json!({})),
    )
    .await;
    assert_eq!(health.status(), 200);
    let credentials =
        json!({"email": "cloud@example.org", "password": "correct horse battery staple"});
    let registered = app::handle(
        &state,
        &auth::router(),
        request("POST", "/api/auth/register", credentials.clone()),
    )
    .await;
    assert_eq!(registered.status(), 201);
    let login = app::handle(
        &state,
        &auth::router(),
        request("POST", "/api/auth/login", credentials),
    )
    .await;
    let body: serde_json::Value = serde_json::from_slice(login.body().as_ref()).unwrap();
    let token = body["access_token"].as_str().unwrap();

    // The token is signed with the key that came from Secrets Manager.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["messaging-api"]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(jwt_secret.as_bytes()),
        &validation,
    )
    .expect("signed with the secret's key");
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let moto = Moto::start();
    let env = HashMap::from([(
        "JWT_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nothing-here".to_string(),
    )]);
    let err = resolve_with(&moto.client(), lookup(env)).await.unwrap_err();
    assert!(format!("{err:#}").contains("JWT_SECRET_ARN"), "{err:#}");
}

#[tokio::test]
async fn a_database_secret_that_is_not_rds_json_is_refused_without_echoing_it() {
    let moto = Moto::start();
    let client = moto.client();
    let arn = create_secret(&client, "messaging/bad-db", "hunter2-not-json").await;
    let err = resolve_with(&client, lookup(HashMap::from([("DB_SECRET_ARN", arn)])))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("RDS-format JSON"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn without_secret_arns_nothing_is_fetched() {
    let vars = resolve(|_| None).await.unwrap();
    assert!(vars.is_empty());
}

#[sqlx::test(migrator = "shared::db::MIGRATOR")]
async fn the_auth_binary_starts_from_secrets_named_in_its_environment(pool: MySqlPool) {
    let moto = Moto::start();
    let client = moto.client();
    let (database,): (String,) = sqlx::query_as("SELECT DATABASE()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let jwt_arn = create_secret(
        &client,
        "messaging/jwt",
        "a-jwt-secret-from-secrets-manager-0123456789",
    )
    .await;
    let server = test_server();
    let db_arn = create_secret(
        &client,
        "messaging/db",
        &json!({"username": server.username, "password": server.password, "host": server.host,
                "port": server.port, "dbname": database})
        .to_string(),
    )
    .await;
    // As Lambda and template.yaml set the environment; no JWT_SECRET or DATABASE_URL.
    let env = [
        ("JWT_SECRET_ARN", jwt_arn),
        ("DB_SECRET_ARN", db_arn),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto.port),
        ),
        (
            "REQUEST_LOG_FILE",
            std::env::temp_dir()
                .join("secrets-binary.log")
                .display()
                .to_string(),
        ),
    ];
    let auth = api_tests::runtime_api::LambdaProcess::spawn("auth", &env).await;
    let (status, _, body) = auth.request("GET", "/api/health", None, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "database": "ok"}))
    );
    let credentials =
        json!({"email": "cloud@example.org", "password": "correct horse battery staple"});
    assert_eq!(
        auth.request("POST", "/api/auth/register", None, Some(credentials))
            .await
            .0,
        201
    );
    auth.stop().await;
}
