//! Benchmark 2c: what watching costs. The `POST` and `GET /callLog` runs of
//! the SQLite benchmark again, first on a server with Prometheus metrics on
//! (`--metrics-listen`, scraped every second as Prometheus would) and JSON
//! logs (`--log-format json`), then with OpenTelemetry traces exported too
//! (`--otlp-endpoint`, to the test suite's OTLP receiver in this process),
//! each against the SQLite run of the same invocation, which had all of
//! them off. The table's ratio column is to the baseline, as for every
//! row; the cost is printed after the table.

use crate::http::{
    Baselines, SqliteFigures, create_requests, find_requests, five_found, seed, successful,
};
use crate::load::{self, Load};
use crate::process::{Scratch, Server, free_port};
use crate::report::{Table, facts};
use anyhow::{Result, ensure};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use switchboard_tests::artifacts;
use switchboard_tests::otlp::OtlpReceiver;

pub(crate) async fn run(
    server_binary: &Path,
    load: Load,
    baselines: Baselines,
    sqlite: SqliteFigures,
    table: &mut Table,
) -> Result<()> {
    let collector = OtlpReceiver::start().await;
    let mut costs = Vec::new();
    for (name, traced) in [
        ("metrics + JSON logs", false),
        ("metrics + JSON logs + OTLP traces", true),
    ] {
        let otlp = traced.then_some(collector.url.as_str());
        let watched = watched(server_binary, load, baselines, otlp, name, table).await?;
        let cost = |watched: f64, plain: f64| format!("{:.1}%", (1.0 - watched / plain) * 100.0);
        costs.push((
            format!("{name}: POST /callLog"),
            cost(watched.post_rps, sqlite.post_rps),
        ));
        costs.push((
            format!("{name}: GET /callLog, 5 ids"),
            cost(watched.get_rps, sqlite.get_rps),
        ));
    }
    let spans = collector.spans().len();
    ensure!(spans > 0, "the traced server exported no span");
    costs.push(("spans the collector received".into(), spans.to_string()));
    let facts_list: Vec<(&str, String)> = costs
        .iter()
        .map(|(name, value)| (name.as_str(), value.clone()))
        .collect();
    facts(
        "Cost of watching (throughput lost against the SQLite run above)",
        &facts_list,
    );
    Ok(())
}

/// `POST` and `GET` on a server with metrics and JSON logs on, and traces
/// exported to `otlp` when given.
async fn watched(
    server_binary: &Path,
    load: Load,
    baselines: Baselines,
    otlp: Option<&str>,
    name: &str,
    table: &mut Table,
) -> Result<SqliteFigures> {
    let scratch = Scratch::new()?;
    std::fs::copy(artifacts::TESTCRM, scratch.plugins.join("testcrm.wasm"))?;
    let metrics = free_port()?.to_string();
    let mut args = vec!["--metrics-listen", &metrics, "--log-format", "json"];
    if let Some(otlp) = otlp {
        args.extend(["--otlp-endpoint", otlp]);
    }
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &args)?;
    server.ready(Duration::from_secs(60)).await?;
    let addr = server.addr;
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = tokio::spawn(scrape_every_second(metrics.clone(), scrapes.clone()));
    let token = load::login(addr, "testCRM", "bench-key", "crm.example").await?;

    let post = create_requests(addr, format!("/callLog?jwtToken={token}"), "watched");
    let created = load::run(&[addr], load, post, successful()).await?;
    table.row(
        &format!("SQLite, {name}: POST /callLog"),
        load,
        &created,
        Some(baselines.ours),
        Some(server.usage()?),
    );
    seed(addr, &token).await?;
    let get = find_requests(addr, &token, false);
    let found = load::run(&[addr], load, get, five_found()).await?;
    table.row(
        &format!("SQLite, {name}: GET /callLog, 5 ids"),
        load,
        &found,
        Some(baselines.ours),
        Some(server.usage()?),
    );
    scraper.abort();
    ensure!(
        scrapes.load(Ordering::Relaxed) > 0 || load.duration < Duration::from_secs(1),
        "no scrape of /metrics succeeded"
    );
    let exported = scrape(&metrics).await?;
    ensure!(
        exported.contains("switchboard_http_requests_total"),
        "the metrics endpoint did not count the load"
    );
    server.stop()?;
    Ok(SqliteFigures {
        post_rps: created.rps(),
        get_rps: found.rps(),
    })
}

/// `GET /metrics` every second, as Prometheus would, until aborted,
/// counting the scrapes that succeeded.
async fn scrape_every_second(address: String, scrapes: Arc<AtomicUsize>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        match scrape(&address).await {
            Ok(_) => {
                scrapes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("scraping {address}: {e:#}"),
        }
    }
}

async fn scrape(address: &str) -> Result<String> {
    let response = reqwest::get(format!("http://{address}/metrics")).await?;
    ensure!(
        response.status() == 200,
        "/metrics answered {}",
        response.status()
    );
    Ok(response.text().await?)
}
