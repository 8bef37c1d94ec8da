//! `bench run` seeds a database, serves the functions' handlers over HTTP in a
//! child process (`bench serve`), loads them with wrk at concurrency 1 and
//! 32, measures real-time delivery, the raw-SQL ceiling and an autocommit
//! INSERT, cold starts and binary sizes, and writes docs/BENCHMARKS.md with a
//! plot. `./scripts/bench.sh` runs it.

mod attachments;
mod autocommit_insert;
mod ceiling;
mod cold_start;
mod costs;
mod cpu;
mod database;
mod fanout;
mod in_process;
mod listeners;
mod load;
mod realtime_stack;
mod report;
mod round_trips;
mod scenario;
mod seed;
mod server;
mod settings;
mod stats;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::routing::Gateway;
use shared::AppState;

use crate::load::Figures;
use crate::report::{Report, ScenarioResult};
use crate::scenario::{CONCURRENCIES, Inputs, Scenario};
use crate::settings::CONCURRENCY;

fn main() -> anyhow::Result<()> {
    shared::memory::return_large_allocations();
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("serve") => runtime.block_on(server::serve_from_env()),
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

/// Every measurement in turn, each load point `runs` runs of `duration`.
async fn run(duration: Duration, runs: u32) -> anyhow::Result<()> {
    let load_before = load_average();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pool = database::recreate(CONCURRENCY).await?;
    eprintln!("seeding...");
    let started = Instant::now();
    let data = seed::seed(&pool).await?;
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let state = AppState::new(settings::config(CONCURRENCY), pool.clone());
    let gateway = Gateway::new();
    let inputs = Inputs::prepare(&gateway, &state, &pool, &data).await?;
    let requests: Vec<_> = Scenario::ALL.map(|s| s.request(&inputs)).into();

    // Statements per request, and a check that each scenario answers as meant.
    let mut statements = Vec::new();
    for (scenario, request) in Scenario::ALL.iter().zip(&requests) {
        let (status, body, count) = in_process::call(&gateway, &state, request).await;
        let ok = if request.expect_success {
            (200..300).contains(&status)
        } else {
            status == 401
        };
        if !ok {
            bail!("{} answered {status}: {body}", scenario.name());
        }
        let full_page = body["results"].as_array().map_or(0, Vec::len) == 20;
        if scenario.answers_a_full_page() && !full_page {
            bail!("{} is not a full page: {body}", scenario.name());
        }
        statements.push(count);
    }

    let round_trips = round_trips::per_request(&requests).await?;
    for (scenario, count) in Scenario::ALL.iter().zip(&round_trips) {
        eprintln!("round trips: {}: {count}", scenario.name());
    }

    let argon2_ms = costs::argon2_verify_ms().await?;

    eprintln!("starting the HTTP server over the handlers...");
    let mut server = server::spawn(None).await?;
    let server_pid = server.id().context("server pid")?;
    let scratch = std::env::temp_dir().join("messaging-bench");
    std::fs::create_dir_all(&scratch)?;
    let mut results = Vec::new();
    for (i, scenario) in Scenario::ALL.into_iter().enumerate() {
        let mut figures: Vec<Figures> = Vec::new();
        for connections in CONCURRENCIES {
            eprintln!("wrk: {} at c={connections}", scenario.name());
            let measured = load::median_run(
                runs,
                &server::base_url(),
                &requests[i],
                connections,
                duration,
                &scratch,
            )?;
            eprintln!("      {measured:?}");
            figures.push(measured);
        }
        results.push(ScenarioResult {
            scenario,
            c1: figures[0],
            c32: figures[1],
            statements: statements[i],
            round_trips: round_trips[i],
            ceiling: None,
        });
    }
    let peak_rss_kib = cold_start::peak_rss_kib(server_pid)?;
    server.kill().await?;

    let delivery = fanout::measure(&root, &scratch, &pool, &data, &inputs, duration, runs).await?;
    // Printed at once: the report is written only at the end of the run.
    eprintln!("      {delivery:?}");

    eprintln!("raw-SQL ceiling...");
    let ceiling_inputs = ceiling::Inputs::prepare(&pool, &data).await?;
    for result in &mut results {
        if let Some(op) = result.scenario.ceiling_op() {
            result.ceiling = Some(ceiling::of(op, &ceiling_inputs, runs).await?);
        }
    }
    eprintln!("autocommit INSERT of a send's row...");
    let autocommit_insert =
        autocommit_insert::measure(&pool, data.autocommit_conversation, data.pager.id, runs)
            .await?;
    eprintln!("      {autocommit_insert:.0} inserts/s");

    eprintln!("cold starts...");
    let cold_starts = cold_start::measure(
        &root,
        &scratch,
        &pool,
        &data,
        &inputs,
        delivery.fanout_peak_rss_kib,
    )
    .await?;

    eprintln!("the cargo lambda watch path...");
    let watch_env = settings::function_env(&scratch, "watch.log");
    let watch = watch::measure(
        &root,
        &watch_env,
        &Scenario::PageOne.request(&inputs),
        duration,
        runs,
        &scratch,
    )
    .await?;

    eprintln!("rate-limit bookkeeping...");
    let rate_limit_ms = costs::rate_limit_statement_ms(&pool, data.pager.id).await?;

    eprintln!("sends with three attachments...");
    let attachments = attachments::measure(
        &gateway,
        &state,
        data.send_conversation,
        &inputs.pager_token,
    )
    .await?;

    let report = Report {
        attachments,
        duration,
        runs,
        load_before,
        load_after: load_average(),
        argon2_ms,
        peak_rss_kib,
        results,
        autocommit_insert,
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

/// /proc/loadavg: the load averages over 1, 5 and 15 minutes, the running
/// and all tasks, the last pid.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}
