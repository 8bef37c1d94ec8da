//! `bench run` seeds a database, serves the functions' handlers over HTTP in a
//! child process (`bench serve`), loads them with wrk at concurrency 1 and
//! 32, measures the raw-SQL ceiling, cold starts and binary sizes, and writes
//! docs/BENCHMARKS.md with a plot. `./scripts/bench.sh` runs it.

mod ceiling;
mod cpu;
mod delivery;
mod load;
mod report;
mod round_trips;
mod seed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::config::app_config;
use harness::delivery_queue::DELIVERY_QUEUE;
use harness::routing::Gateway;
use harness::runtime_api::{LambdaProcess, Outcome};
use harness::statements::count_statements;
use serde_json::{Value, json};
use shared::config::Config;
use shared::pagination::PageSize;
use shared::store::messages::Walk;
use shared::store::{conversations, messages, users};
use shared::{AppState, db, password, time};
use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;
use tokio::task::JoinHandle;

use crate::load::{Figures, Request};
use crate::report::{ColdStart, Delivery, Report, ScenarioResult};

mod server;
mod watch;

const SECRET: &str = "benchmark-secret-benchmark-secret-0123";
const DATABASE: &str = "messaging_bench";
const PORT: u16 = 18_080;
const CONCURRENCY: u32 = 32;
/// Sends whose frames the delivery measurement times at every listener.
const DELIVERY_SENDS: usize = 200;
/// Connections each member of the delivery measurement's conversation opens.
const ROOM_CONNECTIONS_EACH: usize = 2;
/// Sends with three attachments measured, and as many without.
const ATTACHMENT_ROUNDS: usize = 100;

fn server_url() -> String {
    std::env::var("BENCH_DATABASE_SERVER").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

fn config(pool_size: u32) -> Config {
    let mut config = app_config(std::env::temp_dir().join("bench-requests.log"));
    config.database.url = format!("{}/{DATABASE}", server_url());
    config.database.max_connections = pool_size;
    config.tokens.secret = SECRET.as_bytes().to_vec();
    config.tokens.access_ttl = Duration::from_secs(3600);
    config.login_throttle.max_failures = 1_000_000;
    config
}

async fn pool(size: u32) -> anyhow::Result<MySqlPool> {
    Ok(MySqlPoolOptions::new()
        .max_connections(size)
        .connect(&format!("{}/{DATABASE}", server_url()))
        .await?)
}

fn main() -> anyhow::Result<()> {
    shared::memory::return_large_allocations();
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("serve") => runtime.block_on(serve()),
        Some("run") => runtime
            .block_on(run(Duration::from_secs(number(&args, "--seconds", 5)?), {
                u32::try_from(number(&args, "--runs", 3)?)?
            })),
        _ => bail!("usage: bench run [--seconds N] [--runs N] | bench serve"),
    }
}

