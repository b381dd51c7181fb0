//! Hot-reload and start-up figures for issue 3, against the real server
//! (in-process, on 127.0.0.1) with the default reload debounce (150 ms):
//!
//! - reload latency: from the rename of a new `versioned.wasm` into place to
//!   the first request answered by the new version, for bytes never seen
//!   (compiled) and for a rollback (artifact cache);
//! - start-up with 50 distinct adapter files (copies of testCRM with patched
//!   platform names), cold (empty cache) and warm;
//! - resident memory per loaded adapter.
//!
//! Each start-up runs in a child process of its own, so its RSS is its own.
//!
//! `cargo bench -p switchboard-tests --bench reload`

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark"
)]

use clap::Parser;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use switchboard_tests::{artifacts, create_body};

const ITERATIONS: usize = 10;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: switchboard::config::Config,
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Same-length byte replacement: a distinct but equally valid component.
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut found = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            found += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(found > 0, "pattern not found");
    out
}

struct Server {
    base: String,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Start and return once `/healthz` says ready, with the time that took.
    async fn start(plugins: &Path, data: &Path) -> (Self, Duration) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (plugins, data) = (plugins.display().to_string(), data.display().to_string());
        let args = ["bench", "--plugins-dir", &plugins, "--data-dir", &data];
        let config = Cli::try_parse_from(args).unwrap().config;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let task = tokio::spawn(switchboard::serve(listener, config, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(600), "not ready");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (
            Self {
                base,
                client,
                stop,
                task,
            },
            started.elapsed(),
        )
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        self.client
            .post(url)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Child process: start with `count` adapters (twice: cold, then warm) and
/// print `cold_ms warm_ms rss_warm_kib`.
async fn child_startup(count: usize) {
    let root = tempfile::tempdir().unwrap();
    let (plugins, data) = (root.path().join("plugins"), root.path().join("data"));
    std::fs::create_dir_all(&plugins).unwrap();
    let testcrm = std::fs::read(artifacts::TESTCRM).unwrap();
    for i in 0..count {
        let bytes = patched(&testcrm, b"testCRM", format!("tc{i:05}").as_bytes());
        std::fs::write(plugins.join(format!("tc{i:05}.wasm")), bytes).unwrap();
    }
    let (server, cold) = Server::start(&plugins, &data).await;
    let health: Value = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["adapters"].as_array().unwrap().len(), count);
    server.stop().await;
    let (server, warm) = Server::start(&plugins, &data).await;
    let rss = rss_kib();
    server.stop().await;
    println!("{} {} {rss}", cold.as_millis(), warm.as_millis());
}

fn run_child(count: usize) -> (u64, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--child-startup", &count.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().unwrap().to_owned();
    let nums: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

/// Rename `bytes` into place and time until a request is served by `version`.
async fn swap_latency(
    server: &Server,
    token: &str,
    plugins: &Path,
    bytes: &[u8],
    version: &str,
) -> Duration {
    let temp = plugins.join(".versioned.wasm.tmp");
    std::fs::write(&temp, bytes).unwrap();
    let started = Instant::now();
    std::fs::rename(&temp, plugins.join("versioned.wasm")).unwrap();
    static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let reply = server
            .post(
                &format!("/callLog?jwtToken={token}"),
                &create_body(&format!("s{n}"), json!(1), ""),
            )
            .await;
        assert_eq!(reply["successful"], true, "{reply}");
        if reply["logId"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{version}:"))
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never swapped to {version}"
        );
    }
}

async fn reload_latency() {
    let root = tempfile::tempdir().unwrap();
    let (plugins, data) = (root.path().join("plugins"), root.path().join("data"));
    std::fs::create_dir_all(&plugins).unwrap();
    let v1 = std::fs::read(artifacts::VERSIONED_V1).unwrap();
    let v2 = std::fs::read(artifacts::VERSIONED_V2).unwrap();
    std::fs::write(plugins.join("versioned.wasm"), &v1).unwrap();
    let (server, _) = Server::start(&plugins, &data).await;
    let login = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "versioned", "apiKey": "k", "hostname": "h"}),
        )
        .await;
    let token = login["jwtToken"].as_str().unwrap().to_owned();

    let (mut uncached, mut cached) = (Vec::new(), Vec::new());
    for i in 0..ITERATIONS {
        // Bytes never seen: "2.0.0" patched to "2.<i>.<i>" (same length).
        let version = format!("2.{}.{}", i / 10 + 1, i % 10);
        let fresh = patched(&v2, b"2.0.0", version.as_bytes());
        uncached.push(swap_latency(&server, &token, &plugins, &fresh, &version).await);
        // Roll back to 1.0.0, compiled at start-up: a cache hit.
        cached.push(swap_latency(&server, &token, &plugins, &v1, "1.0.0").await);
    }
    server.stop().await;
    println!(
        "reload latency, rename to first request on the new version ({ITERATIONS} swaps each, debounce 150ms):"
    );
    println!(
        "  uncached (compile): median {:?}, max {:?}",
        median(uncached.clone()),
        uncached.iter().max().unwrap()
    );
    println!(
        "  cached (rollback):  median {:?}, max {:?}",
        median(cached.clone()),
        cached.iter().max().unwrap()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--child-startup") {
        let count: usize = args[i + 1].parse().unwrap();
        rt.block_on(child_startup(count));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is none.
    }
    // `--quick`: 5 adapters instead of 50, to check the bench still works.
    let many = if args.iter().any(|a| a == "--quick") {
        5
    } else {
        50
    };
    rt.block_on(reload_latency());
    let (cold1, warm1, rss1) = run_child(1);
    let (cold_many, warm_many, rss_many) = run_child(many);
    println!("start-up until /healthz is ready:");
    println!("  1 adapter:   cold {cold1} ms, warm {warm1} ms, RSS {rss1} KiB");
    println!("  {many} adapters: cold {cold_many} ms, warm {warm_many} ms, RSS {rss_many} KiB");
    println!(
        "  memory per loaded adapter (warm RSS, ({many} - 1) / {}): {} KiB",
        many - 1,
        (rss_many.saturating_sub(rss1)) / (many as u64 - 1)
    );
}
