//! Cold starts, sizes and peak memory of the functions' release binaries:
//! each started fresh under the Runtime API emulator and timed to its first
//! answered invocation, and its first instance then kept serving its own
//! work one request at a time, as a Lambda instance does.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use harness::delivery_queue::DELIVERY_QUEUE;
use harness::runtime_api::{LambdaProcess, Outcome};
use serde_json::{Value, json};
use shared::time;
use sqlx::MySqlPool;

use crate::scenario::Inputs;
use crate::seed::DataSet;
use crate::settings;
use crate::stats::median;

/// Fresh starts timed per function.
const STARTS: usize = 11;
/// Rounds of its own work the first instance of each function serves
/// before its peak memory is read.
const ROUNDS: usize = 100;

pub struct ColdStart {
    pub name: &'static str,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub size_bytes: u64,
    /// Peak RSS of one instance after serving its own work (see
    /// [`Function::rounds`]).
    pub peak_rss_kib: u64,
}

/// The function binaries, each with its first invocation and its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Auth,
    Conversations,
    Messages,
    Realtime,
    Fanout,
}

impl Function {
    const ALL: [Function; 5] = [
        Function::Auth,
        Function::Conversations,
        Function::Messages,
        Function::Realtime,
        Function::Fanout,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Auth => "auth",
            Function::Conversations => "conversations",
            Function::Messages => "messages",
            Function::Realtime => "realtime",
            Function::Fanout => "fanout",
        }
    }

    /// Whether its first instance serves [`ROUNDS`] rounds here; the
    /// fan-out function's work needs the real-time stack, so its peak is
    /// read from the instance that delivered the real-time measurements.
    fn rounds(self) -> bool {
        self != Function::Fanout
    }
}

/// Every function's figures; the fan-out function's peak RSS is the one
/// its instance reached in the real-time measurements.
pub async fn measure(
    root: &Path,
    scratch: &Path,
    pool: &MySqlPool,
    data: &DataSet,
    inputs: &Inputs,
    fanout_peak_rss_kib: u64,
) -> anyhow::Result<Vec<ColdStart>> {
    let mut cold_starts = Vec::new();
    for function in Function::ALL {
        let name = function.name();
        let binary = root.join("target/release").join(name);
        let size = std::fs::metadata(&binary)
            .with_context(|| format!("{} (build with --release)", binary.display()))?
            .len();
        let env = environment(function, scratch);
        let mut samples = Vec::new();
        let mut peak_rss = None;
        for start in 0..STARTS {
            let started = Instant::now();
            let process = LambdaProcess::spawn_binary(&binary, name, &env).await;
            first_invocation(function, &process, root, inputs).await?;
            samples.push(started.elapsed().as_secs_f64() * 1_000.0);
            if start == 0 && function.rounds() {
                for round in 0..ROUNDS {
                    serve_round(function, &process, root, pool, data, inputs, round).await?;
                }
                peak_rss = Some(peak_rss_kib(process.pid().context("pid")?)?);
            }
            process.stop().await;
        }
        let median_ms = median(&mut samples);
        cold_starts.push(ColdStart {
            name,
            median_ms,
            min_ms: samples[0],
            max_ms: samples[samples.len() - 1],
            size_bytes: size,
            peak_rss_kib: peak_rss.unwrap_or(fanout_peak_rss_kib),
        });
    }
    Ok(cold_starts)
}

/// The environment a function starts with, configured as deployed.
fn environment(function: Function, scratch: &Path) -> Vec<(&'static str, String)> {
    let mut env = settings::function_env(scratch, "cold.log");
    env.extend([
        // The rounds send and take tickets far faster than a user.
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
    ]);
    if function == Function::Fanout {
        // The Management API and the delivery queue configured, as
        // deployed, so the start builds their clients; nothing listens
        // there, and an empty batch reaches neither.
        let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        env.extend([
            ("WEBSOCKET_MANAGEMENT_URL", format!("http://{nowhere}")),
            (
                "DELIVERY_QUEUE_URL",
                local_gateway::queue_url(nowhere, DELIVERY_QUEUE),
            ),
            ("DELIVERY_QUEUE_ENDPOINT", format!("http://{nowhere}")),
        ]);
    }
    env
}