/// The value after `flag`, or `default`.
fn number(args: &[String], flag: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == flag) {
        Some(i) => Ok(args
            .get(i + 1)
            .with_context(|| format!("{flag} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

/// Serves the handlers on `BENCH_PORT` (default 18080) over the database
/// `BENCH_DATABASE` (default the benchmark's), for the load runs and for
/// `scripts/fuzz.sh`.
async fn serve() -> anyhow::Result<()> {
    let mut config = config(CONCURRENCY);
    if let Ok(database) = std::env::var("BENCH_DATABASE") {
        config.database.url = format!("{}/{database}", server_url());
    }
    let port = match std::env::var("BENCH_PORT") {
        Ok(port) => port.parse().context("BENCH_PORT")?,
        Err(_) => PORT,
    };
    let mut state = AppState::new(config.clone(), db::pool(&config.database)?);
    // Attachments in the S3-compatible server the tests use.
    if let Some(storage) = &config.storage {
        harness::storage::ensure_bucket().await;
        state = state.with_storage(harness::storage::store(storage));
    }
    // Real-time delivery on, through the delivery queue of the local gateway
    // at this address.
    if let Ok(gateway) = std::env::var("BENCH_GATEWAY") {
        let gateway = gateway.parse().context("BENCH_GATEWAY")?;
        state = state.with_delivery(harness::delivery_queue::delivery_queue(
            gateway,
            DELIVERY_QUEUE,
        ));
    }
    server::serve(state, ([127, 0, 0, 1], port).into()).await
}

/// One scenario: what wrk sends, and the same statements for the ceiling.
struct Scenario {
    name: &'static str,
    request: Request,
}

async fn in_process(gateway: &Gateway, state: &AppState, request: &Request) -> (u16, Value, usize) {
    let mut builder = lambda_http::http::Request::builder()
        .method(request.method)
        .uri(&request.path);
    if let Some(token) = &request.token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = request
        .body
        .clone()
        .map(lambda_http::Body::Text)
        .unwrap_or(lambda_http::Body::Empty);
    let (response, statements) =
        count_statements(gateway.handle(state, builder.body(body).expect("request"))).await;
    let value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), value, statements)
}

/// Sends one after another, in process, into the send conversation: each
/// with three fresh uploads already in storage, and each without; times and
/// statements of the send requests alone.
async fn attachment_sends(
    gateway: &Gateway,
    state: &AppState,
    data: &seed::DataSet,
    token: &str,
) -> anyhow::Result<report::AttachmentSends> {
    harness::storage::ensure_bucket().await;
    let storage = harness::storage::config();
    let state = state
        .clone()
        .with_storage(harness::storage::store(&storage));
    let store = harness::storage::store(&storage);
    let path = format!("/api/conversations/{}/messages", data.send_conversation);
    let send = |body: Value| Request {
        method: "POST",
        path: path.clone(),
        token: Some(token.to_string()),
        body: Some(body.to_string()),
        expect_success: true,
        spread: Vec::new(),
    };
    let mut measured = report::AttachmentSends::default();
    for round in 0..ATTACHMENT_ROUNDS {
        let mut ids = Vec::new();
        for n in 0..3 {
            let form = Request {
                method: "POST",
                path: "/api/uploads".into(),
                token: Some(token.to_string()),
                body: Some(
                    json!({"filename": format!("photo-{round}-{n}.jpg"), "content_type": "image/jpeg", "size": 1024})
                        .to_string(),
                ),
                expect_success: true,
                spread: Vec::new(),
            };
            let (status, form, _) = in_process(gateway, &state, &form).await;
            if status != 201 {
                bail!("an upload form answered {status}: {form}");
            }
            let id = form["upload_id"]
                .as_str()
                .context("an upload id")?
                .to_string();
            store
                .client()
                .put_object()
                .bucket(store.bucket())
                .key(shared::store::uploads::key_of(&id))
                .content_type("image/jpeg")
                .body(vec![7u8; 1024].into())
                .send()
                .await?;
            ids.push(id);
        }
        for (with_files, request) in [
            (
                true,
                send(json!({"body": "Photos from the trip", "attachments": ids})),
            ),
            (false, send(json!({"body": "Photos from the trip"}))),
        ] {
            let started = Instant::now();
            let (status, body, statements) = in_process(gateway, &state, &request).await;
            let ms = started.elapsed().as_secs_f64() * 1_000.0;
            if status != 201 {
                bail!("a send answered {status}: {body}");
            }
            if with_files {
                measured.with_ms.push(ms);
                measured.with_statements = statements;
            } else {
                measured.without_ms.push(ms);
                measured.without_statements = statements;
            }
        }
    }
    Ok(measured)
}

/// Round trips to the database per request of each scenario, counted by a
/// proxy on the wire: after three warm-up requests (statements prepared), one
/// request, on a one-connection production pool as one Lambda instance has.
async fn count_round_trips(scenarios: &[Scenario]) -> anyhow::Result<Vec<u64>> {
    let server = server_url();
    let hostport = server
        .rsplit('@')
        .next()
        .context("BENCH_DATABASE_SERVER host")?
        .trim_end_matches('/');
    let upstream = tokio::net::lookup_host(hostport)
        .await?
        .next()
        .context("database address")?;
    let proxy = round_trips::CountingProxy::start(upstream).await?;
    let mut config = config(1);
    config.database.url = format!(
        "{}@{}/{DATABASE}",
        server
            .rsplit_once('@')
            .map_or("mysql://root", |(user, _)| user),
        proxy.addr
    );
    let state = AppState::new(config.clone(), db::pool(&config.database)?);
    let gateway = Gateway::new();
    let mut counts = Vec::new();
    for scenario in scenarios {
        for _ in 0..3 {
            in_process(&gateway, &state, &scenario.request).await;
        }
        // The pool pings a connection as it takes it back, after the answer:
        // let that land inside the window it belongs to.
        let settle = Duration::from_millis(100);
        tokio::time::sleep(settle).await;
        let before = proxy.commands();
        in_process(&gateway, &state, &scenario.request).await;
        tokio::time::sleep(settle).await;
        counts.push(proxy.commands() - before);
    }
    Ok(counts)
}

/// `bench serve` in a child process, with real-time delivery through the
/// gateway at `gateway` when given.
async fn spawn_server(gateway: Option<SocketAddr>) -> anyhow::Result<tokio::process::Child> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(gateway) = gateway {
        command.env("BENCH_GATEWAY", gateway.to_string());
    }
    let server = command.spawn()?;
    wait_for_server().await?;
    Ok(server)
}

/// Runs `sends` with an instance of its own (state, one-connection pool,
/// delivery-queue client) on a thread and runtime of its own, as a Lambda
/// instance is a process of its own. The gateway, its queue and the
/// listeners run on this process's main runtime; a send made there would
/// wait behind their tasks for every step after its nudge, which the
/// function in the cloud does not.
async fn sender_apart<T, F, Fut>(
    gateway: SocketAddr,
    queue: &'static str,
    sends: F,
) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async move {
                let mut config = config(1);
                config.websocket_url = Some(format!("ws://{gateway}/"));
                let state = AppState::new(config, pool(1).await?)
                    .with_delivery(harness::delivery_queue::delivery_queue(gateway, queue));
                sends(state).await
            })
    })
    .await?
}

