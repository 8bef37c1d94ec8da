//! Load from wrk, a separate process on the loopback, and its figures.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// One HTTP request a scenario repeats.
#[derive(Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<String>,
    /// 2xx for most scenarios; the invalid-token one expects 401.
    pub expect_success: bool,
    /// When not empty, each wrk thread cycles through these paths instead of
    /// `path` (one conversation per sender, say).
    pub spread: Vec<String>,
}

impl Request {
    /// A GET with `token` as its bearer, that must answer 2xx.
    pub fn get(path: impl Into<String>, token: Option<&str>) -> Self {
        Request {
            method: "GET",
            path: path.into(),
            token: token.map(str::to_string),
            body: None,
            expect_success: true,
            spread: Vec::new(),
        }
    }

    /// A POST of the JSON `body` with `token` as its bearer, that must
    /// answer 2xx.
    pub fn post(path: impl Into<String>, token: Option<&str>, body: &serde_json::Value) -> Self {
        Request {
            method: "POST",
            body: Some(body.to_string()),
            ..Request::get(path, token)
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
}

fn lua_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn script(request: &Request) -> String {
    let mut lua = format!(
        "wrk.method = {}\nwrk.path = {}\n",
        lua_string(request.method),
        lua_string(&request.path)
    );
    lua.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    if let Some(token) = &request.token {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = {}\n",
            lua_string(&format!("Bearer {token}"))
        ));
    }
    if let Some(body) = &request.body {
        lua.push_str(&format!("wrk.body = {}\n", lua_string(body)));
    }
    if !request.spread.is_empty() {
        let paths: Vec<String> = request.spread.iter().map(|p| lua_string(p)).collect();
        lua.push_str(&format!(
            "local paths = {{{}}}\nlocal i = 0\n\
             request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n",
            paths.join(", ")
        ));
    }
    lua
}

fn duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1_000.0,
        "ms" => number,
        "s" => number * 1_000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

pub fn parse(output: &str, expect_success: bool) -> anyhow::Result<Figures> {
    let mut figures = Figures::default();
    let mut non_2xx = 0;
    let mut socket_errors = 0;
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => figures.p50_ms = duration_ms(value).context("p50")?,
            ["99%", value] => figures.p99_ms = duration_ms(value).context("p99")?,
            ["Requests/sec:", value] => figures.requests_per_sec = value.parse()?,
            [count, "requests", "in", ..] => figures.requests = count.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", count] => non_2xx = count.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum()
            }
            _ => {}
        }
    }
    if figures.requests == 0 {
        // Nothing answered within the run: a figure too (shown as inf), not
        // a failed benchmark.
        eprintln!("      wrk saw no request answered within the run");
        figures.requests_per_sec = 0.0;
        figures.p50_ms = f64::INFINITY;
        figures.p99_ms = f64::INFINITY;
        return Ok(figures);
    }
    let unexpected = if expect_success {
        non_2xx
    } else {
        figures.requests - non_2xx.min(figures.requests)
    };
    figures.errors = unexpected + socket_errors;
    Ok(figures)
}

/// Runs wrk against `base` with `connections` clients for `duration`.
pub fn run(
    base: &str,
    request: &Request,
    connections: u32,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Figures> {
    let script_path = dir.join("scenario.lua");
    std::fs::write(&script_path, script(request))?;
    let threads = connections.min(2);
    let output = Command::new("wrk")
        .args([
            "--latency",
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
        ])
        .args([
            "-d",
            &format!("{}s", duration.as_secs()),
            "--timeout",
            "10s",
            "-s",
        ])
        .arg(&script_path)
        .arg(base)
        .output()
        .context("run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text, request.expect_success)
}

/// `runs` runs of [`run`], and the one with the median requests per second:
/// one run on shared cores can be off by a third.
pub fn median_run(
    runs: u32,
    base: &str,
    request: &Request,
    connections: u32,
    duration: Duration,
    scratch: &Path,
) -> anyhow::Result<Figures> {
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        all.push(run(base, request, connections, duration, scratch)?);
    }
    all.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    Ok(all[all.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:8080
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.00ms  20.00ms   90.00%
  Latency Distribution
     50%    1.50ms
     75%    2.00ms
     90%    3.00ms
     99%  850.00us
  12345 requests in 10.00s, 1.00MB read
  Non-2xx or 3xx responses: 5
Requests/sec:   1234.50
Transfer/sec:    100.00KB
";

    #[test]
    fn wrk_output_is_read() {
        let figures = parse(SAMPLE, true).unwrap();
        assert_eq!(figures.requests, 12345);
        assert_eq!(figures.errors, 5);
        assert!((figures.p50_ms - 1.5).abs() < 1e-9);
        assert!((figures.p99_ms - 0.85).abs() < 1e-9);
        assert!((figures.requests_per_sec - 1234.5).abs() < 1e-9);
    }

    #[test]
    fn expected_refusals_are_not_errors() {
        let output = SAMPLE.replace(
            "Non-2xx or 3xx responses: 5",
            "Non-2xx or 3xx responses: 12345",
        );
        assert_eq!(parse(&output, false).unwrap().errors, 0);
    }
}
