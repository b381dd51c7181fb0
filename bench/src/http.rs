//! Benchmark 2: HTTP throughput and latency of the call-log operations
//! against a release server with testCRM on SQLite, beside the baseline
//! server answering the same `POST` with a fixed body. The baseline, `POST`
//! and `GET` are measured by our generator and by wrk, and both are
//! printed: each ratio is against the baseline of the same generator.

use crate::load::{self, CheckBody, Load, MakeRequest, Template, write_request};
use crate::process::{Scratch, Server};
use crate::report::Table;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchboard_tests::{artifacts, create_body};

/// Sessions created before the read and update runs, which pick among them.
pub(crate) const SEEDED_SESSIONS: u64 = 500;

/// The baselines the ratios are divided by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Baselines {
    /// Our generator's.
    pub(crate) ours: f64,
    /// wrk's, when wrk is installed.
    pub(crate) wrk: Option<f64>,
}

/// What the SQLite run measured, for the PostgreSQL run to compare with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqliteFigures {
    pub(crate) post_rps: f64,
    pub(crate) get_rps: f64,
}

pub(crate) fn successful() -> CheckBody {
    Arc::new(|body| memchr::memmem::find(body, br#""successful":true"#).is_some())
}

/// `GET` answers whose five sessions are all found.
pub(crate) fn five_found() -> CheckBody {
    Arc::new(|body| {
        memchr::memmem::find(body, br#""successful":true"#).is_some()
            && memchr::memmem::find_iter(body, br#""logId":"#).count() == 5
    })
}

/// The create body, with the session id cut out.
pub(crate) fn create_template() -> Template {
    let body = create_body(Template::MARKER, serde_json::json!(42), "Discussed renewal");
    Template::new(&body).expect("the create body holds the marker")
}

/// `POST path` with the reference call under a session id no other request
/// of the run uses (`<tag>-<connection>-<seq>`).
pub(crate) fn create_requests(addr: SocketAddr, path: String, tag: &'static str) -> MakeRequest {
    let template = create_template();
    Arc::new(move |connection, seq, out| {
        let session = format!("{tag}-{connection}-{seq}");
        let parts = [
            template.before.as_slice(),
            session.as_bytes(),
            template.after.as_slice(),
        ];
        write_request(out, "POST", addr, &path, &parts);
    })
}

/// `GET` of five seeded sessions, consecutive from one that moves with
/// each request.
pub(crate) fn find_requests(addr: SocketAddr, token: &str, details: bool) -> MakeRequest {
    let prefix = format!("/callLog?jwtToken={token}&requireDetails={details}&sessionIds=");
    Arc::new(move |connection, seq, out| {
        let first = (connection as u64 * 7919 + seq * 5) % SEEDED_SESSIONS;
        let mut path = prefix.clone();
        for i in 0..5 {
            if i > 0 {
                path.push(',');
            }
            path.push_str(&format!("seed-{}", (first + i) % SEEDED_SESSIONS));
        }
        write_request(out, "GET", addr, &path, &[]);
    })
}

/// Create the sessions `seed-0` … for the reads and updates to find.
pub(crate) async fn seed(addr: SocketAddr, token: &str) -> Result<()> {
    for n in 0..SEEDED_SESSIONS {
        let body = create_body(&format!("seed-{n}"), serde_json::json!(42), "seeded");
        load::once(addr, "POST", &format!("/callLog?jwtToken={token}"), &body).await?;
    }
    Ok(())
}

/// The baseline alone on the machine, by both generators.
pub(crate) async fn baselines(load: Load, table: &mut Table) -> Result<Baselines> {
    let mut baseline = Server::baseline()?;
    baseline.ready(Duration::from_secs(10)).await?;
    let addr = baseline.addr;
    let post = create_requests(addr, "/callLog".into(), "load");
    let floor = load::run(&[addr], load, post, successful()).await?;
    table.row(
        "baseline: POST /callLog (fixed JSON answer)",
        load,
        &floor,
        Some(floor.rps()),
        None,
    );
    let wrk = crate::wrk::post_creates(addr, &["/callLog".to_owned()], "wrk", load)?;
    match &wrk {
        Some(wrk) => {
            table.wrk_row("baseline: POST /callLog", load, wrk, Some(wrk.rps));
            table.line(&format!(
                "| our generator's baseline / wrk's | - | {:.2} | - | - | - | - | - | - |",
                floor.rps() / wrk.rps
            ));
        }
        None => eprintln!(
            "wrk is not installed (apt-get install wrk): the baseline is not cross-checked"
        ),
    }
    baseline.stop()?;
    Ok(Baselines {
        ours: floor.rps(),
        wrk: wrk.map(|w| w.rps),
    })
}

/// Switchboard on SQLite: creates, lookups (with and without details) and
/// updates.
pub(crate) async fn run(
    server_binary: &Path,
    load: Load,
    baselines: Baselines,
    table: &mut Table,
) -> Result<SqliteFigures> {
    let scratch = Scratch::new()?;
    std::fs::copy(artifacts::TESTCRM, scratch.plugins.join("testcrm.wasm"))?;
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &[])?;
    server.ready(Duration::from_secs(60)).await?;
    let addr = server.addr;
    let token = load::login(addr, "testCRM", "bench-key", "crm.example").await?;

    let post = create_requests(addr, format!("/callLog?jwtToken={token}"), "load");
    let created = load::run(&[addr], load, post, successful()).await?;
    table.row(
        "SQLite: POST /callLog (testCRM, new session each)",
        load,
        &created,
        Some(baselines.ours),
        Some(server.usage()?),
    );
    let path = format!("/callLog?jwtToken={token}");
    if let Some(wrk) = crate::wrk::post_creates(addr, std::slice::from_ref(&path), "wrk", load)? {
        table.wrk_row("SQLite: POST /callLog", load, &wrk, baselines.wrk);
    }

    seed(addr, &token).await?;
    let mut get_rps = 0.0;
    for details in [false, true] {
        let get = find_requests(addr, &token, details);
        let outcome = load::run(&[addr], load, get, five_found()).await?;
        let name = if details {
            "SQLite: GET /callLog, 5 ids, with details"
        } else {
            get_rps = outcome.rps();
            "SQLite: GET /callLog, 5 ids, no details"
        };
        table.row(
            name,
            load,
            &outcome,
            Some(baselines.ours),
            Some(server.usage()?),
        );
    }
    let prefix = format!("/callLog?jwtToken={token}&requireDetails=false&sessionIds=");
    if let Some(wrk) = crate::wrk::get_five(addr, &prefix, SEEDED_SESSIONS, load)? {
        table.wrk_row("SQLite: GET /callLog, 5 ids", load, &wrk, baselines.wrk);
    }

    let patch: MakeRequest = Arc::new(move |connection, seq, out| {
        let n = (connection as u64 * 7919 + seq) % SEEDED_SESSIONS;
        let body = serde_json::json!({
            "sessionId": format!("seed-{n}"),
            "subject": format!("Renewal call {seq}"),
            "note": format!("Updated note {connection}-{seq}"),
        });
        let body = serde_json::to_vec(&body).expect("JSON");
        write_request(out, "PATCH", addr, &path, &[&body]);
    });
    let updated = load::run(&[addr], load, patch, successful()).await?;
    table.row(
        "SQLite: PATCH /callLog (subject + note)",
        load,
        &updated,
        Some(baselines.ours),
        Some(server.usage()?),
    );
    server.stop()?;
    Ok(SqliteFigures {
        post_rps: created.rps(),
        get_rps,
    })
}
