//! The real-time delivery measurements, through the local real-time stack:
//! the spread send under load without and with delivery (nobody listening,
//! then two listeners in every conversation, and the backlog of frames after
//! the load), and one sender's sends to a conversation of 1,000 members with
//! two connections each (the time to the last frame, and what listening
//! costs the send).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::delivery_queue::{DELIVERY_QUEUE, delivery_queue};
use harness::routing::Gateway;
use serde_json::json;
use shared::{AppState, time};
use sqlx::MySqlPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cold_start::peak_rss_kib;
use crate::listeners::{self, FRAME_WAIT};
use crate::load::{self, Figures, Request};
use crate::realtime_stack::{self, Realtime};
use crate::scenario::{Inputs, Scenario};
use crate::seed::DataSet;
use crate::settings::{self, CONCURRENCY};
use crate::{cpu, database, in_process, server};

/// Sends whose frames the room measurement times at every listener.
const ROOM_SENDS: usize = 500;
/// Connections each member of the room opens.
const ROOM_CONNECTIONS_EACH: usize = 2;
/// The backlog after the load counts as drained once no frame has come for
/// this long...
const DRAIN_QUIET: Duration = Duration::from_secs(5);
/// ...and is waited for no longer than this after the load stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Real-time delivery through the local WebSocket gateway.
#[derive(Debug)]
pub struct Delivery {
    /// One send at a time into a conversation of 1,000 members with two
    /// connections each.
    pub latency: Latency,
    pub under_load: UnderLoad,
    /// Peak RSS of the fan-out function's instance after it delivered every
    /// frame of both measurements.
    pub fanout_peak_rss_kib: u64,
}

/// The spread send at c=32 through the HTTP server, in rounds of three
/// runs: without real-time delivery, with it and nobody connected, and with
/// every listener of every conversation connected (its backlog drained
/// before the next round), so that the three meet the same machine.
#[derive(Debug)]
pub struct UnderLoad {
    pub without_delivery: Runs,
    pub without_listeners: Runs,
    pub with_listeners: Runs,
    pub listeners_per_conversation: u64,
    /// The fan-out function's CPU seconds in the runs with listeners and
    /// the drains after them.
    pub fanout_cpu_through_drain: f64,
    /// The frames the listeners received in the runs with listeners.
    pub drain: Drain,
}

/// The runs of one kind.
#[derive(Debug, Default)]
pub struct Runs {
    /// Sends answered over all runs.
    pub sends: u64,
    /// Where the CPU time went, over all runs.
    pub cpu: cpu::Split,
    all: Vec<Figures>,
}

impl Runs {
    fn add(&mut self, figures: Figures, cpu: cpu::Split) {
        self.sends += figures.requests - figures.errors;
        self.cpu += cpu;
        self.all.push(figures);
    }

    /// The run with the median requests per second.
    pub fn median(&self) -> Figures {
        let mut all = self.all.clone();
        all.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
        all.get(all.len() / 2).copied().unwrap_or_default()
    }
}

/// Frames counted after the load stopped, until they stopped coming.
#[derive(Clone, Copy, Debug)]
pub struct Drain {
    pub frames: u64,
    /// Each answered send's event at every listener of its conversation.
    pub expected: u64,
    /// From the end of the load to the last frame counted (to 10 ms).
    pub last_frame_after: Duration,
    /// Whether frames were still coming when the wait's limit ended it.
    pub cut_off: bool,
}

impl Drain {
    /// Two drains as one: their frames, and the longer wait.
    fn and(self, other: Drain) -> Drain {
        Drain {
            frames: self.frames + other.frames,
            expected: self.expected + other.expected,
            last_frame_after: self.last_frame_after.max(other.last_frame_after),
            cut_off: self.cut_off || other.cut_off,
        }
    }
}

