//! docs/BENCHMARKS.md and its plot, written from one run's figures.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::attachments::AttachmentSends;
use crate::cold_start::ColdStart;
use crate::fanout::Delivery;
use crate::load::Figures;
use crate::scenario::{CONCURRENCIES, ORIGINAL_MEASURED_ON, Scenario};
use crate::settings::CONCURRENCY;
use crate::stats::quantile;

pub struct ScenarioResult {
    pub scenario: Scenario,
    pub c1: Figures,
    pub c32: Figures,
    pub statements: usize,
    /// Commands that reach the database per request, pings, BEGIN and COMMIT
    /// included.
    pub round_trips: u64,
    /// Raw-SQL operations per second at concurrency 32, where SQL is the work.
    pub ceiling: Option<f64>,
}

impl ScenarioResult {
    /// The figures at `concurrency`, one of [`CONCURRENCIES`].
    fn at(&self, concurrency: u32) -> &Figures {
        if concurrency == CONCURRENCIES[0] {
            &self.c1
        } else {
            &self.c32
        }
    }
}

pub struct Report {
    pub duration: Duration,
    /// Runs per load point; the median run is reported.
    pub runs: u32,
    /// /proc/loadavg as the run began and as it ended.
    pub load_before: String,
    pub load_after: String,
    pub argon2_ms: f64,
    pub peak_rss_kib: u64,
    pub results: Vec<ScenarioResult>,
    /// Autocommit INSERTs of a send's row per second at concurrency 32.
    pub autocommit_insert: f64,
    pub cold_starts: Vec<ColdStart>,
    /// "list messages, page 1" through `cargo lambda watch`, at c=1 and c=32.
    pub watch: Option<(Figures, Figures)>,
    pub delivery: Delivery,
    /// The rate limit's counting statement, timed alone, ms.
    pub rate_limit_ms: Vec<f64>,
    pub attachments: AttachmentSends,
}