/// The first invocation, answered without the database where the function
/// can: the HTTP functions get a request without a token; the realtime
/// function a `$connect` without a ticket, refused after it takes the one
/// connection every WebSocket event takes; the fan-out function an empty
/// batch.
async fn first_invocation(
    function: Function,
    process: &LambdaProcess,
    root: &Path,
    inputs: &Inputs,
) -> anyhow::Result<()> {
    let name = function.name();
    let status = match function {
        Function::Auth => process.request("GET", "/api/auth/me", None, None).await.0,
        Function::Conversations => {
            process
                .request("GET", "/api/conversations", None, None)
                .await
                .0
        }
        Function::Messages => {
            let path = format!("/api/conversations/{}/messages", inputs.big_conversation);
            process.request("GET", &path, None, None).await.0
        }
        Function::Realtime => {
            let event = websocket_event(root, "apigw-websocket-connect.json", "cold", None)?;
            websocket_status(process, event).await?
        }
        Function::Fanout => {
            return match process.api.invoke(json!({ "Records": [] })).await {
                Outcome::Response(answer)
                    if answer["batchItemFailures"]
                        .as_array()
                        .is_some_and(Vec::is_empty) =>
                {
                    Ok(())
                }
                Outcome::Response(answer) => {
                    bail!("{name} answered {answer} to an empty batch on its first invocation")
                }
                Outcome::Error(error) => bail!("{name} failed on its first invocation: {error}"),
            };
        }
    };
    if status != 401 {
        bail!("{name} answered {status} on its first invocation");
    }
    Ok(())
}

/// One round of a function's own work (auth: a login every fifth round,
/// `me` otherwise; conversations: the list; messages: page 1, the deep page
/// and a send; realtime: `$connect` with a fresh ticket, a ping and
/// `$disconnect`).
async fn serve_round(
    function: Function,
    process: &LambdaProcess,
    root: &Path,
    pool: &MySqlPool,
    data: &DataSet,
    inputs: &Inputs,
    round: usize,
) -> anyhow::Result<()> {
    let big = inputs.big_conversation;
    let (reader, pager) = (inputs.reader_token.as_str(), inputs.pager_token.as_str());
    let work: Vec<(&str, String, Option<&str>, Option<Value>)> = match function {
        Function::Auth if round.is_multiple_of(5) => vec![(
            "POST",
            "/api/auth/login".into(),
            None,
            Some(inputs.login.clone()),
        )],
        Function::Auth => vec![("GET", "/api/auth/me".into(), Some(reader), None)],
        Function::Conversations => vec![("GET", "/api/conversations".into(), Some(reader), None)],
        Function::Messages => vec![
            (
                "GET",
                format!("/api/conversations/{big}/messages"),
                Some(pager),
                None,
            ),
            (
                "GET",
                format!(
                    "/api/conversations/{big}/messages?cursor={}",
                    inputs.deep_cursor
                ),
                Some(pager),
                None,
            ),
            (
                "POST",
                format!("/api/conversations/{}/messages", inputs.send_conversation),
                Some(pager),
                Some(json!({"body": "from one instance"})),
            ),
        ],
        Function::Realtime => {
            return realtime_round(root, process, pool, data.pager.id, round).await;
        }
        Function::Fanout => Vec::new(),
    };
    for (method, path, token, body) in work {
        let (status, _, _) = process.request(method, &path, token, body).await;
        if !(200..300).contains(&status) {
            bail!("{}: {method} {path} answered {status}", function.name());
        }
    }
    Ok(())
}

/// The peak resident memory (VmHWM) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")
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