/// Both measurements, with the real-time stack started from the release
/// binaries under `root` and stopped again.
pub async fn measure(
    root: &Path,
    scratch: &Path,
    pool: &MySqlPool,
    data: &DataSet,
    inputs: &Inputs,
    duration: Duration,
    runs: u32,
) -> anyhow::Result<Delivery> {
    let function_env = settings::function_env(scratch, "functions.log");
    let realtime = Realtime::start(&root.join("target/release"), &function_env)
        .await
        .context("the realtime and fan-out functions and the local gateway")?;
    let mut config = settings::config(CONCURRENCY);
    config.websocket_url = Some(realtime.websocket_url());
    let stack = Stack {
        state: AppState::new(config, pool.clone()).with_delivery(realtime.delivery_queue()),
        gateway: Gateway::new(),
        realtime,
    };
    let under_load = under_load(&stack, pool, data, inputs, scratch, duration, runs).await?;
    let latency = to_the_room(&stack, pool, data, inputs).await?;
    let fanout_peak_rss_kib = peak_rss_kib(stack.realtime.fanout_pid()?)?;
    stack.realtime.stop().await;
    Ok(Delivery {
        latency,
        under_load,
        fanout_peak_rss_kib,
    })
}

/// The running stack, and an application over it that hands out tickets.
struct Stack {
    realtime: Realtime,
    state: AppState,
    gateway: Gateway,
}

impl Stack {
    /// A ticket URL for `user_id`, from the tickets route.
    async fn ticket_url(&self, user_id: i64) -> anyhow::Result<String> {
        let token = self.state.tokens.issue(user_id, None, time::now())?;
        let request = Request {
            method: "POST",
            ..Request::get("/api/realtime/tickets", Some(&token))
        };
        let (status, body, _) = in_process::call(&self.gateway, &self.state, &request).await;
        if status != 201 {
            bail!("a ticket answered {status}: {body}");
        }
        body["url"]
            .as_str()
            .map(str::to_string)
            .context("a ticket URL")
    }
}

/// The spread send, `runs` rounds of three runs each on a fresh server:
/// without delivery, with delivery and nobody connected, and with both
/// listeners of every conversation connected, followed by the wait for the
/// frames still on their way and the listeners' disconnection.
async fn under_load(
    stack: &Stack,
    pool: &MySqlPool,
    data: &DataSet,
    inputs: &Inputs,
    scratch: &Path,
    duration: Duration,
    runs: u32,
) -> anyhow::Result<UnderLoad> {
    eprintln!("fan-out: the spread send without and with real-time delivery...");
    let spread_send = Scenario::SpreadSend.request(inputs);
    let fanout_pid = stack.realtime.fanout_pid()?;
    let gateway = stack.realtime.gateway;
    let listeners_per_conversation =
        (data.spread_listeners.len() / data.spread_conversations.len()) as u64;
    let (mut without_delivery, mut without_listeners, mut with_listeners) =
        (Runs::default(), Runs::default(), Runs::default());
    let mut drain: Option<Drain> = None;
    let mut fanout_cpu_through_drain = 0.0;
    for _ in 0..runs.max(1) {
        let (figures, cpu) = one_run(None, fanout_pid, &spread_send, duration, scratch).await?;
        eprintln!("      without delivery: {figures:?}");
        without_delivery.add(figures, cpu);
        let (figures, cpu) =
            one_run(Some(gateway), fanout_pid, &spread_send, duration, scratch).await?;
        eprintln!("      nobody connected: {figures:?}");
        without_listeners.add(figures, cpu);

        let frames = Arc::new(AtomicU64::new(0));
        let mut counting = Vec::new();
        for listener in &data.spread_listeners {
            let url = stack.ticket_url(listener.id).await?;
            counting.push(listeners::count_frames(&url, Arc::clone(&frames)).await?);
        }
        let fanout_before = cpu::seconds(&fanout_pid.to_string(), false)?;
        let (figures, cpu) =
            one_run(Some(gateway), fanout_pid, &spread_send, duration, scratch).await?;
        let load_stopped = Instant::now();
        eprintln!("      two listeners each: {figures:?}");
        with_listeners.add(figures, cpu);
        let expected = (figures.requests - figures.errors) * listeners_per_conversation;
        let drained = wait_for_drain(&frames, expected, load_stopped).await;
        eprintln!("      frames after the load: {drained:?}");
        fanout_cpu_through_drain += cpu::seconds(&fanout_pid.to_string(), false)? - fanout_before;
        drain = Some(drain.map_or(drained, |d| d.and(drained)));
        counting.iter().for_each(JoinHandle::abort);
        realtime_stack::all_disconnected(pool).await?;
    }
    Ok(UnderLoad {
        without_delivery,
        without_listeners,
        with_listeners,
        listeners_per_conversation,
        fanout_cpu_through_drain,
        drain: drain.context("no run")?,
    })
}

