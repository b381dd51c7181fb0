//! Benchmark 4: many adapters. Copies of testCRM, each under its own
//! platform name, in one plugins directory: start-up with an empty artifact
//! cache (every copy compiled) and with a warm one (each to the first
//! platform served and to ready, with what it compiled and its peak RSS),
//! and creates spread over all of them against creates to one, by our
//! generator and by wrk.

use crate::load::{self, Load, MakeRequest, write_request};
use crate::process::{Scratch, Server, Usage};
use crate::report::{self, Table};
use anyhow::{Context, Result, ensure};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_tests::artifacts;

/// The platform testCRM's manifest names; every copy replaces it with a
/// name of the same length, so the component stays valid byte for byte.
const PLATFORM: &[u8] = b"testCRM";

/// The platform of copy `n`: `t` and six digits, as long as `testCRM`.
fn platform(n: usize) -> String {
    format!("t{n:06}")
}

/// testCRM with every occurrence of its platform name replaced. The name is
/// a string in the component's data segment; nothing else spells it.
fn copy_of_testcrm(testcrm: &[u8], platform: &str) -> Vec<u8> {
    let mut bytes = testcrm.to_vec();
    let mut at = 0;
    while let Some(found) = bytes[at..]
        .windows(PLATFORM.len())
        .position(|w| w == PLATFORM)
    {
        let start = at + found;
        bytes[start..start + PLATFORM.len()].copy_from_slice(platform.as_bytes());
        at = start + PLATFORM.len();
    }
    bytes
}

/// How one start went: when the first platform served, when `/healthz`
/// said ready, what it compiled, and its memory then.
struct Start {
    first_served: Duration,
    ready: Duration,
    compiled: u64,
    usage: Usage,
}

/// Start a server on `scratch` and follow its start-up: the first
/// platform `/healthz` lists as serving, until a login to it succeeds, and
/// `/healthz` until it is ready; both timed from just before the spawn.
async fn start(
    server_binary: &Path,
    scratch: &Scratch,
    deadline: Duration,
) -> Result<(Server, Start)> {
    let started = Instant::now();
    let log_json = ["--log-format".to_owned(), "json".to_owned()];
    let mut server =
        Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &log_json)?;
    let addr = server.addr;
    let first_served = loop {
        if let Ok((_, health)) = load::request(addr, "GET", "/healthz", &Value::Null).await
            && let Some(first) = health["adapters"][0]["platform"].as_str()
            && load::login(addr, first, "bench-key", "crm.example")
                .await
                .is_ok()
        {
            break started.elapsed();
        }
        ensure!(
            started.elapsed() < deadline,
            "no platform served after {deadline:?}"
        );
        server.exited()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let left = deadline.saturating_sub(started.elapsed());
    server.ready(left).await?;
    let ready = started.elapsed();
    let compiled = compiled_at_start(&scratch.log())?;
    let usage = server.usage()?;
    Ok((
        server,
        Start {
            first_served,
            ready,
            compiled,
            usage,
        },
    ))
}

/// The components the server compiled during start-up, from its JSON log
/// line `adapters loaded`; the log is appended to, so the last such line.
fn compiled_at_start(log: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(log)?;
    text.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "adapters loaded")
        .and_then(|line| line["compiled"].as_u64())
        .with_context(|| format!("no `adapters loaded` line in {}", log.display()))
}

/// `POST` creates with a new session each, every request to the next of
/// `paths` (one per platform's `jwtToken`).
fn creates_over(addr: std::net::SocketAddr, paths: &[String], tag: &'static str) -> MakeRequest {
    let paths: Arc<[String]> = Arc::from(paths);
    let template = crate::http::create_template();
    Arc::new(move |connection, seq, out| {
        let n = (connection as u64 * 7919 + seq) as usize % paths.len();
        let session = format!("{tag}-{connection}-{seq}");
        let parts = [
            template.before.as_slice(),
            session.as_bytes(),
            template.after.as_slice(),
        ];
        write_request(out, "POST", addr, &paths[n], &parts);
    })
}

pub(crate) async fn run(
    server_binary: &Path,
    adapters: usize,
    start_deadline: Duration,
    load: Load,
    table: &mut Table,
) -> Result<()> {
    let scratch = Scratch::new()?;
    let testcrm = std::fs::read(artifacts::TESTCRM)?;
    for n in 0..adapters {
        let name = platform(n);
        std::fs::write(
            scratch.plugins.join(format!("{name}.wasm")),
            copy_of_testcrm(&testcrm, &name),
        )?;
    }

    // Cold: an empty data directory, so no precompiled artifacts.
    let (server, cold) = start(server_binary, &scratch, start_deadline).await?;
    server.stop()?;
    // Warm: the same directories again; every artifact is in the cache.
    let (server, warm) = start(server_binary, &scratch, start_deadline).await?;
    let addr = server.addr;

    let mut tokens = Vec::with_capacity(adapters);
    for n in 0..adapters {
        tokens.push(load::login(addr, &platform(n), "bench-key", "crm.example").await?);
    }
    // One platform first: the spread's ratio is to it.
    let runs = [
        (
            format!("POST /callLog to one of {adapters} testCRM copies"),
            "one",
            vec![tokens[0].clone()],
        ),
        (
            format!("POST /callLog spread over all {adapters} (ratio: to one)"),
            "spread",
            tokens,
        ),
    ];
    let mut one: Option<(f64, Option<f64>)> = None;
    for (name, tag, tokens) in runs {
        let paths: Vec<String> = tokens
            .iter()
            .map(|token| format!("/callLog?jwtToken={token}"))
            .collect();
        let requests = creates_over(addr, &paths, tag);
        let outcome = load::run(&[addr], load, requests, crate::http::successful()).await?;
        ensure!(
            outcome.errors == 0,
            "creates failed: {:?}",
            outcome.first_error
        );
        let baseline = one.map(|(ours, _)| ours);
        table.row(&name, load, &outcome, baseline, Some(server.usage()?));
        let wrk = crate::wrk::post_creates(addr, &paths, &format!("wrk-{tag}"), load)?;
        if let Some(figures) = &wrk {
            table.wrk_row(&name, load, figures, one.and_then(|(_, wrk)| wrk));
        }
        one.get_or_insert((outcome.rps(), wrk.map(|w| w.rps)));
    }
    let after = server.usage()?;
    server.stop()?;

    let seconds = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mib = |m: f64| format!("{m:.0} MiB");
    report::facts(
        &format!("Many adapters: {adapters} copies of testCRM under distinct platforms"),
        &[
            (
                "cold start (empty cache) to /healthz 200",
                seconds(cold.ready),
            ),
            (
                "cold start: first platform served",
                seconds(cold.first_served),
            ),
            ("cold start: components compiled", cold.compiled.to_string()),
            ("cold start: peak RSS", mib(cold.usage.peak_rss_mib)),
            (
                "warm start (cached artifacts) to /healthz 200",
                seconds(warm.ready),
            ),
            (
                "warm start: first platform served",
                seconds(warm.first_served),
            ),
            ("warm start: components compiled", warm.compiled.to_string()),
            ("warm start: peak RSS", mib(warm.usage.peak_rss_mib)),
            ("peak RSS after the load runs", mib(after.peak_rss_mib)),
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_rename_every_occurrence_and_keep_the_length() {
        let original = b"..testCRM..xx testCRM".to_vec();
        let copy = copy_of_testcrm(&original, "t000042");
        assert_eq!(copy, b"..t000042..xx t000042");
        assert_eq!(platform(7).len(), PLATFORM.len());
    }
}
