//! A database outage in the middle of a send load: a MariaDB of the test's own
//! (own port, own data directory, never the machine's shared server) is
//! killed and started again. While it is down requests answer 503 with
//! `Retry-After` promptly; after it returns the same application recovers by
//! itself; no acknowledged message is lost, and retries with the same
//! `client_id` store each message once.

use std::collections::{HashMap, HashSet};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api_tests::{Gateway, test_config};
use lambda_http::Body;
use lambda_http::http::Request;
use serde_json::{Value, json};
use shared::AppState;

struct OwnMariaDb {
    datadir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl OwnMariaDb {
    fn install() -> Self {
        let datadir =
            std::env::temp_dir().join(format!("faults-db-{}", shared::secret::random_token()));
        std::fs::create_dir_all(&datadir).unwrap();
        let status = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", datadir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db (Debian package mariadb-server)");
        assert!(status.success(), "mariadb-install-db failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        OwnMariaDb {
            datadir,
            port,
            child: None,
        }
    }

    fn start(&mut self) {
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!("--socket={}", self.datadir.join("sock").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
                "--skip-log-bin",
            ])
            .args([
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the test's MariaDB did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no clean shutdown, as a crash or a lost host.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/faults", self.port)
    }
}

impl Drop for OwnMariaDb {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.datadir);
    }
}

async fn send(
    gateway: &Gateway,
    state: &AppState,
    token: &str,
    conversation: i64,
    client_id: &str,
) -> (u16, Option<String>, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(format!("/api/conversations/{conversation}/messages"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Text(
            json!({"body": format!("message {client_id}"), "client_id": client_id}).to_string(),
        ))
        .unwrap();
    let response = gateway.handle(state, request).await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_database_is_a_prompt_503_and_loses_nothing_acknowledged() {
    let mut db = OwnMariaDb::install();
    db.start();
    let admin = sqlx::MySqlPool::connect(&format!("mysql://root@127.0.0.1:{}/mysql", db.port))
        .await
        .unwrap();
    sqlx::query("CREATE DATABASE faults")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;

    let mut config = test_config(std::env::temp_dir().join(format!("faults-{}.log", db.port)));
    config.database.url = db.url();
    config.database.max_connections = 8;
    config.database.acquire_timeout = Duration::from_millis(1_000);
    let pool = shared::db::pool(&config.database).unwrap();
    shared::db::migrate(&pool).await.unwrap();
    let state = AppState::new(config, pool);
    let gateway = Arc::new(Gateway::new());

    // Two users and a conversation, through the API.
    let app = api_tests::TestApp {
        state: state.clone(),
        log_file: std::env::temp_dir().join("faults-unused.log"),
    };
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let conversation = app.conversation(&alice, &[&bob]).await;

    let running = Arc::new(AtomicBool::new(true));
    let mut senders = Vec::new();
    for n in 0..8 {
        let (state, gateway, running) = (state.clone(), Arc::clone(&gateway), Arc::clone(&running));
        let token = if n % 2 == 0 {
            alice.access.clone()
        } else {
            bob.access.clone()
        };
        senders.push(tokio::spawn(async move {
            let (mut acknowledged, mut failed, mut slowest_failure) =
                (Vec::new(), Vec::new(), Duration::ZERO);
            let mut m = 0;
            while running.load(Ordering::Relaxed) {
                let client_id = format!("{n}-{m}");
                m += 1;
                let started = Instant::now();
                let (status, retry_after, body) =
                    send(&gateway, &state, &token, conversation, &client_id).await;
                match status {
                    201 => acknowledged.push((client_id, body["id"].as_i64().unwrap())),
                    503 => {
                        assert_eq!(retry_after.as_deref(), Some("1"), "503 without Retry-After");
                        slowest_failure = slowest_failure.max(started.elapsed());
                        failed.push(client_id);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("sender {n} got {other}: {body}"),
                }
            }
            (token, acknowledged, failed, slowest_failure)
        }));
    }

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    db.kill();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (status, retry_after, _) =
        send(&gateway, &state, &alice.access, conversation, "while-down").await;
    assert_eq!(
        (status, retry_after.as_deref()),
        (503, Some("1")),
        "down: a prompt 503"
    );
    db.start();

    // The same state, pool and all, serves again within a few seconds.
    let back = Instant::now();
    loop {
        let (status, _, _) = send(
            &gateway,
            &state,
            &alice.access,
            conversation,
            "after-restart",
        )
        .await;
        if status == 201 || status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no recovery within 10 s of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    running.store(false, Ordering::Relaxed);

    let mut acknowledged: HashMap<String, i64> = HashMap::new();
    let mut attempted: HashSet<String> = HashSet::from(["after-restart".to_string()]);
    for task in senders {
        let (token, ok, failed, slowest) = task.await.unwrap();
        assert!(
            slowest < Duration::from_millis(3_000),
            "a failure took {slowest:?}: the pool must not hang"
        );
        attempted.extend(ok.iter().map(|(c, _)| c.clone()));
        acknowledged.extend(ok);
        // Retrying every failed send with its client_id stores it at most once.
        for client_id in failed {
            let (status, _, body) = send(&gateway, &state, &token, conversation, &client_id).await;
            assert!(
                status == 201 || status == 200,
                "retry of {client_id}: {status} {body}"
            );
            attempted.insert(client_id);
        }
    }
    assert!(!acknowledged.is_empty());

    let stored: Vec<(i64, Option<String>)> = sqlx::query_as("SELECT id, client_id FROM messages")
        .fetch_all(&state.pool)
        .await
        .unwrap();
    let stored_ids: HashSet<i64> = stored.iter().map(|(id, _)| *id).collect();
    for (client_id, id) in &acknowledged {
        assert!(
            stored_ids.contains(id),
            "acknowledged message {client_id} ({id}) is missing"
        );
    }
    let stored_client_ids: Vec<&String> = stored.iter().filter_map(|(_, c)| c.as_ref()).collect();
    let unique: HashSet<&String> = stored_client_ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored_client_ids.len(),
        "a client_id was stored twice"
    );
    for client_id in &attempted {
        assert!(
            unique.contains(client_id),
            "{client_id} was retried until acknowledged but is not stored"
        );
    }
    println!(
        "{} acknowledged before or after the outage, {} stored",
        acknowledged.len(),
        stored.len()
    );
}
