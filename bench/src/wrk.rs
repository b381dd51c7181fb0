//! The baseline measured a second time, by `wrk`: if the two load
//! generators agree, ours is not the bottleneck, and the ratios divided by
//! its baseline figure are sound. Both figures are printed.

use crate::load::Load;
use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::process::Command;

/// What `wrk` measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WrkFigures {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Answers that were not 2xx or 3xx (wrk checks no body).
    pub(crate) non_2xx: u64,
}

/// `POST` creates with a new session each (`<tag>-<thread>-<n>`, in the
/// body of `http::create_template`); each request to one of `paths` at
/// random.
pub(crate) fn post_creates(
    addr: SocketAddr,
    paths: &[String],
    tag: &str,
    load: Load,
) -> Result<Option<WrkFigures>> {
    let template = crate::http::create_template();
    let (before, after) = (
        String::from_utf8_lossy(&template.before),
        String::from_utf8_lossy(&template.after),
    );
    let paths: String = paths.iter().map(|p| format!("  [==[{p}]==],\n")).collect();
    let script = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local paths = {{
{paths}}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local before, after, n = [==[{before}]==], [==[{after}]==], 0
function request()
  n = n + 1
  local path = paths[math.random(#paths)]
  return wrk.format(nil, path, nil, before .. "{tag}-" .. tid .. "-" .. n .. after)
end
"#
    );
    run(addr, "/", &script, load)
}

/// `GET <path_prefix><5 ids>`: five consecutive ids of `seed-0` …
/// `seed-<sessions - 1>`, from a random first one.
pub(crate) fn get_five(
    addr: SocketAddr,
    path_prefix: &str,
    sessions: u64,
    load: Load,
) -> Result<Option<WrkFigures>> {
    let script = format!(
        r#"function request()
  local first = math.random(0, {sessions} - 1)
  local ids = {{}}
  for i = 0, 4 do ids[#ids + 1] = "seed-" .. ((first + i) % {sessions}) end
  return wrk.format("GET", [==[{path_prefix}]==] .. table.concat(ids, ","))
end
"#
    );
    run(addr, "/", &script, load)
}

/// Run wrk with a Lua `script` against `addr`.
fn run(addr: SocketAddr, path: &str, script: &str, load: Load) -> Result<Option<WrkFigures>> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Ok(None);
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("script.lua");
    std::fs::write(&file, script)?;
    let seconds = duration(load).as_secs();
    let output = Command::new("wrk")
        .arg(format!("-t{}", load.connections.clamp(1, 2)))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&file)
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}");
    }
    parse(&text)
        .with_context(|| format!("unexpected wrk output:\n{text}"))
        .map(Some)
}

/// How long wrk runs for `load`: its warm-up and its counted time together
/// (wrk cannot leave a warm-up out), in whole seconds, at least one.
pub(crate) fn duration(load: Load) -> std::time::Duration {
    let total = (load.warmup + load.duration).as_secs_f64().ceil().max(1.0);
    std::time::Duration::from_secs_f64(total)
}

/// The figures of wrk's report.
fn parse(report: &str) -> Option<WrkFigures> {
    let field = |prefix: &str| {
        report
            .lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    Some(WrkFigures {
        rps: field("Requests/sec:")?.parse().ok()?,
        p50_ms: millis(field("50%")?)?,
        p99_ms: millis(field("99%")?)?,
        non_2xx: field("Non-2xx or 3xx responses:").map_or(Some(0), |n| n.parse().ok())?,
    })
}

/// `1.23ms`, `456.00us` or `1.02s` in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let report = "Running 10s test @ http://127.0.0.1:1/callLog
  2 threads and 64 connections
  Latency Distribution
     50%    1.20ms
     75%    1.50ms
     90%    1.90ms
     99%  850.00us
  480000 requests in 10.00s, 100.00MB read
Requests/sec:  48000.12
Transfer/sec:     10.00MB
";
        let figures = parse(report).expect("parses");
        assert!((figures.rps - 48000.12).abs() < 1e-6);
        assert!((figures.p50_ms - 1.2).abs() < 1e-9);
        assert!((figures.p99_ms - 0.85).abs() < 1e-9);
        assert_eq!(figures.non_2xx, 0);
        let failing = format!("{report}  Non-2xx or 3xx responses: 17\n");
        assert_eq!(parse(&failing).expect("parses").non_2xx, 17);
        assert_eq!(millis("1.5s"), Some(1500.0));
    }
}
