//! The operator's opt-in to instance reuse (`[runtime] reuse = "per-user"`
//! in `NAME.toml`) and the isolation it keeps. The hostile fixture's
//! `remember` note lists, in the instance's own memory, the user of every
//! call that instance served, so each answer shows which calls shared it.

use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use switchboard_tests::{Dirs, MockCrm, TestServer, artifacts, create_body, wait_until};

/// The hostile fixture, with `operator` as its operator file.
async fn hostile_with(operator: &str) -> (Dirs, TestServer) {
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    dirs.overwrite("hostile.toml", operator.as_bytes());
    let server = TestServer::start(&dirs, &[]).await;
    (dirs, server)
}

/// Each call is a new session, so it reaches the adapter.
static SESSION: AtomicU64 = AtomicU64::new(0);

/// One `create-call-log` with `note`; its log id, or its error code.
async fn call(server: &TestServer, token: &str, note: &str) -> String {
    let session = format!("reuse-{}", SESSION.fetch_add(1, Ordering::Relaxed));
    let reply = server
        .create(token, &create_body(&session, json!(1), note))
        .await;
    let answer = match reply.body["successful"].as_bool() {
        Some(true) => &reply.body["logId"],
        _ => &reply.body["errorCode"],
    };
    answer
        .as_str()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .to_owned()
}

/// Which users' calls the instance that served this one has served.
async fn remember(server: &TestServer, token: &str) -> String {
    call(server, token, "remember").await
}

async fn kept_instances(server: &TestServer) -> u64 {
    let entry = server.admin_entry("hostile.wasm").await.unwrap();
    entry["keptInstances"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_opt_in_every_call_gets_a_fresh_instance() {
    let (_dirs, server) = hostile_with("").await;
    let ann = server.login("hostile", "user:ann").await;
    for _ in 0..3 {
        assert_eq!(remember(&server, &ann).await, "seen:ann");
    }
    assert_eq!(kept_instances(&server).await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_instance_serves_its_own_user_alone() {
    let (_dirs, server) = hostile_with("[runtime]\nreuse = \"per-user\"\n").await;
    let ann = server.login("hostile", "user:ann").await;
    let bob = server.login("hostile", "user:bob").await;
    assert_eq!(remember(&server, &ann).await, "seen:ann");
    assert_eq!(remember(&server, &ann).await, "seen:ann,ann");
    assert_eq!(
        remember(&server, &bob).await,
        "seen:bob",
        "not ann's instance"
    );
    assert_eq!(remember(&server, &ann).await, "seen:ann,ann,ann");
    assert_eq!(kept_instances(&server).await, 2, "one for each user");

    // Three users at once: whichever instance served a call, it served
    // only that call's user.
    let users = [
        ("ann", &ann),
        ("bob", &bob),
        ("cat", &server.login("hostile", "user:cat").await),
    ];
    let calls = (0..60).map(|i| {
        let (name, token) = users[i % users.len()];
        let server = &server;
        async move { (name, remember(server, token).await) }
    });
    for (name, seen) in futures::future::join_all(calls).await {
        let served = seen
            .strip_prefix("seen:")
            .unwrap_or_else(|| panic!("{seen}"));
        assert!(
            served.split(',').all(|user| user == name),
            "{name}'s call: {seen}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_drops_its_instance() {
    let operator = "[runtime]\nreuse = \"per-user\"\n[limits]\ntimeout = \"500ms\"\n";
    let (_dirs, server) = hostile_with(operator).await;
    let ann = server.login("hostile", "user:ann").await;
    for (failure, code) in [
        ("trap", "ADAPTER_TRAPPED"),
        ("sleep", "ADAPTER_TIMEOUT"),
        ("long-id", "ADAPTER_OUTPUT_TOO_LARGE"),
    ] {
        assert_eq!(remember(&server, &ann).await, "seen:ann", "after {failure}");
        assert_eq!(remember(&server, &ann).await, "seen:ann,ann");
        assert_eq!(call(&server, &ann, failure).await, code);
        assert_eq!(kept_instances(&server).await, 0, "{failure} dropped it");
    }
    assert_eq!(remember(&server, &ann).await, "seen:ann");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_in_a_kept_instance_has_its_own_limits() {
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let operator = "[runtime]\nreuse = \"per-user\"\n[limits]\nmax_requests = 2\n";
    dirs.overwrite("hostile.toml", operator.as_bytes());
    let rule = format!("localhost={}", mock.url);
    let server = TestServer::start(&dirs, &["--egress-override", &rule]).await;
    let ann = server.login("hostile", "user:ann").await;
    let flood = "flood 2 http://localhost/flood";
    assert_eq!(call(&server, &ann, flood).await, "flood:2");
    assert_eq!(kept_instances(&server).await, 1);
    // The kept instance's next call may make its own two requests.
    assert_eq!(call(&server, &ann, flood).await, "flood:2");
    assert_eq!(mock.hits(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_at_most_its_calls() {
    let operator = "[runtime]\nreuse = \"per-user\"\nreuse_max_calls = 3\n";
    let (_dirs, server) = hostile_with(operator).await;
    let ann = server.login("hostile", "user:ann").await;
    let seen = [
        "seen:ann",
        "seen:ann,ann",
        "seen:ann,ann,ann",
        "seen:ann",
        "seen:ann,ann",
    ];
    for expected in seen {
        assert_eq!(remember(&server, &ann).await, expected);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_dropped_at_its_age() {
    let operator = "[runtime]\nreuse = \"per-user\"\nreuse_max_age = \"3s\"\n";
    let (_dirs, server) = hostile_with(operator).await;
    let ann = server.login("hostile", "user:ann").await;
    assert_eq!(remember(&server, &ann).await, "seen:ann");
    assert_eq!(kept_instances(&server).await, 1);
    // Nothing calls it again: the sweeper drops it once it is 3 s old.
    wait_until(Duration::from_secs(20), async || {
        match kept_instances(&server).await {
            0 => Ok(()),
            n => Err(format!("{n} instances still kept")),
        }
    })
    .await;
    assert_eq!(remember(&server, &ann).await, "seen:ann");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_drops_the_kept_instances() {
    let (dirs, server) = hostile_with("[runtime]\nreuse = \"per-user\"\n").await;
    let ann = server.login("hostile", "user:ann").await;
    assert_eq!(remember(&server, &ann).await, "seen:ann");
    assert_eq!(remember(&server, &ann).await, "seen:ann,ann");
    let before = server.admin_entry("hostile.wasm").await.unwrap();
    let operator = "[runtime]\nreuse = \"per-user\"\nreuse_max_idle = 8\n";
    dirs.overwrite("hostile.toml", operator.as_bytes());
    server
        .wait_for_file("hostile.wasm", |e| e["loadedAt"] != before["loadedAt"])
        .await;
    assert_eq!(remember(&server, &ann).await, "seen:ann", "a fresh version");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reuse_setting_is_refused_naming_it() {
    let operator = "[runtime]\nreuse = \"per-user\"\nreuse_max_calls = 0\n";
    let (_dirs, server) = hostile_with(operator).await;
    let entry = server
        .wait_for_file("hostile.wasm", |e| e["status"] == "refused")
        .await;
    let reason = entry["lastError"].as_str().unwrap();
    assert!(reason.contains("runtime.reuse_max_calls"), "{reason}");
    server.stop().await;
}
