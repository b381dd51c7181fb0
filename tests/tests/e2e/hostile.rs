//! The hostile adapter suite: each misbehaviour runs while 8 clients send
//! real traffic to testCRM on the same host. Each hostile request gets its
//! own clear `errorCode`, testCRM's traffic sees no error, and the host's
//! memory stays bounded.

use serde_json::{Value, json};
use switchboard_tests::{Dirs, MockCrm, Reply, TestServer, artifacts, create_body};

/// The peak resident memory of this test process (server included), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// The stated bound on the host's memory under the hostile suite. The test
/// process holds the server, its clients and whatever other tests run
/// beside it, so the bound is for all of them together.
const RSS_BOUND_MIB: u64 = 1024;

/// testCRM traffic: 8 clients, 5 creates each, all of which must succeed.
async fn testcrm_traffic(server: &TestServer, token: &str, tag: &str) -> Vec<Reply> {
    let bodies: Vec<Value> = (0..8 * 5)
        .map(|i| create_body(&format!("{tag}-{i}"), json!(1), ""))
        .collect();
    let clients = bodies.chunks(5).map(|chunk| async move {
        let mut replies = Vec::new();
        for body in chunk {
            replies.push(server.create(token, body).await);
        }
        replies
    });
    futures::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_adapter_fails_alone() {
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    // `localhost` is rewritten to the mock, so a flood has somewhere to go;
    // every other private address stays refused.
    let rule = format!("localhost={}", mock.url);
    let server = TestServer::start(&dirs, &["--egress-override", &rule]).await;
    let hostile = server.login("hostile", "k").await;
    let crm_user = server.login("testCRM", "key-1").await;
    let own_port = server.base.rsplit(':').next().unwrap().to_owned();

    // (what, note, errorCode, words the message carries)
    let creates = [
        ("infinite loop", "loop".to_owned(), "ADAPTER_TIMEOUT", "CPU"),
        (
            "sleep forever",
            "sleep".to_owned(),
            "ADAPTER_TIMEOUT",
            "longer than 3s",
        ),
        (
            "memory growth",
            "memory".to_owned(),
            "ADAPTER_MEMORY_LIMIT",
            "memory limit",
        ),
        ("panic", "trap".to_owned(), "ADAPTER_TRAPPED", "crashed"),
        (
            "200 MB answer",
            "huge".to_owned(),
            "ADAPTER_MEMORY_LIMIT",
            "memory limit",
        ),
        (
            "100 kB id",
            "long-id".to_owned(),
            "ADAPTER_OUTPUT_TOO_LARGE",
            "an id of 102400 bytes",
        ),
        (
            "loopback",
            format!(
                "fetch http://127.0.0.1:{}/",
                mock.url.rsplit(':').next().unwrap()
            ),
            "EGRESS_DENIED",
            "private, loopback",
        ),
        (
            "metadata",
            "fetch http://169.254.169.254/latest/meta-data/".to_owned(),
            "EGRESS_DENIED",
            "private, loopback",
        ),
        (
            "admin port",
            format!("fetch http://127.0.0.1:{own_port}/admin/adapters"),
            "EGRESS_DENIED",
            "private, loopback",
        ),
        (
            "undeclared host",
            "fetch https://evil.example/steal".to_owned(),
            "EGRESS_DENIED",
            "not in the adapter's allowed hosts",
        ),
        (
            "10,000 requests",
            "flood 10000 http://localhost/flood".to_owned(),
            "EGRESS_DENIED",
            "more than 100 outbound requests in one call",
        ),
    ];
    let bodies: Vec<Value> = creates
        .iter()
        .enumerate()
        .map(|(i, (_, note, ..))| create_body(&format!("hostile-{i}"), json!(1), note))
        .collect();
    let million_query = format!("/contact?jwtToken={hostile}&phoneNumber=1000000");
    let many_query = format!("/contact?jwtToken={hostile}&phoneNumber=100000");
    // A manifest that lies: another file claiming testCRM, dropped in.
    let liar = async {
        dirs.install(artifacts::LIAR, "liar.wasm");
        server
            .wait_for_file("liar.wasm", |e| e["status"] == "refused")
            .await
    };
    let (hostile_replies, million, many, liar, crm_replies) = tokio::join!(
        futures::future::join_all(bodies.iter().map(|b| server.create(&hostile, b))),
        server.get(&million_query),
        server.get(&many_query),
        liar,
        testcrm_traffic(&server, &crm_user, "ok"),
    );
    let reason = liar["lastError"].as_str().unwrap();
    assert!(
        reason.contains("platform testCRM is already served by") && reason.contains("testcrm.wasm"),
        "{reason}"
    );

    let mut table = Vec::new();
    for ((what, _, code, words), reply) in creates.iter().zip(&hostile_replies) {
        table.push((*what, reply.clone(), *code, *words));
    }
    table.push((
        "a million contacts",
        million,
        "ADAPTER_MEMORY_LIMIT",
        "memory limit",
    ));
    table.push((
        "100,000 contacts",
        many,
        "ADAPTER_OUTPUT_TOO_LARGE",
        "100000 contacts",
    ));
    for (what, reply, code, words) in &table {
        assert_eq!(reply.status, 200, "{what}: {}", reply.body);
        assert_eq!(reply.body["successful"], false, "{what}: {}", reply.body);
        assert_eq!(reply.body["errorCode"], *code, "{what}: {}", reply.body);
        let message = reply.message();
        assert!(message.contains(words), "{what}: {message}");
    }
    for reply in &crm_replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
        assert_ne!(reply.body["logId"], "hostile-ok", "the liar never served");
    }
    assert_eq!(dirs.testcrm_records().await.len(), 40);
    assert_eq!(mock.hits(), 100, "the flood stopped at the per-call cap");
    let rss = peak_rss_mib();
    eprintln!("peak RSS of the test process: {rss} MiB (bound {RSS_BOUND_MIB} MiB)");
    assert!(rss < RSS_BOUND_MIB, "peak RSS {rss} MiB");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_adapter_is_held_to_its_concurrency_limit() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    std::fs::write(
        dirs.plugins.join("hostile.toml"),
        "[limits]\nmax_concurrent_calls = 10\n",
    )
    .unwrap();
    let server = TestServer::start(&dirs, &[]).await;
    let hostile = server.login("hostile", "k").await;
    let crm_user = server.login("testCRM", "key-1").await;

    // 500 calls that each take 2 s, all at once.
    let bodies: Vec<Value> = (0..500)
        .map(|i| create_body(&format!("slow-{i}"), json!(1), "nap 2000"))
        .collect();
    let (replies, crm_replies) = tokio::join!(
        futures::future::join_all(bodies.iter().map(|b| server.create(&hostile, b))),
        testcrm_traffic(&server, &crm_user, "beside"),
    );
    let served = replies
        .iter()
        .filter(|r| r.body["logId"] == "napped")
        .count();
    let busy = replies
        .iter()
        .filter(|r| r.body["errorCode"] == "ADAPTER_BUSY")
        .count();
    assert_eq!(served + busy, 500, "every call is served or told to retry");
    assert!(served >= 10 && busy > 0, "{served} served, {busy} refused");
    // However the 500 arrived, no more than 10 ever ran at once.
    let seen = dirs.kv_keys("hostile", "napped-with/").await;
    let most = seen.last().unwrap();
    assert!(most.as_str() <= "napped-with/0010", "{most} ran at once");
    for reply in &crm_replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    let rss = peak_rss_mib();
    assert!(rss < RSS_BOUND_MIB, "peak RSS {rss} MiB");
    // Refused calls released their sessions: they log once retried.
    let retry = replies
        .iter()
        .position(|r| r.body["errorCode"] == "ADAPTER_BUSY")
        .unwrap();
    let again = server
        .create(
            &hostile,
            &create_body(&format!("slow-{retry}"), json!(1), "ok"),
        )
        .await;
    assert_eq!(again.body["logId"], "hostile-ok", "{}", again.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_manifest_cannot_take_a_platform_at_start_up() {
    // `liar.wasm` sorts before `testcrm.wasm` and claims testCRM.
    let dirs = Dirs::with_adapters(&[artifacts::LIAR, artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let liar = server.admin_entry("liar.wasm").await.unwrap();
    assert_eq!(liar["status"], "refused", "{liar}");
    let reason = liar["lastError"].as_str().unwrap();
    assert!(
        reason.contains("already served by") && reason.contains("testcrm.wasm"),
        "{reason}"
    );
    let token = server.login("testCRM", "key-1").await;
    let created = server.create(&token, &create_body("s", json!(1), "")).await;
    assert_eq!(
        created.body["logId"], "1",
        "the real testCRM serves: {}",
        created.body
    );
    server.stop().await;
}
