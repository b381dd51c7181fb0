//! Benchmark 5: the same adapter in three languages. testCRM (Rust),
//! jsTestCRM (TypeScript) and pyTestCRM (Python) each serve
//! `POST /callLog` alone in a release server on SQLite, under the same
//! load, first with a fresh instance per call (the default) and then with
//! the operator's opt-in `[runtime] reuse = "per-user"` (the load is one
//! user's); each rate is printed with its ratio to testCRM's default,
//! measured in the same run, by our generator and by wrk.
//!
//! The TypeScript and Python components come from `cargo xtask build
//! --examples`; their artifacts are kept in the suite's shared cache, so a
//! run compiles each at most once.

use crate::http::{create_requests, successful};
use crate::load::{self, Load};
use crate::process::{Scratch, Server};
use crate::report::Table;
use anyhow::Result;
use std::path::Path;
use std::time::Duration;
use switchboard_tests::{artifacts, examples};

/// Run every language in turn.
pub(crate) async fn run(server_binary: &Path, load: Load, table: &mut Table) -> Result<()> {
    let adapters = [
        ("testCRM (Rust)", "testCRM", artifacts::TESTCRM.to_owned()),
        ("jsTestCRM (TypeScript)", "jsTestCRM", examples::jstestcrm()),
        ("pyTestCRM (Python)", "pyTestCRM", examples::pytestcrm()),
    ];
    let policies = [
        ("", None),
        (
            ", reused per user",
            Some("[runtime]\nreuse = \"per-user\"\n"),
        ),
    ];
    let mut rust: Option<(f64, Option<f64>)> = None;
    for ((language, platform, component), (policy, operator)) in policies
        .into_iter()
        .flat_map(|policy| adapters.clone().map(|adapter| (adapter, policy)))
    {
        let name = format!("{language}{policy}");
        let scratch = Scratch::new()?;
        let path = Path::new(&component);
        std::fs::copy(
            path,
            scratch.plugins.join(path.file_name().expect("a file name")),
        )?;
        if let Some(operator) = operator {
            let stem = path.file_stem().expect("a file name").to_string_lossy();
            std::fs::write(scratch.plugins.join(format!("{stem}.toml")), operator)?;
        }
        let cache = vec!["--cache-dir".to_owned(), examples::shared_cache()];
        let mut server =
            Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &cache)?;
        // A first compile of a 13–18 MiB component takes 10 s or more.
        server.ready(Duration::from_secs(180)).await?;
        let addr = server.addr;
        let token = load::login(addr, platform, "bench-key", "crm.example").await?;
        let path = format!("/callLog?jwtToken={token}");
        let post = create_requests(addr, path.clone(), "load");
        let created = load::run(&[addr], load, post, successful()).await?;
        let row = format!("{name}: POST /callLog, new session each (ratio: to testCRM)");
        let baseline = rust.map(|(ours, _)| ours);
        table.row(&row, load, &created, baseline, Some(server.usage()?));
        let wrk = crate::wrk::post_creates(addr, &[path], "wrk", load)?;
        if let Some(wrk) = &wrk {
            table.wrk_row(&name, load, wrk, rust.and_then(|(_, wrk)| wrk));
        }
        if rust.is_none() {
            rust = Some((created.rps(), wrk.map(|w| w.rps)));
        }
        server.stop()?;
    }
    Ok(())
}
