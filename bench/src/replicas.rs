//! Benchmark 2b: the same creates and lookups on PostgreSQL, with one
//! replica and with two behind the load tool (which spreads its
//! connections over both), all on this machine. Reported as ratios to the
//! SQLite run of the same invocation, and checked for duplicate records.

use crate::http::{
    Baselines, SqliteFigures, create_requests, find_requests, five_found, seed, successful,
};
use crate::load::{self, Load};
use crate::process::{Scratch, Server};
use crate::report::{Table, facts};
use anyhow::{Result, ensure};
use sqlx::Row as _;
use std::path::Path;
use std::time::Duration;
use switchboard_tests::{JWT_SECRET, Postgres, SECRET_KEY, artifacts};

pub(crate) async fn run(
    server_binary: &Path,
    load: Load,
    baselines: Baselines,
    sqlite: SqliteFigures,
    table: &mut Table,
) -> Result<()> {
    if !Postgres::available() {
        eprintln!("PostgreSQL's server binaries are not installed: the replica runs are skipped");
        return Ok(());
    }
    let pg = Postgres::start_durable();
    let args: Vec<String> = [
        "--database-url",
        &pg.url(),
        "--secret-key",
        SECRET_KEY,
        "--jwt-secret",
        JWT_SECRET,
    ]
    .map(str::to_owned)
    .to_vec();
    let replica = |scratch: &Scratch| -> Result<Server> {
        std::fs::copy(artifacts::TESTCRM, scratch.plugins.join("testcrm.wasm"))?;
        Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &args)
    };
    let (scratch_a, scratch_b) = (Scratch::new()?, Scratch::new()?);
    let mut a = replica(&scratch_a)?;
    a.ready(Duration::from_secs(60)).await?;
    let token = load::login(a.addr, "testCRM", "bench-key", "crm.example").await?;
    let path = format!("/callLog?jwtToken={token}");

    let one = [a.addr];
    let post1 = load::run(
        &one,
        load,
        create_requests(a.addr, path.clone(), "pg1"),
        successful(),
    )
    .await?;
    table.row(
        "PostgreSQL, 1 replica: POST /callLog",
        load,
        &post1,
        Some(baselines.ours),
        Some(a.usage()?),
    );
    seed(a.addr, &token).await?;
    let get1 = load::run(
        &one,
        load,
        find_requests(a.addr, &token, false),
        five_found(),
    )
    .await?;
    table.row(
        "PostgreSQL, 1 replica: GET /callLog, 5 ids",
        load,
        &get1,
        Some(baselines.ours),
        Some(a.usage()?),
    );

    let mut b = replica(&scratch_b)?;
    b.ready(Duration::from_secs(60)).await?;
    let two = [a.addr, b.addr];
    // Each request names its own server in `Host`; the session ids say
    // which run they belong to.
    let post2 = {
        let (on_a, on_b) = (
            create_requests(a.addr, path.clone(), "pg2"),
            create_requests(b.addr, path.clone(), "pg2"),
        );
        let both: load::MakeRequest = std::sync::Arc::new(move |connection, seq, out| {
            if connection % 2 == 0 {
                on_a(connection, seq, out)
            } else {
                on_b(connection, seq, out)
            }
        });
        load::run(&two, load, both, successful()).await?
    };
    table.row(
        "PostgreSQL, 2 replicas: POST /callLog",
        load,
        &post2,
        Some(baselines.ours),
        None,
    );
    let get2 = {
        let (on_a, on_b) = (
            find_requests(a.addr, &token, false),
            find_requests(b.addr, &token, false),
        );
        let both: load::MakeRequest = std::sync::Arc::new(move |connection, seq, out| {
            if connection % 2 == 0 {
                on_a(connection, seq, out)
            } else {
                on_b(connection, seq, out)
            }
        });
        load::run(&two, load, both, five_found()).await?
    };
    table.row(
        "PostgreSQL, 2 replicas: GET /callLog, 5 ids",
        load,
        &get2,
        Some(baselines.ours),
        None,
    );

    // Every record a distinct session, and as many as logged rows.
    let pool = pg.pool().await;
    let records = sqlx::query(
        "SELECT count(*), count(DISTINCT convert_from(value, 'UTF8')::json->>'sessionId')
         FROM adapter_kv WHERE platform = 'testCRM' AND key LIKE 'calllog/%'",
    )
    .fetch_one(&pool)
    .await?;
    let (records, sessions): (i64, i64) = (records.get(0), records.get(1));
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM call_logs WHERE state = 'logged'")
        .fetch_one(&pool)
        .await?;
    ensure!(
        records == sessions && records == logged,
        "duplicates: {records} records, {sessions} sessions, {logged} logged rows"
    );
    a.stop()?;
    b.stop()?;
    facts(
        "PostgreSQL beside SQLite (the same run)",
        &[
            (
                "POST, 1 replica / SQLite",
                format!("{:.2}", post1.rps() / sqlite.post_rps),
            ),
            (
                "GET, 1 replica / SQLite",
                format!("{:.2}", get1.rps() / sqlite.get_rps),
            ),
            (
                "POST, 2 replicas / 1 replica",
                format!("{:.2}", post2.rps() / post1.rps()),
            ),
            (
                "GET, 2 replicas / 1 replica",
                format!("{:.2}", get2.rps() / get1.rps()),
            ),
            (
                "records after the runs",
                format!(
                    "{records}, one per session ({sessions} sessions, {logged} logged rows): no duplicates"
                ),
            ),
        ],
    );
    Ok(())
}