fn shell(command: &str, args: &[&str]) -> String {
    Command::new(command)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

impl Report {
    fn result(&self, scenario: Scenario) -> Option<&ScenarioResult> {
        self.results.iter().find(|r| r.scenario == scenario)
    }

    pub fn markdown(&self, root: &Path) -> anyhow::Result<String> {
        let root = root.display().to_string();
        let commit = shell("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
        let mut md = String::new();
        writeln!(md, "# Benchmarks\n")?;
        writeln!(
            md,
            "Written by `./scripts/bench.sh` (do not edit by hand). Commit `{commit}`, {}.\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        )?;
        writeln!(
            md,
            "Machine: {} cores ({}), {} of memory, load average (1, 5, 15 min) `{}` before the run and `{}` after it; MariaDB {} on the same machine.\n",
            shell("nproc", &[]),
            cpu_model(),
            shell("sh", &["-c", "free -h | awk '/Mem:/ {print $2}'"]),
            self.load_before,
            self.load_after,
            shell(
                "mariadb",
                &["-N", "-h127.0.0.1", "-uroot", "-e", "SELECT VERSION()"]
            ),
        )?;
        writeln!(
            md,
            "How: the three functions' handler services (the very `app::handle` that `lambda_http::run` drives) \
             served over plain HTTP by one process with a pool of 32 connections, as 32 Lambda instances with \
             one connection each would have; wrk on the same 2 cores as the server and the database, {} runs of {} s per \
             point, of which the table shows the run with the median requests per second. The raw-SQL ceiling runs the statements of the same request straight through sqlx with the \
             same pool size and 32 tasks, the median of {} runs of 5 s. The `cargo lambda watch` path, one instance per function, \
             is measured separately below.\n",
            self.runs,
            self.duration.as_secs(),
            self.runs
        )?;

        writeln!(md, "## Scenarios\n")?;
        writeln!(
            md,
            "| scenario | c | req/s | p50 ms | p99 ms | errors | SQL statements | round trips | raw-SQL ops/s | API / raw SQL |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
        for r in &self.results {
            for (c, f) in [(1, &r.c1), (32, &r.c32)] {
                let (ceiling, ratio) = match (c, r.ceiling) {
                    (32, Some(ops)) => (
                        format!("{ops:.0}"),
                        format!("{:.0}%", 100.0 * f.requests_per_sec / ops),
                    ),
                    _ => ("".into(), "".into()),
                };
                writeln!(
                    md,
                    "| {} | {c} | {:.1} | {:.2} | {:.2} | {} | {} | {} | {ceiling} | {ratio} |",
                    r.scenario.name(),
                    f.requests_per_sec,
                    f.p50_ms,
                    f.p99_ms,
                    f.errors,
                    r.statements,
                    r.round_trips
                )?;
            }
        }
        if let Some(send) = self.result(Scenario::Send) {
            writeln!(
                md,
                "\nThe send beside the cheapest write that stores its row: an autocommit `INSERT` of the same row into \
                 `messages` (a conversation of its own, `seq` and `version` from a counter; no lock, read or counter \
                 around it), each insert its own statement and transaction, by 32 tasks on a pool of 32 connections, the \
                 median of {} runs of 5 s: {:.0} inserts/s, against the send's {:.0} req/s in one conversation at c=32 \
                 ({:.2}× the send).",
                self.runs,
                self.autocommit_insert,
                send.c32.requests_per_sec,
                self.autocommit_insert / send.c32.requests_per_sec.max(f64::EPSILON)
            )?;
            writeln!(
                md,
                "\nThe rate limit's bookkeeping, the upsert that counts the change (inside the `send_message` call, one of a send's {} \
                 statements; `SEND_RATE_LIMIT` is raised here so that nothing is refused), run as a statement of its own on one \
                 connection, {} runs one after another, its round trip included: p50 {:.3} ms and p99 {:.3} ms, against the whole \
                 send's p50 of {:.2} ms at c=1.",
                send.statements,
                self.rate_limit_ms.len(),
                quantile(&self.rate_limit_ms, 0.5),
                quantile(&self.rate_limit_ms, 0.99),
                send.c1.p50_ms
            )?;
        }
        let files = &self.attachments;
        if !files.with_ms.is_empty() {
            writeln!(
                md,
                "\nA send with three attachments (its uploads already in storage, 1 KiB each), against the same send without, {} of \
                 each one after another in process: p50 {:.2} ms against {:.2} ms ({:.2}×), p99 {:.2} ms against {:.2} ms; {} SQL \
                 statements against {} (the uploads' read; their claim is inside the `send_message` call), and three `HeadObject` \
                 requests to the local S3-compatible server before it.",
                files.with_ms.len(),
                quantile(&files.with_ms, 0.5),
                quantile(&files.without_ms, 0.5),
                quantile(&files.with_ms, 0.5) / quantile(&files.without_ms, 0.5),
                quantile(&files.with_ms, 0.99),
                quantile(&files.without_ms, 0.99),
                files.with_statements,
                files.without_statements,
            )?;
        }
        if let (Some(rare), Some(common)) = (
            self.result(Scenario::SearchRare),
            self.result(Scenario::SearchCommon),
        ) {
            writeln!(
                md,
                "\nSearch runs over 1,000,000 messages in 1,000 conversations for a user in 50 of them: the rare word is in 1,000 \
                 messages (50 of them the user's), the common one in 100,000 (5,000 the user's); each answer is a full page of 20. \
                 p50 {:.2} / {:.2} ms (rare / common) at c=1, {:.2} / {:.2} ms at c=32{}.",
                rare.c1.p50_ms,
                common.c1.p50_ms,
                rare.c32.p50_ms,
                common.c32.p50_ms,
                if common.c32.requests == 0 {
                    " (inf: no request for the common word answered within the run at c=32)"
                } else {
                    ""
                }
            )?;
        }
        writeln!(md, "\n![p50 and p99 at concurrency 32](benchmarks.svg)\n")?;

        writeln!(md, "## Cold start and size\n")?;
        writeln!(
            md,
            "From spawning the release binary to its first answered invocation through the Runtime API (an emulator on 127.0.0.1), 11 starts each. The HTTP functions get a request without a token, answered without the database; the realtime function gets a `$connect` without a ticket, refused after it takes the one database connection every WebSocket event takes; the fan-out function gets an empty batch.\n"
        )?;
        writeln!(
            md,
            "Peak RSS: the first instance of each function, after it served 100 rounds of its own scenarios one at a time, as a Lambda instance does (auth: a login every fifth round, `me` otherwise; conversations: the list; messages: page 1, the deep page and a send; realtime: `$connect` with a fresh ticket, a ping and `$disconnect`). The fan-out function's is that of its instance in the real-time measurements below, after it delivered every frame of them.\n"
        )?;
        writeln!(
            md,
            "| function | median ms | min ms | max ms | stripped binary | peak RSS |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|")?;
        for c in &self.cold_starts {
            writeln!(
                md,
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} MB | {:.1} MB |",
                c.name,
                c.median_ms,
                c.min_ms,
                c.max_ms,
                c.size_bytes as f64 / 1e6,
                c.peak_rss_kib as f64 / 1024.0
            )?;
        }
        writeln!(
            md,
            "\nThe HTTP server hosting all three functions for the load runs (32 requests at a time) peaked at {:.1} MB.\n",
            self.peak_rss_kib as f64 / 1024.0
        )?;

        writeln!(md, "## The `cargo lambda watch` path\n")?;
        match (&self.watch, self.result(Scenario::PageOne)) {
            (Some((one, many)), Some(direct)) => {
                writeln!(
                    md,
                    "The same release binaries behind the emulator's HTTP router and Runtime API (one instance per function), for \"list messages, page 1\"; the direct figures are the table's above.\n"
                )?;
                writeln!(
                    md,
                    "| c | watch req/s | watch p50 ms | watch p99 ms | direct req/s | watch / direct |"
                )?;
                writeln!(md, "|---|---|---|---|---|---|")?;
                for (c, w, d) in [(1, one, &direct.c1), (32, many, &direct.c32)] {
                    writeln!(
                        md,
                        "| {c} | {:.1} | {:.2} | {:.2} | {:.1} | {:.0}% |",
                        w.requests_per_sec,
                        w.p50_ms,
                        w.p99_ms,
                        d.requests_per_sec,
                        100.0 * w.requests_per_sec / d.requests_per_sec
                    )?;
                }
                writeln!(md)?;
            }
            _ => writeln!(
                md,
                "Not measured: cargo-lambda is not installed (`pip install cargo-lambda`).\n"
            )?,
        }

        self.delivery_section(&mut md)?;

        self.side_by_side_section(&mut md)?;
        self.targets_section(&mut md)?;
        Ok(md)
    }

    fn side_by_side_section(&self, md: &mut String) -> anyhow::Result<()> {
        writeln!(md, "## Side by side with the original\n")?;
        writeln!(
            md,
            "The original's figures: Django + DRF + gunicorn with 2 workers, as it ships, measured with wrk at c=32 (and c=1 where shown), 10 s a point, against the same MariaDB ({ORIGINAL_MEASURED_ON}), in one run with this project's `bench serve` on another machine than this one (the original does not run here); its p99 figures were not kept, so only throughput is compared. The ratio here divides this run's figure by the original's from that run; the last column says how this machine compares with that one on this project's own figures (below 1: slower here), so the ratio that run would have shown is about the ratio here divided by it. Round trips: commands that reach the database per request (pings, BEGIN and COMMIT included), counted by a proxy on the wire after warm-up, on a one-connection pool as a Lambda instance has.\n"
        )?;
        writeln!(
            md,
            "| scenario | c | original req/s (what it ran) | this project in that run | ratio in that run | here req/s | ratio here | here ÷ that run's |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|")?;
        for r in &self.results {
            let Some(original) = r.scenario.original() else {
                continue;
            };
            for c in CONCURRENCIES {
                if let Some(that_run) = original.at(c) {
                    let theirs = that_run.original;
                    let ours = r.at(c).requests_per_sec;
                    let (then, ratio_then, machine) = match that_run.ours {
                        Some(then) => (
                            format!("{then}"),
                            format!("{:.1}×", then / theirs),
                            format!("{:.2}", ours / then),
                        ),
                        None => ("".into(), "".into(), "".into()),
                    };
                    writeln!(
                        md,
                        "| {} | {c} | {theirs} ({}) | {then} | {ratio_then} | {ours:.0} | {:.1}× | {machine} |",
                        r.scenario.name(),
                        original.what,
                        ours / theirs
                    )?;
                }
            }
        }
        writeln!(md)?;
        Ok(())
    }

    fn targets_section(&self, md: &mut String) -> anyhow::Result<()> {
        writeln!(md, "## Against the targets\n")?;
        writeln!(
            md,
            "Load average (1, 5, 15 min) `{}` as the run began and `{}` as it ended, on {} cores that wrk, the server, MariaDB, the gateway and the listeners all share.\n",
            self.load_before,
            self.load_after,
            shell("nproc", &[]),
        )?;
        writeln!(md, "| target | figure | met |")?;
        writeln!(md, "|---|---|---|")?;
        let mark = |ok: bool| if ok { "yes" } else { "no" };
        for r in &self.results {
            let Some(original) = r.scenario.original() else {
                continue;
            };
            for target in r.scenario.speedup_targets() {
                let c = target.concurrency;
                let Some(that_run) = original.at(c) else {
                    continue;
                };
                let theirs = that_run.original;
                let ours = r.at(c).requests_per_sec;
                let speedup = ours / theirs;
                writeln!(
                    md,
                    "| {}, c={c}: ≥ {}× the original's {theirs} req/s ({}) | {speedup:.1}× ({ours:.0} req/s) | {} |",
                    r.scenario.name(),
                    target.at_least,
                    original.what,
                    mark(speedup >= target.at_least)
                )?;
            }
            if r.scenario == Scenario::Send {
                let send = r.c32.requests_per_sec;
                let bound = self.autocommit_insert / 3.0;
                writeln!(
                    md,
                    "| {}, c={CONCURRENCY}: within 3× of an autocommit INSERT of its row in the same run (≥ the INSERT's rate ÷ 3) | {send:.0} req/s against {:.0} inserts/s ÷ 3 = {bound:.0} (the INSERT {:.2}× the send) | {} |",
                    r.scenario.name(),
                    self.autocommit_insert,
                    self.autocommit_insert / send.max(f64::EPSILON),
                    mark(send >= bound)
                )?;
            }
        }
        if let Some(r) = self.result(Scenario::SearchRare) {
            writeln!(
                md,
                "| search for a rare word over 1,000,000 messages, c=1: p50 ≤ 20 ms | {:.2} ms | {} |",
                r.c1.p50_ms,
                mark(r.c1.p50_ms <= 20.0)
            )?;
        }
        if let Some(r) = self.result(Scenario::PollNothingNew) {
            writeln!(
                md,
                "| poll `since=` with nothing new, c=32: ≥ 3,000 req/s | {:.0} req/s | {} |",
                r.c32.requests_per_sec,
                mark(r.c32.requests_per_sec >= 3_000.0)
            )?;
        }
        for scenario in [Scenario::BusyList, Scenario::BusyUnread] {
            if let Some(r) = self.result(scenario) {
                writeln!(
                    md,
                    "| {}: p50 at c=1 ≤ 5 ms | {:.2} ms | {} |",
                    scenario.name(),
                    r.c1.p50_ms,
                    mark(r.c1.p50_ms <= 5.0)
                )?;
            }
        }
        if let (Some(first), Some(deep)) =
            (self.result(Scenario::PageOne), self.result(Scenario::Deep))
        {
            let ratio = deep.c32.p50_ms / first.c32.p50_ms.max(f64::EPSILON);
            writeln!(
                md,
                "| a page 100,000 deep ≤ 1.3× the first page (p50, c=32) | {ratio:.2}× | {} |",
                mark(ratio <= 1.3)
            )?;
        }
        let latency = &self.delivery.latency;
        let (quiet50, quiet99) = (
            quantile(&latency.quiet_answer_ms, 0.5),
            quantile(&latency.quiet_answer_ms, 0.99),
        );
        let (heard50, heard99) = (
            quantile(&latency.answer_ms, 0.5),
            quantile(&latency.answer_ms, 0.99),
        );
        let (beside50, beside99) = (
            quantile(&latency.quiet_beside_ms, 0.5),
            quantile(&latency.quiet_beside_ms, 0.99),
        );
        let (ratio50, ratio99) = (heard50 / beside50, heard99 / beside99);
        let (held50, held99) = (
            quantile(&latency.held_answer_ms, 0.5),
            quantile(&latency.held_answer_ms, 0.99),
        );
        writeln!(
            md,
            "| a send into a conversation of 1,000 members with {} connections open answers within 1.2× of the same send into a conversation nobody listens to, under the same conditions: the sends into a conversation of 1,000 that nobody listens to, each right after a listened send's last frame (p50, p99; {} sends each) | p50 {heard50:.2} vs {beside50:.2} ms ({ratio50:.2}×), p99 {heard99:.2} vs {beside99:.2} ms ({ratio99:.2}×); beside: on the idle machine before anyone connected p50 {quiet50:.2} ms ({:.2}×), p99 {quiet99:.2} ms ({:.2}×); with everyone connected and no fan-out running (nudging a queue nothing takes from) p50 {held50:.2} ms, p99 {held99:.2} ms | {} |",
            latency.listeners,
            latency.sends,
            heard50 / quiet50,
            heard99 / quiet99,
            mark(ratio50 <= 1.2 && ratio99 <= 1.2)
        )?;
        let last99 = quantile(&latency.after_answer_ms, 0.99);
        writeln!(
            md,
            "| from the answer (the commit) to the last of the {} connections' frame: p99 ≤ 1 s | p50 {:.1} ms, p99 {last99:.1} ms | {} |",
            latency.listeners,
            quantile(&latency.after_answer_ms, 0.5),
            mark(last99 <= 1_000.0)
        )?;
        writeln!(
            md,
            "| every connection gets every event, in version order | {} of {} frames, {} out of order | {} |",
            latency.sends * latency.listeners,
            latency.sends * latency.listeners,
            latency.out_of_order,
            mark(latency.out_of_order == 0)
        )?;
        {
            let load = &self.delivery.under_load;
            let (quiet, with) = (
                load.without_listeners.median(),
                load.with_listeners.median(),
            );
            let share = with.requests_per_sec / quiet.requests_per_sec;
            let off = load.without_delivery.median().requests_per_sec;
            writeln!(
                md,
                "| fan-out: send req/s (32 conversations, c=32) with {} listeners per conversation ≥ 80% of the rate with nobody listening (delivery on, nobody connected; the same rounds) | {:.0}% ({:.0} → {:.0} req/s); {:.0}% of the {off:.0} req/s without delivery in those rounds | {} |",
                load.listeners_per_conversation,
                share * 100.0,
                quiet.requests_per_sec,
                with.requests_per_sec,
                100.0 * with.requests_per_sec / off,
                mark(share >= 0.8)
            )?;
        }
        // The sends are held against the autocommit INSERT above instead.
        let sends = [Scenario::Send, Scenario::SpreadSend];
        for r in self.results.iter().filter(|r| !sends.contains(&r.scenario)) {
            if let Some(ops) = r.ceiling {
                let share = r.c32.requests_per_sec / ops;
                writeln!(
                    md,
                    "| {}: API ≥ 60% of raw SQL (c=32) | {:.0}% | {} |",
                    r.scenario.name(),
                    share * 100.0,
                    mark(share >= 0.6)
                )?;
            }
        }
        if let Some(login) = self.result(Scenario::Login) {
            let ratio = login.c1.p50_ms / self.argon2_ms;
            writeln!(
                md,
                "| login p50 (c=1) ≤ 1.2× one argon2id verification ({:.1} ms) | {:.1} ms, {ratio:.2}× | {} |",
                self.argon2_ms,
                login.c1.p50_ms,
                mark(ratio <= 1.2)
            )?;
        }
        for c in &self.cold_starts {
            writeln!(
                md,
                "| {} cold start < 20 ms | {:.1} ms | {} |",
                c.name,
                c.median_ms,
                mark(c.median_ms < 20.0)
            )?;
            writeln!(
                md,
                "| {} binary < 10 MB | {:.1} MB | {} |",
                c.name,
                c.size_bytes as f64 / 1e6,
                mark(c.size_bytes < 10_000_000)
            )?;
        }
        for c in &self.cold_starts {
            let rss_mb = c.peak_rss_kib as f64 / 1024.0;
            writeln!(
                md,
                "| {} peak RSS < 40 MB | {rss_mb:.1} MB | {} |",
                c.name,
                mark(rss_mb < 40.0)
            )?;
        }
        Ok(())
    }

    fn delivery_section(&self, md: &mut String) -> anyhow::Result<()> {
        let l = &self.delivery.latency;
        let d = &self.delivery.under_load;
        writeln!(md, "## Real-time delivery\n")?;
        writeln!(
            md,
            "The realtime and fan-out functions' release binaries under the Runtime API emulator, the local gateway \
             (`local-gateway`: the WebSocket API, the Management API, the SQS delivery queue and its trigger, with 4 \
             fan-out batches in flight) in front of them, and WebSocket clients (tokio-tungstenite), all on the same 2 \
             cores as the database. A change answers after one nudge to the delivery queue; the fan-out function then \
             posts each event as a signed Management API `POST` per connection, as in the cloud.\n"
        )?;
        writeln!(
            md,
            "**To {} connections.** One sender, {} sends one after another into a conversation of 1,000 members \
             whose 999 others each have two connections open ({} connections); the send handler runs in-process with \
             delivery on, as one instance (a connection of its own, a thread and runtime of its own, apart from the \
             gateway and the listeners this process also hosts, as a Lambda instance is a process of its own). Time from the send's answer to the frame at the last of the connections, and from the start \
             of the send; the same sends' answer times with nobody connected (before the listeners connect), with everyone \
             connected, with each of those followed by a send into another conversation of 1,000 members that nobody \
             listens to (the same send under the same conditions, without listeners), and with everyone \
             connected but the nudges sent to a queue that no fan-out takes from (the nudge's own cost, without the \
             fan-out's passes, the gateway's posts and the listeners on the same 2 cores).\n",
            l.listeners, l.sends, l.listeners
        )?;
        writeln!(md, "| what | p50 ms | p99 ms | max ms |")?;
        writeln!(md, "|---|---|---|---|")?;
        for (from, values) in [
            ("last frame, from the send's answer", &l.after_answer_ms),
            ("last frame, from the send's start", &l.from_start_ms),
            ("the answer, nobody connected", &l.quiet_answer_ms),
            ("the answer, everyone connected", &l.answer_ms),
            (
                "the answer in a conversation of 1,000 nobody listens to, between those",
                &l.quiet_beside_ms,
            ),
            (
                "the answer, everyone connected, nudging a queue no fan-out takes from",
                &l.held_answer_ms,
            ),
        ] {
            writeln!(
                md,
                "| {from} | {:.2} | {:.2} | {:.2} |",
                quantile(values, 0.5),
                quantile(values, 0.99),
                quantile(values, 1.0)
            )?;
        }
        writeln!(
            md,
            "\n**Fan-out under load.** \"send, 32 conversations\" at c=32 through the HTTP server, in {} rounds of three runs \
             of {} s, each run on a fresh server: without real-time delivery, with it and nobody connected (each send \
             also nudges the delivery queue after its commit; the fan-out function's passes find nobody to post to), \
             and with the {} other participants of every conversation connected (the same nudges; the passes read \
             what to send and post a signed Management API request per connection), whose frames are then waited \
             for before the listeners disconnect and the next round starts. The run of each kind with the median \
             rate is shown. The gateway, the fan-out function and the listeners share the 2 cores with the server \
             and the database here; in the cloud SQS, Lambda and API Gateway carry them.\n",
            self.runs,
            self.duration.as_secs(),
            d.listeners_per_conversation
        )?;
        writeln!(
            md,
            "| send, 32 conversations, c=32 | req/s | p50 ms | p99 ms | errors | of the send without delivery |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|")?;
        let base = d.without_delivery.median().requests_per_sec;
        let rows = [
            ("without real-time delivery", &d.without_delivery),
            ("delivery on, nobody connected", &d.without_listeners),
            ("delivery on, listeners connected", &d.with_listeners),
        ];
        for (what, runs) in rows {
            let f = runs.median();
            writeln!(
                md,
                "| {what} | {:.1} | {:.2} | {:.2} | {} | {:.0}% |",
                f.requests_per_sec,
                f.p50_ms,
                f.p99_ms,
                f.errors,
                100.0 * f.requests_per_sec / base
            )?;
        }
        writeln!(
            md,
            "\nCPU time per 1,000 answered sends, by process, over all runs of each kind (ms; the machine has 2 cores):\n"
        )?;
        writeln!(
            md,
            "| run | HTTP server (the functions) | fan-out function | local gateway and listeners | wrk | MariaDB | all |"
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|")?;
        for (what, runs) in rows {
            let (cpu, per) = (&runs.cpu, 1_000_000.0 / (runs.sends.max(1) as f64));
            writeln!(
                md,
                "| {what} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
                cpu.server * per,
                cpu.fanout * per,
                cpu.gateway_and_listeners * per,
                cpu.load_generator * per,
                cpu.database * per,
                cpu.total() * per
            )?;
        }
        let drain = &d.drain;
        let last_frame = drain.last_frame_after.as_secs_f64();
        let drained = if drain.cut_off {
            format!(
                "frames were still coming when the wait ended {last_frame:.2} s after the load stopped"
            )
        } else if drain.frames >= drain.expected {
            format!("the last expected one came {last_frame:.2} s after the load stopped")
        } else {
            format!(
                "the last one came {last_frame:.2} s after the load stopped, and none for the 5 s after it"
            )
        };
        writeln!(
            md,
            "\nFrames the listeners received over the runs with listeners connected, counted after each run until the \
             count reached the expected number or stopped growing for 5 s (at most 60 s after the load): {} of {} \
             expected ({:.1}%; {} answered sends, each send's event to both listeners of its conversation); at the \
             longest, {drained}.\n",
            drain.frames,
            drain.expected,
            100.0 * drain.frames as f64 / (drain.expected.max(1) as f64),
            d.with_listeners.sends,
        )?;
        writeln!(
            md,
            "The fan-out function's CPU per 1,000 posts in those runs, their backlogs included: {:.0} ms (reading what to send, signing and sending each Management API request).\n",
            d.fanout_cpu_through_drain * 1_000_000.0 / (drain.frames.max(1) as f64)
        )?;
        Ok(())
    }

    /// Horizontal bars of p50 and p99 at concurrency 32, on a log scale.
    pub fn svg(&self) -> String {
        let (label_w, bar_w, row_h) = (300.0, 560.0, 46.0);
        let height = 60.0 + row_h * self.results.len() as f64;
        let max = self
            .results
            .iter()
            .map(|r| r.c32.p99_ms)
            .fold(1.0, f64::max);
        let min = 0.1_f64;
        let scale =
            |ms: f64| bar_w * ((ms.max(min) / min).log10() / (max / min).log10()).clamp(0.0, 1.0);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"22\" font-size=\"15\">Latency at concurrency 32 (ms, log scale): p50 dark, p99 light</text>\n",
            w = label_w + bar_w + 120.0
        );
        for (i, r) in self.results.iter().enumerate() {
            let y = 40.0 + row_h * i as f64;
            let _ = write!(
                svg,
                "<text x=\"10\" y=\"{ty}\">{name}</text>\n\
                 <rect x=\"{label_w}\" y=\"{y}\" width=\"{p99w:.1}\" height=\"18\" fill=\"#9ecae1\"/>\n\
                 <rect x=\"{label_w}\" y=\"{y}\" width=\"{p50w:.1}\" height=\"18\" fill=\"#3182bd\"/>\n\
                 <text x=\"{tx:.1}\" y=\"{ty}\">{p50:.2} / {p99:.2}</text>\n",
                ty = y + 14.0,
                name = r.scenario.name().replace('&', "&amp;").replace('<', "&lt;"),
                p99w = scale(r.c32.p99_ms),
                p50w = scale(r.c32.p50_ms),
                tx = label_w + scale(r.c32.p99_ms) + 6.0,
                p50 = r.c32.p50_ms,
                p99 = r.c32.p99_ms,
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}