/// One wrk run of `request` against a fresh server, with real-time delivery
/// through the gateway at `gateway` when given, and the CPU time each
/// process spent in it. wrk runs off the runtime's threads: the gateway and
/// the listeners run on them.
async fn one_run(
    gateway: Option<SocketAddr>,
    fanout_pid: u32,
    request: &Request,
    duration: Duration,
    scratch: &Path,
) -> anyhow::Result<(Figures, cpu::Split)> {
    let mut server = server::spawn(gateway).await?;
    let reading = cpu::Reading::take(server.id().context("server pid")?, fanout_pid)?;
    let (base, request, scratch) = (server::base_url(), request.clone(), scratch.to_path_buf());
    let figures = tokio::task::spawn_blocking(move || {
        load::run(&base, &request, CONCURRENCY, duration, &scratch)
    })
    .await??;
    let cpu = reading.since()?;
    server.kill().await?;
    Ok((figures, cpu))
}

/// Waits for the fan-out's backlog after the load stopped at
/// `load_stopped`: until `count` reaches `expected`, or has not grown for
/// [`DRAIN_QUIET`], or [`DRAIN_LIMIT`] has passed.
async fn wait_for_drain(count: &AtomicU64, expected: u64, load_stopped: Instant) -> Drain {
    let mut frames = count.load(Ordering::Relaxed);
    let mut last_growth = load_stopped;
    loop {
        let now = Instant::now();
        let seen = count.load(Ordering::Relaxed);
        if seen != frames {
            frames = seen;
            last_growth = now;
        }
        let cut_off = now.duration_since(load_stopped) >= DRAIN_LIMIT;
        if frames >= expected || now.duration_since(last_growth) >= DRAIN_QUIET || cut_off {
            return Drain {
                frames,
                expected,
                last_frame_after: last_growth.duration_since(load_stopped),
                cut_off: cut_off && frames < expected,
            };
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One sender in a conversation of 1,000 members, one send at a time: first
/// with nobody connected, then with two connections per member (and a send
/// into a conversation of 1,000 nobody listens to after each), then with
/// everyone still connected but the nudges to a queue nothing takes from.
async fn to_the_room(
    stack: &Stack,
    pool: &MySqlPool,
    data: &DataSet,
    inputs: &Inputs,
) -> anyhow::Result<Latency> {
    let gateway = stack.realtime.gateway;
    let room_send = Request::post(
        format!("/api/conversations/{}/messages", data.room),
        Some(&inputs.pager_token),
        &json!({"body": "A message for the room."}),
    );
    eprintln!(
        "a conversation of {} members, nobody connected...",
        data.room_listeners.len() + 1
    );
    let quiet_answers = answer_times_apart(gateway, DELIVERY_QUEUE, room_send.clone()).await?;
    eprintln!(
        "delivery to {} connections...",
        data.room_listeners.len() * ROOM_CONNECTIONS_EACH
    );
    let (frames_in, mut frames_out) = mpsc::unbounded_channel();
    let out_of_order = Arc::new(AtomicU64::new(0));
    let mut listening = Vec::new();
    for listener in &data.room_listeners {
        for _ in 0..ROOM_CONNECTIONS_EACH {
            let url = stack.ticket_url(listener.id).await?;
            listening
                .push(listeners::listen(&url, frames_in.clone(), Arc::clone(&out_of_order)).await?);
        }
    }
    drop(frames_in);
    let connections = data.room_listeners.len() * ROOM_CONNECTIONS_EACH;
    let room = room_send.clone();
    let quiet_room = Request {
        path: format!("/api/conversations/{}/messages", data.quiet_room),
        ..room_send.clone()
    };
    let mut latency = sender_apart(gateway, DELIVERY_QUEUE, move |state| async move {
        let gateway = Gateway::new();
        let (g, s, r, q) = (&gateway, &state, &room, &quiet_room);
        time_listened_sends(
            ROOM_SENDS,
            connections,
            &mut frames_out,
            move || async move {
                let (status, body, _) = in_process::call(g, s, r).await;
                if status != 201 {
                    bail!("a send to the listeners answered {status}: {body}");
                }
                body["id"].as_i64().context("the message id")
            },
            move || async move {
                let (status, body, _) = in_process::call(g, s, q).await;
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
    realtime_stack::create_held_queue(gateway).await?;
    latency.held_answer_ms =
        answer_times_apart(gateway, realtime_stack::HELD_QUEUE, room_send).await?;
    listening.iter().for_each(JoinHandle::abort);
    latency.quiet_answer_ms = quiet_answers;
    latency.out_of_order = out_of_order.load(Ordering::Relaxed);
    realtime_stack::all_disconnected(pool).await?;
    Ok(latency)
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
                let mut config = settings::config(1);
                config.websocket_url = Some(format!("ws://{gateway}/"));
                let state = AppState::new(config, database::pool(1).await?)
                    .with_delivery(delivery_queue(gateway, queue));
                sends(state).await
            })
    })
    .await?
}

/// The answer times of [`ROOM_SENDS`] sends of `send`, one after
/// another, from an instance apart ([`sender_apart`]) that nudges `queue`.
async fn answer_times_apart(
    gateway: SocketAddr,
    queue: &'static str,
    send: Request,
) -> anyhow::Result<Vec<f64>> {
    sender_apart(gateway, queue, move |state| async move {
        let router = Gateway::new();
        let (g, s, r) = (&router, &state, &send);
        answer_times(ROOM_SENDS, move || async move {
            let (status, body, _) = in_process::call(g, s, r).await;
            if status != 201 {
                bail!("a send to the room answered {status}: {body}");
            }
            Ok(())
        })
        .await
    })
    .await
}

/// Milliseconds from a send's answer to the last listener's frame (negative
/// when every frame came before the answer), and from the send's start.
#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub sends: usize,
    pub listeners: usize,
    pub after_answer_ms: Vec<f64>,
    pub from_start_ms: Vec<f64>,
    /// Each send's answer time with the listeners connected.
    pub answer_ms: Vec<f64>,
    /// The same sends' answer times with nobody connected.
    pub quiet_answer_ms: Vec<f64>,
    /// Answer times of sends into a conversation of the same size that
    /// nobody listens to, each right after a listened send's last frame:
    /// the same send under the same conditions, without listeners.
    pub quiet_beside_ms: Vec<f64>,
    /// The same sends' answer times with everyone connected, nudging a
    /// queue that nothing takes from: the nudge's own cost, without a
    /// fan-out running on the same cores.
    pub held_answer_ms: Vec<f64>,
    /// Message events that came at or below a version the connection had
    /// already seen.
    pub out_of_order: u64,
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64() * 1_000.0,
        None => -(earlier.duration_since(later).as_secs_f64() * 1_000.0),
    }
}

/// Sends `sends` messages one after the other with `send` (which answers the
/// new message's id), waits after each for its frame at every listener, and
/// then times one `quiet_send` into a conversation nobody listens to.
async fn time_listened_sends<F, Fut, Q, QFut>(
    sends: usize,
    listeners: usize,
    frames: &mut mpsc::UnboundedReceiver<(i64, Instant)>,
    mut send: F,
    mut quiet_send: Q,
) -> anyhow::Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<i64>>,
    Q: FnMut() -> QFut,
    QFut: Future<Output = anyhow::Result<()>>,
{
    let mut latency = Latency {
        sends,
        listeners,
        ..Latency::default()
    };
    for _ in 0..sends {
        let started = Instant::now();
        let id = send().await?;
        let answered = Instant::now();
        let (mut seen, mut last) = (0, started);
        while seen < listeners {
            let (frame_id, at) = tokio::time::timeout(FRAME_WAIT, frames.recv())
                .await
                .with_context(|| format!("message {id}: {seen} of {listeners} frames arrived"))?
                .context("the listeners are gone")?;
            if frame_id == id {
                seen += 1;
                last = last.max(at);
            }
        }
        latency.after_answer_ms.push(signed_ms(last, answered));
        latency.from_start_ms.push(signed_ms(last, started));
        latency.answer_ms.push(signed_ms(answered, started));
        let quiet_started = Instant::now();
        quiet_send().await?;
        latency
            .quiet_beside_ms
            .push(signed_ms(Instant::now(), quiet_started));
    }
    Ok(latency)
}

/// Each of `sends` sends' answer time, one after another.
async fn answer_times<F, Fut>(sends: usize, mut send: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(sends);
    for _ in 0..sends {
        let started = Instant::now();
        send().await?;
        times.push(signed_ms(Instant::now(), started));
    }
    Ok(times)
}
