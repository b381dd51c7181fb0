//! Benchmark 3: a slow CRM. The mock Pipedrive answers every API request
//! after a fixed delay; all creates are fired at once, each on its own
//! connection, through the Pipedrive adapter. A design that blocks a thread
//! per waiting call shows up here as time, threads and memory.

use crate::load;
use crate::process::{Scratch, Server, Usage};
use crate::report;
use anyhow::{Result, ensure};
use std::path::Path;
use std::time::{Duration, Instant};
use switchboard_tests::{artifacts, create_body, pipedrive};

pub(crate) async fn run(server_binary: &Path, creates: usize, delay: Duration) -> Result<()> {
    let mock = pipedrive::MockPipedrive::start().await;
    let scratch = Scratch::new()?;
    std::fs::copy(artifacts::PIPEDRIVE, scratch.plugins.join("pipedrive.wasm"))?;
    std::fs::write(
        scratch.plugins.join("pipedrive-client-secret"),
        pipedrive::CLIENT_SECRET,
    )?;
    std::fs::write(
        scratch.plugins.join("pipedrive.toml"),
        format!(
            "[oauth]\nclient_id = \"{}\"\nclient_secret_file = \"pipedrive-client-secret\"\n",
            pipedrive::CLIENT_ID
        ),
    )?;
    let flags = [
        "--egress-override".to_owned(),
        format!("*.pipedrive.com={}", mock.url),
        // Room for every create at once (the default is 1000 instances).
        "--max-instances".to_owned(),
        (creates + 100).to_string(),
    ];
    let mut server = Server::switchboard(server_binary, &scratch.plugins, &scratch.data, &flags)?;
    server.ready(Duration::from_secs(60)).await?;
    let addr = server.addr;
    let token = load::login(
        addr,
        "pipedrive",
        pipedrive::API_TOKEN,
        "testco.pipedrive.com",
    )
    .await?;
    // One create first: the adapter caches the activity type, as it would
    // have long before a burst in production.
    let path = format!("/callLog?jwtToken={token}");
    load::once(
        addr,
        "POST",
        &path,
        &create_body("slow-warm", serde_json::json!(1), "warm"),
    )
    .await?;
    let before = mock.activities().len();
    mock.set_api_delay(delay);

    let start = Instant::now();
    let tasks: Vec<_> = (0..creates)
        .map(|n| {
            let path = path.clone();
            tokio::spawn(async move {
                let body = create_body(
                    &format!("slow-{n}"),
                    serde_json::json!(1),
                    "Discussed renewal",
                );
                load::once(addr, "POST", &path, &body).await
            })
        })
        .collect();
    // Sample the server's threads while the burst is in flight.
    let pid = server.pid();
    let sampler = tokio::spawn(async move {
        let mut most = 0;
        while let Ok(usage) = Usage::of(pid) {
            most = most.max(usage.threads);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most
    });
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await? {
            failures.push(e.to_string());
        }
    }
    let total = start.elapsed();
    let usage = server.usage()?;
    let made = mock.activities().len() - before;
    server.stop()?;
    let threads = sampler.await?;
    ensure!(
        failures.is_empty(),
        "{} of {creates} creates failed; first: {}",
        failures.len(),
        failures[0]
    );
    ensure!(
        made == creates,
        "the mock CRM received {made} activities for {creates} creates"
    );

    report::facts(
        &format!(
            "Slow CRM: {creates} concurrent Pipedrive creates, every CRM request answered after {delay:?}"
        ),
        &[
            (
                "total time, first request sent to last answer read",
                format!("{:.3} s", total.as_secs_f64()),
            ),
            (
                "floor (two CRM requests per create, in sequence)",
                format!("{:.3} s", 2.0 * delay.as_secs_f64()),
            ),
            ("activities the mock CRM recorded", made.to_string()),
            ("server peak RSS", format!("{:.0} MiB", usage.peak_rss_mib)),
            (
                "server threads, most seen during the burst",
                threads.to_string(),
            ),
        ],
    );
    Ok(())
}
