//! What Switchboard adds to a Pipedrive create, measured against the mock
//! Pipedrive on 127.0.0.1, and how many connections its creates open.
//!
//! - **Through Switchboard:** `POST /callLog` for the Pipedrive adapter
//!   (API-token user), one at a time: JWT check, user lookup, reservation,
//!   a fresh wasm instance, the adapter's two CRM requests (read the person,
//!   post the activity) through the pooled egress client, the stored CRM id.
//! - **Native floor:** the same two requests with the same bodies, sent by a
//!   keep-alive reqwest client straight to the mock.
//!
//! The difference of the medians is the host-side overhead per create.
//!
//! `cargo bench -p switchboard-tests --bench pipedrive` (1000 creates);
//! `-- --quick` runs 20, to check the bench still works.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark"
)]

use serde_json::json;
use std::time::{Duration, Instant};
use switchboard_tests::pipedrive::API_TOKEN;
use switchboard_tests::{create_body, start_pipedrive};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    let median = percentile(&samples, 0.5);
    println!(
        "{name:<28} n={:<5} median {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs",
        samples.len(),
        median.as_secs_f64() * 1e6,
        percentile(&samples, 0.9).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
    );
    median
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let creates = if quick { 20 } else { 1000 };
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    // Warm up: compile caches, the activity-type cache, pools.
    for i in 0..20 {
        server
            .create(&token, &create_body(&format!("warm-{i}"), json!(1), "note"))
            .await;
    }

    let connections_before = mock.connections();
    let mut through = Vec::with_capacity(creates);
    for i in 0..creates {
        let body = create_body(&format!("bench-{i}"), json!(1), "note");
        let started = Instant::now();
        let reply = server.create(&token, &body).await;
        through.push(started.elapsed());
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    let connections = mock.connections() - connections_before;

    // The same CRM requests, straight to the mock.
    let activity = mock
        .requests_to("POST", "/api/v2/activities")
        .pop()
        .unwrap()
        .body;
    let client = reqwest::Client::new();
    let mut native = Vec::with_capacity(creates);
    for _ in 0..creates {
        let started = Instant::now();
        let person = client
            .get(format!("{}/api/v2/persons/1", mock.url))
            .header("x-api-token", API_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(person.status().is_success());
        person.bytes().await.unwrap();
        let posted = client
            .post(format!("{}/api/v2/activities", mock.url))
            .header("x-api-token", API_TOKEN)
            .json(&activity)
            .send()
            .await
            .unwrap();
        assert!(posted.status().is_success());
        posted.bytes().await.unwrap();
        native.push(started.elapsed());
    }

    println!("Pipedrive create, sequential, against the mock on 127.0.0.1:");
    let through = summary("POST /callLog (Switchboard)", through);
    let native = summary("same CRM requests (native)", native);
    println!(
        "host-side overhead per create (median difference): {:.1} µs",
        (through.as_secs_f64() - native.as_secs_f64()) * 1e6
    );
    println!(
        "TCP connections opened by {creates} creates: {connections} (since start, login and warm-up included: {})",
        mock.connections()
    );
    server.stop().await;
}
