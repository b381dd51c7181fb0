//! Benchmark 4: many adapters. Copies of testCRM, each under its own
//! platform name, in one plugins directory: start-up with an empty artifact
//! cache (every copy compiled) and with a warm one, memory, and latency of
//! creates spread over all of them.

use crate::load::{self, Load, MakeRequest, write_request};
use crate::process::{Scratch, Server};
use crate::report::{self, Table};
use anyhow::{Result, ensure};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
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

pub(crate) async fn run(
    server_binary: &Path,
    adapters: usize,
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
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &[])?;
    let cold = server.ready(Duration::from_secs(600)).await?;
    let cold_usage = server.usage()?;
    server.stop()?;

    // Warm: the same directories again; every artifact is in the cache.
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &[])?;
    let warm = server.ready(Duration::from_secs(60)).await?;
    let warm_usage = server.usage()?;
    let addr = server.addr;

    let mut tokens = Vec::with_capacity(adapters);
    for n in 0..adapters {
        tokens.push(load::login(addr, &platform(n), "bench-key", "crm.example").await?);
    }
    // Each request goes to the next platform, so every adapter serves.
    let tokens = Arc::new(tokens);
    let template = crate::http::create_template();
    let post: MakeRequest = Arc::new(move |connection, seq, out| {
        let n = (connection as u64 * 7919 + seq) as usize % tokens.len();
        let session = format!("many-{connection}-{seq}");
        let parts = [
            template.before.as_slice(),
            session.as_bytes(),
            template.after.as_slice(),
        ];
        let path = format!("/callLog?jwtToken={}", tokens[n]);
        write_request(out, "POST", addr, &path, &parts);
    });
    let outcome = load::run(&[addr], load, post, crate::http::successful()).await?;
    ensure!(
        outcome.errors == 0,
        "creates failed: {:?}",
        outcome.first_error
    );
    let after = server.usage()?;
    table.row(
        &format!("POST /callLog spread over {adapters} testCRM copies"),
        load,
        &outcome,
        None,
        Some(after),
    );
    server.stop()?;

    report::facts(
        &format!("Many adapters: {adapters} copies of testCRM under distinct platforms"),
        &[
            (
                "cold start (empty cache, every copy compiled) to /healthz 200",
                format!("{:.2} s", cold.as_secs_f64()),
            ),
            (
                "peak RSS after the cold start",
                format!("{:.0} MiB", cold_usage.peak_rss_mib),
            ),
            (
                "warm start (cached artifacts) to /healthz 200",
                format!("{:.2} s", warm.as_secs_f64()),
            ),
            (
                "RSS after the warm start",
                format!("{:.0} MiB", warm_usage.rss_mib),
            ),
            (
                "peak RSS after the load run",
                format!("{:.0} MiB", after.peak_rss_mib),
            ),
            (
                "creates over all adapters",
                format!(
                    "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms ({} connections)",
                    outcome.rps(),
                    outcome.ms(0.5),
                    outcome.ms(0.99),
                    outcome.ms(0.999),
                    load.connections
                ),
            ),
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