/// The answer times of [`DELIVERY_SENDS`] sends of `send`, one after
/// another, from an instance apart ([`sender_apart`]) that nudges `queue`.
async fn answer_times_apart(
    gateway: SocketAddr,
    queue: &'static str,
    send: Request,
) -> anyhow::Result<Vec<f64>> {
    sender_apart(gateway, queue, move |state| async move {
        let router = Gateway::new();
        let (g, s, r) = (&router, &state, &send);
        delivery::answer_times(DELIVERY_SENDS, move || async move {
            let (status, body, _) = in_process(g, s, r).await;
            if status != 201 {
                bail!("a send to the room answered {status}: {body}");
            }
            Ok(())
        })
        .await
    })
    .await
}

/// A ticket URL for `user_id`, from the tickets route.
async fn ticket_url(gateway: &Gateway, state: &AppState, user_id: i64) -> anyhow::Result<String> {
    let request = Request {
        method: "POST",
        path: "/api/realtime/tickets".into(),
        token: Some(state.tokens.issue(user_id, None, time::now())?),
        body: None,
        expect_success: true,
        spread: Vec::new(),
    };
    let (status, body, _) = in_process(gateway, state, &request).await;
    if status != 201 {
        bail!("a ticket answered {status}: {body}");
    }
    body["url"]
        .as_str()
        .map(str::to_string)
        .context("a ticket URL")
}

/// One API Gateway WebSocket event from the committed fixtures, for
/// `connection_id`, with `ticket` in the query string when given.
fn websocket_event(
    root: &Path,
    fixture: &str,
    connection_id: &str,
    ticket: Option<&str>,
) -> anyhow::Result<Value> {
    let path = root.join("tests/fixtures").join(fixture);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut event: Value = serde_json::from_str(&text)?;
    event["requestContext"]["connectionId"] = json!(connection_id);
    match ticket {
        Some(ticket) => {
            event["queryStringParameters"] = json!({ "ticket": ticket });
            event["multiValueQueryStringParameters"] = json!({ "ticket": [ticket] });
        }
        None => {
            if let Some(event) = event.as_object_mut() {
                event.remove("queryStringParameters");
                event.remove("multiValueQueryStringParameters");
            }
        }
    }
    Ok(event)
}

/// The status code the realtime function answers `event` with.
async fn websocket_status(function: &LambdaProcess, event: Value) -> anyhow::Result<u16> {
    match function.api.invoke(event).await {
        Outcome::Response(response) => response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .context("a statusCode"),
        Outcome::Error(error) => bail!("the realtime function failed: {error}"),
    }
}

/// One connection's life at the realtime function: `$connect` with a fresh
/// ticket, a ping, `$disconnect`.
async fn realtime_round(
    root: &Path,
    function: &LambdaProcess,
    pool: &MySqlPool,
    user_id: i64,
    round: usize,
) -> anyhow::Result<()> {
    let ticket =
        shared::realtime::issue_ticket(&mut *pool.acquire().await?, user_id, None, time::now())
            .await?;
    let connection_id = format!("bench-{round}");
    for (fixture, ticket) in [
        ("apigw-websocket-connect.json", Some(ticket.as_str())),
        ("apigw-websocket-message.json", None),
        ("apigw-websocket-disconnect.json", None),
    ] {
        let event = websocket_event(root, fixture, &connection_id, ticket)?;
        let status = websocket_status(function, event).await?;
        if status != 200 {
            bail!("realtime: {fixture} answered {status}");
        }
    }
    Ok(())
}

async fn wait_for_server() -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", PORT))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the benchmark server did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn peak_rss_kib_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Timed runs of the rate limit's counting statement.
const RATE_LIMIT_ROUNDS: usize = 2_000;

