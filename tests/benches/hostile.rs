//! What each hostile adapter does to other tenants' traffic: for every case
//! of the hostile suite, 8 clients send testCRM creates (25 each, one at a
//! time) while the hostile request is repeated, two at a time (fifty for
//! the concurrency limit), for as long as the testCRM traffic lasts. Reports the hostile answer and testCRM's
//! latency (p50, p99, max) and errors, beside a baseline with no hostile
//! traffic.
//!
//! `cargo bench -p switchboard-tests --bench hostile` (`-- --quick`: 5
//! creates per client).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark"
)]

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard_tests::{Dirs, MockCrm, TestServer, artifacts, create_body};

struct Effect {
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
    answer: String,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn measure(
    server: &TestServer,
    crm: &str,
    per_client: usize,
    tag: &str,
    hostile: Option<(String, Value)>,
    attackers: usize,
) -> Effect {
    let running = Arc::new(AtomicBool::new(true));
    let answers = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let attackers: Vec<_> = (0..attackers)
        .filter(|_| hostile.is_some())
        .map(|a| {
            let (path, body) = hostile.clone().unwrap();
            let (client, base) = (server.client.clone(), server.base.clone());
            let (running, answers) = (running.clone(), answers.clone());
            let tag = tag.to_owned();
            tokio::spawn(async move {
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    let mut body = body.clone();
                    if body.get("logInfo").is_some() {
                        body["logInfo"]["sessionId"] = json!(format!("{tag}-h{a}-{i}"));
                    }
                    let request = if body.is_null() {
                        client.get(format!("{base}{path}"))
                    } else {
                        client.post(format!("{base}{path}")).json(&body)
                    };
                    let reply: Value = request.send().await.unwrap().json().await.unwrap();
                    let code = reply["errorCode"].as_str().unwrap_or("ok").to_owned();
                    answers.lock().unwrap().push(code);
                    i += 1;
                }
            })
        })
        .collect();
    let clients = (0..8).map(|c| async move {
        let mut samples = Vec::new();
        let mut errors = 0;
        for i in 0..per_client {
            let body = create_body(&format!("{tag}-c{c}-{i}"), json!(1), "");
            let started = Instant::now();
            let reply = server.create(crm, &body).await;
            samples.push(started.elapsed());
            if reply.body["successful"] != true {
                errors += 1;
            }
        }
        (samples, errors)
    });
    let results = futures::future::join_all(clients).await;
    running.store(false, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.unwrap();
    }
    let mut samples: Vec<Duration> = results.iter().flat_map(|(s, _)| s.clone()).collect();
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let mut seen: Vec<String> = answers.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    Effect {
        p50: at(0.5),
        p99: at(0.99),
        max: *samples.last().unwrap(),
        errors: results.iter().map(|(_, e)| e).sum(),
        answer: if seen.is_empty() {
            "-".into()
        } else {
            seen.join(", ")
        },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let per_client = if quick { 5 } else { 25 };
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    std::fs::write(
        dirs.plugins.join("hostile.toml"),
        "[limits]\nmax_concurrent_calls = 10\n",
    )
    .unwrap();
    let rule = format!("localhost={}", mock.url);
    let server = TestServer::start(&dirs, &["--egress-override", &rule]).await;
    let hostile = server.login("hostile", "k").await;
    let crm = server.login("testCRM", "key-1").await;
    let own_port = server.base.rsplit(':').next().unwrap().to_owned();
    let create = |note: &str| {
        (
            format!("/callLog?jwtToken={hostile}"),
            create_body("x", json!(1), note),
        )
    };
    let contacts = |n: u32| {
        (
            format!("/contact?jwtToken={hostile}&phoneNumber={n}"),
            Value::Null,
        )
    };
    let cases: Vec<(&str, Option<(String, Value)>)> = vec![
        ("baseline (no hostile traffic)", None),
        ("infinite loop", Some(create("loop"))),
        ("sleep forever", Some(create("sleep"))),
        ("memory growth", Some(create("memory"))),
        ("panic", Some(create("trap"))),
        ("200 MB answer", Some(create("huge"))),
        ("100 kB id", Some(create("long-id"))),
        ("a million contacts", Some(contacts(1_000_000))),
        ("100,000 contacts", Some(contacts(100_000))),
        ("fetch 127.0.0.1", Some(create("fetch http://127.0.0.1:9/"))),
        (
            "fetch 169.254.169.254",
            Some(create("fetch http://169.254.169.254/latest/meta-data/")),
        ),
        (
            "fetch the admin port",
            Some(create(&format!(
                "fetch http://127.0.0.1:{own_port}/admin/adapters"
            ))),
        ),
        (
            "fetch an undeclared host",
            Some(create("fetch https://evil.example/")),
        ),
        (
            "10,000 requests in one call",
            Some(create("flood 10000 http://localhost/flood")),
        ),
        ("slow calls over the limit of 10", Some(create("nap 2000"))),
    ];
    println!("| hostile case | its answer | testCRM p50 | p99 | max | testCRM errors |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (i, (case, hostile)) in cases.into_iter().enumerate() {
        let attackers = if case.starts_with("slow calls") {
            50
        } else {
            2
        };
        let effect = measure(
            &server,
            &crm,
            per_client,
            &format!("case{i}"),
            hostile,
            attackers,
        )
        .await;
        println!(
            "| {case} | {} | {} | {} | {} | {} of {} |",
            effect.answer,
            ms(effect.p50),
            ms(effect.p99),
            ms(effect.max),
            effect.errors,
            8 * per_client
        );
    }
    // The liar, dropped in while traffic flows.
    let liar = async {
        dirs.install(artifacts::LIAR, "liar.wasm");
        server
            .wait_for_file("liar.wasm", |e| e["status"] == "refused")
            .await
    };
    let (entry, effect) = tokio::join!(liar, measure(&server, &crm, per_client, "liar", None, 0));
    println!(
        "| manifest claiming testCRM | refused: {} | {} | {} | {} | {} of {} |",
        entry["lastError"].as_str().unwrap_or("-"),
        ms(effect.p50),
        ms(effect.p99),
        ms(effect.max),
        effect.errors,
        8 * per_client
    );
    server.stop().await;
}
