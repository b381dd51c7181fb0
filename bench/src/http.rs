//! Benchmark 2: HTTP throughput and latency of the three call-log
//! operations against a release server with testCRM, beside the baseline
//! server answering the same `POST` with a fixed body.

use crate::load::{self, CheckBody, Load, MakeRequest, json_request};
use crate::process::{Scratch, Server};
use crate::report::Table;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchboard_tests::{artifacts, create_body};

/// Sessions created before the read and update runs, which pick among them.
const SEEDED_SESSIONS: u64 = 500;

pub(crate) async fn run(server_binary: &Path, load: Load, table: &mut Table) -> Result<()> {
    let successful: CheckBody = Arc::new(|body| contains(body, br#""successful":true"#));

    // The baseline first, alone on the machine.
    let mut baseline = Server::baseline()?;
    baseline.ready(Duration::from_secs(10)).await?;
    let addr = baseline.addr;
    let post = create_requests(addr, "/callLog".into());
    let floor = load::run(addr, load, post, successful.clone()).await?;
    table.row(
        "baseline: POST /callLog (fixed JSON)",
        load,
        &floor,
        Some(floor.rps()),
        None,
    );
    // The same baseline through wrk: the two generators should agree.
    let body = create_body("wrk", serde_json::json!(42), "Discussed renewal");
    match crate::wrk::post(addr, "/callLog", &serde_json::to_vec(&body)?, load)? {
        Some(wrk) => table.line(&format!(
            "| baseline measured by wrk (same POST, {:?} incl. warm-up) | {} | {:.0} | {:.2} | {:.2} | - | - | {:.2} of ours | - |",
            crate::wrk::duration(load),
            load.connections,
            wrk.rps,
            wrk.p50_ms,
            wrk.p99_ms,
            wrk.rps / floor.rps(),
        )),
        None => eprintln!("wrk is not installed (apt-get install wrk): the baseline is not cross-checked"),
    }
    baseline.stop()?;
    let floor_rps = floor.rps();

    let scratch = Scratch::new()?;
    std::fs::copy(artifacts::TESTCRM, scratch.plugins.join("testcrm.wasm"))?;
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &[])?;
    server.ready(Duration::from_secs(60)).await?;
    let addr = server.addr;
    let token = load::login(addr, "testCRM", "bench-key", "crm.example").await?;

    let post = create_requests(addr, format!("/callLog?jwtToken={token}"));
    let created = load::run(addr, load, post, successful.clone()).await?;
    table.row(
        "POST /callLog (testCRM, new session each)",
        load,
        &created,
        Some(floor_rps),
        Some(server.usage()?),
    );

    // Sessions for the reads and updates to find.
    for n in 0..SEEDED_SESSIONS {
        let body = create_body(&format!("seed-{n}"), serde_json::json!(42), "seeded");
        load::once(addr, "POST", &format!("/callLog?jwtToken={token}"), &body).await?;
    }
    for details in [false, true] {
        let token = token.clone();
        let get: MakeRequest = Arc::new(move |connection, seq| {
            let first = (connection as u64 * 7919 + seq * 5) % SEEDED_SESSIONS;
            let ids: Vec<String> = (0..5)
                .map(|i| format!("seed-{}", (first + i) % SEEDED_SESSIONS))
                .collect();
            json_request(
                "GET",
                addr,
                &format!(
                    "/callLog?jwtToken={token}&sessionIds={}&requireDetails={details}",
                    ids.join(",")
                ),
                Vec::new(),
            )
        });
        // Every one of the five must be found.
        let found: CheckBody = Arc::new(|body| {
            contains(body, br#""successful":true"#)
                && body.windows(8).filter(|w| w == br#""logId":"#).count() == 5
        });
        let outcome = load::run(addr, load, get, found).await?;
        let name = if details {
            "GET /callLog, 5 ids, with details"
        } else {
            "GET /callLog, 5 ids, no details"
        };
        table.row(name, load, &outcome, Some(floor_rps), Some(server.usage()?));
    }

    let patch: MakeRequest = Arc::new(move |connection, seq| {
        let n = (connection as u64 * 7919 + seq) % SEEDED_SESSIONS;
        let body = serde_json::json!({
            "sessionId": format!("seed-{n}"),
            "subject": format!("Renewal call {seq}"),
            "note": format!("Updated note {connection}-{seq}"),
        });
        json_request(
            "PATCH",
            addr,
            &format!("/callLog?jwtToken={token}"),
            serde_json::to_vec(&body).expect("JSON"),
        )
    });
    let updated = load::run(addr, load, patch, successful).await?;
    table.row(
        "PATCH /callLog (subject + note)",
        load,
        &updated,
        Some(floor_rps),
        Some(server.usage()?),
    );
    server.stop()
}

/// `POST path` with the reference call under a session id no other request uses.
fn create_requests(addr: std::net::SocketAddr, path: String) -> MakeRequest {
    Arc::new(move |connection, seq| {
        let body = create_body(
            &format!("load-{connection}-{seq}"),
            serde_json::json!(42),
            "Discussed renewal",
        );
        json_request(
            "POST",
            addr,
            &path,
            serde_json::to_vec(&body).expect("JSON"),
        )
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