async fn run(duration: Duration, runs: u32) -> anyhow::Result<()> {
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let admin = MySqlPoolOptions::new()
        .max_connections(1)
        .connect(&server_url())
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE}"
    )))
    .execute(&admin)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4"
    )))
    .execute(&admin)
    .await?;
    let pool = pool(CONCURRENCY).await?;
    db::migrate(&pool).await?;
    eprintln!("seeding...");
    let started = Instant::now();
    let data = seed::seed(&pool).await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let state = AppState::new(config(CONCURRENCY), pool.clone());
    let gateway = Gateway::new();
    let reader_token = state.tokens.issue(data.reader.id, None, time::now())?;
    let pager_token = state.tokens.issue(data.pager.id, None, time::now())?;
    let busy_token = state.tokens.issue(data.busy.id, None, time::now())?;
    let searcher_token = state.tokens.issue(data.searcher.id, None, time::now())?;
    let (big_version,): (i64,) =
        sqlx::query_as("SELECT last_version FROM conversations WHERE id = ?")
            .bind(data.big_conversation)
            .fetch_one(&pool)
            .await?;

    // The cursor 100,000 messages deep, reached by following cursors.
    let big = data.big_conversation;
    let mut cursor = String::new();
    for _ in 0..1_000 {
        let path = format!("/api/conversations/{big}/messages?page_size=100{cursor}");
        let request = Request {
            method: "GET",
            path,
            token: Some(pager_token.clone()),
            body: None,
            expect_success: true,
            spread: Vec::new(),
        };
        let (_, page, _) = in_process(&gateway, &state, &request).await;
        let next = page["next_cursor"]
            .as_str()
            .context("a next cursor while paging deep")?;
        cursor = format!("&cursor={next}");
    }
    let deep_cursor = cursor.trim_start_matches("&cursor=").to_string();

    let login_json = json!({"email": data.login_email, "password": seed::PASSWORD});
    let login_body = login_json.to_string();
    let scenarios = vec![
        Scenario {
            name: "login",
            request: Request {
                method: "POST",
                path: "/api/auth/login".into(),
                token: None,
                body: Some(login_body),
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "list my conversations",
            request: Request {
                method: "GET",
                path: "/api/conversations".into(),
                token: Some(reader_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "send a message",
            request: Request {
                method: "POST",
                path: format!("/api/conversations/{}/messages", data.send_conversation),
                token: Some(pager_token.clone()),
                body: Some(json!({"body": "A benchmark message of ordinary length."}).to_string()),
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "send, 32 conversations",
            request: Request {
                method: "POST",
                path: format!(
                    "/api/conversations/{}/messages",
                    data.spread_conversations[0]
                ),
                token: Some(pager_token.clone()),
                body: Some(json!({"body": "A benchmark message of ordinary length."}).to_string()),
                expect_success: true,
                spread: data
                    .spread_conversations
                    .iter()
                    .map(|id| format!("/api/conversations/{id}/messages"))
                    .collect(),
            },
        },
        Scenario {
            name: "list messages, page 1 of 100,020",
            request: Request {
                method: "GET",
                path: format!("/api/conversations/{big}/messages"),
                token: Some(pager_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "list messages, 100,000 deep",
            request: Request {
                method: "GET",
                path: format!("/api/conversations/{big}/messages?cursor={deep_cursor}"),
                token: Some(pager_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "list messages, page_size=100",
            request: Request {
                method: "GET",
                path: format!("/api/conversations/{big}/messages?page_size=100"),
                token: Some(pager_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "poll since=, nothing new",
            request: Request {
                method: "GET",
                path: format!("/api/conversations/{big}/messages?since={big_version}"),
                token: Some(pager_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "list conversations, user in 1,000",
            request: Request {
                method: "GET",
                path: "/api/conversations".into(),
                token: Some(busy_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "unread total, user in 1,000",
            request: Request {
                method: "GET",
                path: "/api/conversations/unread".into(),
                token: Some(busy_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "search, a rare word",
            request: Request {
                method: "GET",
                path: format!("/api/messages/search?q={}", seed::RARE_WORD),
                token: Some(searcher_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "search, a common word",
            request: Request {
                method: "GET",
                path: format!("/api/messages/search?q={}", seed::COMMON_WORD),
                token: Some(searcher_token.clone()),
                body: None,
                expect_success: true,
                spread: Vec::new(),
            },
        },
        Scenario {
            name: "invalid token → 401",
            request: Request {
                method: "GET",
                path: "/api/auth/me".into(),
                token: Some("not.a.token".into()),
                body: None,
                expect_success: false,
                spread: Vec::new(),
            },
        },
    ];

    // Statements per request, and a check that each scenario answers as meant.
    let mut statements = Vec::new();
    for scenario in &scenarios {
        let (status, body, count) = in_process(&gateway, &state, &scenario.request).await;
        let ok = if scenario.request.expect_success {
            (200..300).contains(&status)
        } else {
            status == 401
        };
        if !ok {
            bail!("{} answered {status}: {body}", scenario.name);
        }
        let full_page = body["results"].as_array().map_or(0, Vec::len) == 20;
        if (scenario.name.contains("deep") || scenario.name.starts_with("search")) && !full_page {
            bail!("{} is not a full page: {body}", scenario.name);
        }
        statements.push(count);
    }

    let round_trips = count_round_trips(&scenarios).await?;
    for (scenario, count) in scenarios.iter().zip(&round_trips) {
        eprintln!("round trips: {}: {count}", scenario.name);
    }

    let mut argon2 = Vec::new();
    let hash = password::hash(seed::PASSWORD.into()).await?;
    for _ in 0..21 {
        let started = Instant::now();
        password::verify(seed::PASSWORD.into(), Some(hash.clone())).await?;
        argon2.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    let argon2_ms = median(&mut argon2);

    eprintln!("starting the HTTP server over the handlers...");
    let mut server = spawn_server(None).await?;
    let server_pid = server.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{PORT}");
    let scratch = std::env::temp_dir().join("messaging-bench");
    std::fs::create_dir_all(&scratch)?;

    let mut results = Vec::new();
    for ((scenario, statements), round_trips) in scenarios.iter().zip(&statements).zip(&round_trips)
    {
        let mut figures: Vec<Figures> = Vec::new();
        for connections in [1, CONCURRENCY] {
            eprintln!("wrk: {} at c={connections}", scenario.name);
            let measured = load::median_run(
                runs,
                &base,
                &scenario.request,
                connections,
                duration,
                &scratch,
            )?;
            eprintln!("      {measured:?}");
            figures.push(measured);
        }
        results.push(ScenarioResult {
            name: scenario.name,
            c1: figures[0],
            c32: figures[1],
            statements: *statements,
            round_trips: *round_trips,
            ceiling: None,
        });
    }
    let peak_rss_kib = peak_rss_kib_of(server_pid)?;
    server.kill().await?;

    let function_env = [
        ("DATABASE_URL", format!("{}/{DATABASE}", server_url())),
        ("JWT_SECRET", SECRET.to_string()),
        (
            "REQUEST_LOG_FILE",
            scratch.join("functions.log").display().to_string(),
        ),
    ];
    let realtime = delivery::Realtime::start(&root.join("target/release"), &function_env)
        .await
        .context("the realtime and fan-out functions and the local gateway")?;
    let mut realtime_config = config(CONCURRENCY);
    realtime_config.websocket_url = Some(realtime.websocket_url());
    let realtime_state =
        AppState::new(realtime_config, pool.clone()).with_delivery(realtime.delivery_queue());
    let fanout_pid = realtime.fanout.pid().context("fan-out pid")?;

    // The spread send again with delivery on: first with nobody connected,
    // then with both listeners of every conversation connected.
    eprintln!("fan-out: the spread send with real-time delivery on...");
    let spread_send = &scenarios
        .iter()
        .find(|s| s.name == "send, 32 conversations")
        .context("the spread send scenario")?
        .request;
    let mut server = spawn_server(Some(realtime.gateway)).await?;
    // wrk off the runtime's threads: the gateway and the listeners run on them.
    let load_off_runtime = |request: Request| {
        let (base, scratch) = (base.clone(), scratch.clone());
        tokio::task::spawn_blocking(move || {
            (0..runs.max(1))
                .map(|_| load::run(&base, &request, CONCURRENCY, duration, &scratch))
                .collect::<anyhow::Result<Vec<Figures>>>()
        })
    };
    let answered = |all: &[Figures]| -> u64 { all.iter().map(|f| f.requests - f.errors).sum() };
    let median_of = |mut all: Vec<Figures>| {
        all.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        all[all.len() / 2]
    };
    let fan_out_server = server.id().context("server pid")?;
    let reading = cpu::Reading::take(fan_out_server, fanout_pid)?;
    let all = load_off_runtime(spread_send.clone()).await??;
    let cpu_without_listeners = reading.since()?;
    let sends_without_listeners = answered(&all);
    let without_listeners = median_of(all);
    eprintln!("      nobody connected: {without_listeners:?}");
    let frames = Arc::new(AtomicU64::new(0));
    let mut counting = Vec::new();
    for listener in &data.spread_listeners {
        let url = ticket_url(&gateway, &realtime_state, listener.id).await?;
        counting.push(delivery::count_frames(&url, Arc::clone(&frames)).await?);
    }
    let reading = cpu::Reading::take(fan_out_server, fanout_pid)?;
    let all = load_off_runtime(spread_send.clone()).await??;
    let cpu_with_listeners = reading.since()?;
    let sends_with_listeners = answered(&all);
    let with_listeners = median_of(all);
    eprintln!("      two listeners each: {with_listeners:?}");
    // Frames of the last answered sends may still be on their way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frames_delivered = frames.load(Ordering::Relaxed);
    server.kill().await?;
    counting.iter().for_each(JoinHandle::abort);
    delivery::all_disconnected(&pool).await?;

    // One sender in a conversation of 1,000 members, one send at a time:
    // first with nobody connected, then with two connections per member.
    let room_send = Request {
        method: "POST",
        path: format!("/api/conversations/{}/messages", data.room),
        token: Some(pager_token.clone()),
        body: Some(json!({"body": "A message for a hundred listeners."}).to_string()),
        expect_success: true,
        spread: Vec::new(),
    };
    eprintln!(
        "a conversation of {} members, nobody connected...",
        data.room_listeners.len() + 1
    );
    let quiet_answers =
        answer_times_apart(realtime.gateway, DELIVERY_QUEUE, room_send.clone()).await?;
    eprintln!(
        "delivery to {} connections...",
        data.room_listeners.len() * ROOM_CONNECTIONS_EACH
    );
    let (frames_in, mut frames_out) = tokio::sync::mpsc::unbounded_channel();
    let out_of_order = Arc::new(AtomicU64::new(0));
    let mut listening = Vec::new();
    for listener in &data.room_listeners {
        for _ in 0..ROOM_CONNECTIONS_EACH {
            let url = ticket_url(&gateway, &realtime_state, listener.id).await?;
            listening
                .push(delivery::listen(&url, frames_in.clone(), Arc::clone(&out_of_order)).await?);
        }
    }
    drop(frames_in);
    let connections = data.room_listeners.len() * ROOM_CONNECTIONS_EACH;
    let room = room_send.clone();
    let quiet_room = Request {
        path: format!("/api/conversations/{}/messages", data.quiet_room),
        ..room_send.clone()
    };
    let mut latency = sender_apart(realtime.gateway, DELIVERY_QUEUE, move |state| async move {
        let gateway = Gateway::new();
        let (g, s, r, q) = (&gateway, &state, &room, &quiet_room);
        delivery::measure(
            DELIVERY_SENDS,
            connections,
            &mut frames_out,
            move || async move {
                let (status, body, _) = in_process(g, s, r).await;
                if status != 201 {
                    bail!("a send to the listeners answered {status}: {body}");
                }
                body["id"].as_i64().context("the message id")
            },
            move || async move {
                let (status, body, _) = in_process(g, s, q).await;
                if status != 201 {
                    bail!("a send to the quiet room answered {status}: {body}");
                }
                Ok(())
            },
        )
        .await
    })
    .await?;
    // The same sends with everyone still connected, nudging a queue nothing
    // takes from: what is left of the difference is the nudge itself.
    delivery::create_held_queue(realtime.gateway).await?;
    latency.held_answer_ms =
        answer_times_apart(realtime.gateway, delivery::HELD_QUEUE, room_send).await?;
    listening.iter().for_each(JoinHandle::abort);
    latency.quiet_answer_ms = quiet_answers;
    latency.out_of_order = out_of_order.load(Ordering::Relaxed);
    delivery::all_disconnected(&pool).await?;
    realtime.stop().await;
    let delivery = Delivery {
        latency,
        without_listeners,
        with_listeners,
        listeners_per_conversation: 2,
        frames_delivered,
        cpu_without_listeners,
        cpu_with_listeners,
        sends_without_listeners,
        sends_with_listeners,
    };
    // Printed at once: the report is written only at the end of the run.
    eprintln!("      {delivery:?}");

    // One connection per operation, as a request has.
    eprintln!("raw-SQL ceiling...");
    let ceiling_time = Duration::from_secs(5);
    let (reader, pager) = (data.reader.id, data.pager.id);
    let page = PageSize::parse(None)?.probe();
    let latest =
        chrono::DateTime::from_timestamp_micros(253_402_300_799_999_999).context("bound")?;
    let deep_bound = {
        let rows = messages::page(
            &mut *pool.acquire().await?,
            big,
            pager,
            i64::MAX,
            Walk::Older,
            100_000,
        )
        .await?
        .context("the pager's page")?;
        rows.last().context("deep bound")?.seq
    };
    for result in &mut results {
        let p = pool.clone();
        let ceiling = match result.name {
            "list my conversations" => Some(
                ceiling::measure(CONCURRENCY, ceiling_time, runs, move || {
                    let p = p.clone();
                    async move {
                        let mut c = p.acquire().await?;
                        users::find_signed_in(&mut c, reader, None).await?;
                        let rows = conversations::page_for_member(
                            &mut c,
                            reader,
                            (latest, i64::MAX),
                            page,
                        )
                        .await?;
                        conversations::with_participants(&mut c, rows).await?;
                        Ok(())
                    }
                })
                .await?,
            ),
            "send a message" => {
                let sender = users::find_signed_in(&mut *pool.acquire().await?, pager, None)
                    .await?
                    .context("pager")?;
                let body = shared::domain::MessageBody::parse(
                    "A benchmark message of ordinary length.".into(),
                )
                .map_err(anyhow::Error::msg)?;
                let conversation = data.send_conversation;
                Some(
                    ceiling::measure(CONCURRENCY, ceiling_time, runs, move || {
                        let (p, sender, body) = (p.clone(), sender.clone(), body.clone());
                        async move {
                            let mut c = p.acquire().await?;
                            users::find_signed_in(&mut c, sender.id, None).await?;
                            let now = time::now();
                            messages::send(
                                &mut c,
                                conversation,
                                &sender,
                                messages::Draft::new(&body),
                                now,
                            )
                            .await?;
                            Ok(())
                        }
                    })
                    .await?,
                )
            }
            "send, 32 conversations" => {
                let sender = users::find_signed_in(&mut *pool.acquire().await?, pager, None)
                    .await?
                    .context("pager")?;
                let body = shared::domain::MessageBody::parse(
                    "A benchmark message of ordinary length.".into(),
                )
                .map_err(anyhow::Error::msg)?;
                let spread = Arc::new(data.spread_conversations.clone());
                let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                Some(
                    ceiling::measure(CONCURRENCY, ceiling_time, runs, move || {
                        let (p, sender, body) = (p.clone(), sender.clone(), body.clone());
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let conversation = spread[n % spread.len()];
                        async move {
                            let mut c = p.acquire().await?;
                            users::find_signed_in(&mut c, sender.id, None).await?;
                            let now = time::now();
                            messages::send(
                                &mut c,
                                conversation,
                                &sender,
                                messages::Draft::new(&body),
                                now,
                            )
                            .await?;
                            Ok(())
                        }
                    })
                    .await?,
                )
            }
            name if name.starts_with("list messages, page 1") || name.contains("deep") => {
                let bound = if name.contains("deep") {
                    deep_bound
                } else {
                    i64::MAX
                };
                Some(
                    ceiling::measure(CONCURRENCY, ceiling_time, runs, move || {
                        let p = p.clone();
                        async move {
                            let mut c = p.acquire().await?;
                            users::find_signed_in(&mut c, pager, None).await?;
                            messages::page(&mut c, big, pager, bound, Walk::Older, page).await?;
                            Ok(())
                        }
                    })
                    .await?,
                )
            }
            _ => None,
        };
        result.ceiling = ceiling;
    }

    eprintln!("cold starts...");
    let mut cold_starts = Vec::new();
    for name in ["auth", "conversations", "messages", "realtime"] {
        let binary = root.join("target/release").join(name);
        let size = std::fs::metadata(&binary)
            .with_context(|| format!("{} (build with --release)", binary.display()))?
            .len();
        let env = [
            ("DATABASE_URL", format!("{}/{DATABASE}", server_url())),
            ("JWT_SECRET", SECRET.to_string()),
            (
                "REQUEST_LOG_FILE",
                scratch.join("cold.log").display().to_string(),
            ),
            // The rounds below send and take tickets far faster than a user.
            ("SEND_RATE_LIMIT", "1000000".to_string()),
            ("TICKET_RATE_LIMIT", "1000000".to_string()),
            // Attachments configured, as deployed: the start builds the
            // storage client too.
            ("ATTACHMENT_BUCKET", harness::storage::BUCKET.to_string()),
            ("ATTACHMENT_ENDPOINT", harness::storage::endpoint()),
            ("AWS_REGION", harness::storage::REGION.to_string()),
            (
                "AWS_ACCESS_KEY_ID",
                harness::storage::ACCESS_KEY.to_string(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                harness::storage::SECRET_KEY.to_string(),
            ),
        ];
        let path = match name {
            "auth" => "/api/auth/me".to_string(),
            "conversations" => "/api/conversations".to_string(),
            _ => format!("/api/conversations/{big}/messages"),
        };
        let mut samples = Vec::new();
        let mut peak_rss_kib = 0;
        for start in 0..11 {
            let started = Instant::now();
            let function = LambdaProcess::spawn_binary(&binary, name, &env).await;
            let status = if name == "realtime" {
                // No ticket: refused, after taking the one connection every
                // WebSocket event takes.
                let event = websocket_event(&root, "apigw-websocket-connect.json", "cold", None)?;
                websocket_status(&function, event).await?
            } else {
                // No token: answered without touching the database.
                function.request("GET", &path, None, None).await.0
            };
            samples.push(started.elapsed().as_secs_f64() * 1_000.0);
            if status != 401 {
                bail!("{name} answered {status} on its first invocation");
            }
            if start == 0 {
                // One instance serves one request at a time: its own scenarios, in turn.
                for round in 0..100 {
                    if name == "realtime" {
                        realtime_round(&root, &function, &pool, data.pager.id, round).await?;
                        continue;
                    }
                    let work: Vec<(&str, String, Option<&str>, Option<Value>)> = match name {
                        "auth" if round % 5 == 0 => vec![(
                            "POST",
                            "/api/auth/login".into(),
                            None,
                            Some(login_json.clone()),
                        )],
                        "auth" => vec![(
                            "GET",
                            "/api/auth/me".into(),
                            Some(reader_token.as_str()),
                            None,
                        )],
                        "conversations" => vec![(
                            "GET",
                            "/api/conversations".into(),
                            Some(reader_token.as_str()),
                            None,
                        )],
                        _ => vec![
                            (
                                "GET",
                                format!("/api/conversations/{big}/messages"),
                                Some(pager_token.as_str()),
                                None,
                            ),
                            (
                                "GET",
                                format!("/api/conversations/{big}/messages?cursor={deep_cursor}"),
                                Some(pager_token.as_str()),
                                None,
                            ),
                            (
                                "POST",
                                format!("/api/conversations/{}/messages", data.send_conversation),
                                Some(pager_token.as_str()),
                                Some(json!({"body": "from one instance"})),
                            ),
                        ],
                    };
                    for (method, path, token, body) in work {
                        let (status, _, _) = function.request(method, &path, token, body).await;
                        if !(200..300).contains(&status) {
                            bail!("{name}: {method} {path} answered {status}");
                        }
                    }
                }
                peak_rss_kib = peak_rss_kib_of(function.pid().context("pid")?)?;
            }
            function.stop().await;
        }
        let median_ms = median(&mut samples);
        cold_starts.push(ColdStart {
            name,
            median_ms,
            min_ms: samples[0],
            max_ms: samples[samples.len() - 1],
            size_bytes: size,
            peak_rss_kib,
        });
    }

    eprintln!("the cargo lambda watch path...");
    let page_one = scenarios
        .iter()
        .find(|s| s.name.starts_with("list messages, page 1"))
        .context("the page 1 scenario")?;
    let watch_env = [
        ("DATABASE_URL", format!("{}/{DATABASE}", server_url())),
        ("JWT_SECRET", SECRET.to_string()),
        (
            "REQUEST_LOG_FILE",
            scratch.join("watch.log").display().to_string(),
        ),
    ];
    let watch = watch::measure(
        &root,
        &watch_env,
        &page_one.request,
        duration,
        runs,
        &scratch,
    )
    .await?;

    // What the rate limit adds to a change: its one counting statement,
    // timed alone on one connection, one after another.
    eprintln!("rate-limit bookkeeping...");
    let mut rate_limit_ms = Vec::with_capacity(RATE_LIMIT_ROUNDS);
    {
        let mut conn = pool.acquire().await?;
        for _ in 0..RATE_LIMIT_ROUNDS {
            let started = Instant::now();
            shared::store::rate_windows::reserve(
                &mut conn,
                data.pager.id,
                "changes",
                time::now(),
                chrono::TimeDelta::seconds(10),
            )
            .await?;
            rate_limit_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }

    eprintln!("sends with three attachments...");
    let attachments = attachment_sends(&gateway, &state, &data, &pager_token).await?;

    let report = Report {
        attachments,
        duration,
        runs,
        load_before,
        argon2_ms,
        peak_rss_kib,
        results,
        cold_starts,
        watch,
        delivery,
        rate_limit_ms,
    };
    let markdown = report.markdown(&root)?;
    std::fs::write(root.join("docs/BENCHMARKS.md"), &markdown)?;
    std::fs::write(root.join("docs/benchmarks.svg"), report.svg())?;
    println!("{markdown}");
    Ok(())
}
