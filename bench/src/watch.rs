//! The `cargo lambda watch` path, measured once beside the direct one: the
//! same release binaries behind the emulator's HTTP router and Runtime API,
//! one instance per function, as `./scripts/run-local.sh` serves them.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::load::{self, Figures, Request};

const PORT: u16 = 9_100;

/// Figures at concurrency 1 and 32, or `None` when cargo-lambda is missing.
pub async fn measure(
    root: &Path,
    env: &[(&str, String)],
    request: &Request,
    duration: Duration,
    runs: u32,
    scratch: &Path,
) -> anyhow::Result<Option<(Figures, Figures)>> {
    let available = tokio::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .await;
    if !available.is_ok_and(|o| o.status.success()) {
        return Ok(None);
    }
    let mut command = tokio::process::Command::new("cargo");
    command
        .args([
            "lambda",
            "watch",
            "--release",
            "--invoke-address",
            "127.0.0.1",
            "--disable-cors",
        ])
        .args(["--invoke-port", &PORT.to_string()])
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().context("start cargo lambda watch")?;
    let group = child.id().context("watch pid")?;
    let result = run(request, duration, runs, scratch).await;
    // The emulator starts the functions as its own children: stop its whole
    // process group (never group 0 or 1, which would mean others).
    if let Ok(group) = i32::try_from(group)
        && group > 1
    {
        // SAFETY: kill(2) with a negative pid only signals that process group.
        unsafe {
            libc::kill(-group, libc::SIGTERM);
        }
    }
    result.map(Some)
}

async fn run(
    request: &Request,
    duration: Duration,
    runs: u32,
    scratch: &Path,
) -> anyhow::Result<(Figures, Figures)> {
    let base = format!("http://127.0.0.1:{PORT}");
    // The first request starts (and if needed builds) the function.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let probe = load::run(&base, request, 1, Duration::from_secs(1), scratch);
        if probe.is_ok_and(|f| f.errors == 0) {
            break;
        }
        if Instant::now() > deadline {
            bail!("cargo lambda watch did not answer within 10 minutes");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let one = load::median_run(runs, &base, request, 1, duration, scratch)?;
    let many = load::median_run(runs, &base, request, 32, duration, scratch)?;
    Ok((one, many))
}
