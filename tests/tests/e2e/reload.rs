//! Hot reload and the operator's view: real files in a temp plugins dir,
//! watched by a real server; every wait polls with a deadline.

use serde_json::{Value, json};
use std::time::Duration;
use switchboard_tests::{
    ADMIN_TOKEN, ChildServer, Dirs, MockCrm, Reply, TestServer, artifacts, create_body, wait_until,
};

const FILE: &str = "versioned.wasm";

fn serving(version: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["status"] == "serving" && e["version"] == version
}

async fn log_as(server: &TestServer, token: &str, session: &str) -> Reply {
    server
        .create(token, &create_body(session, json!(1), ""))
        .await
}

async fn start_with_v1() -> (Dirs, TestServer, String) {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    dirs.install(artifacts::VERSIONED_V1, FILE);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("versioned", "k").await;
    (dirs, server, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_replace_remove_and_re_add() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    assert!(server.admin_entry(FILE).await.is_none());

    dirs.install(artifacts::VERSIONED_V1, FILE);
    let entry = server.wait_for_file(FILE, serving("1.0.0")).await;
    assert_eq!(entry["platform"], "versioned");
    assert_eq!(entry["witVersion"], "0.2.0");
    assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
    assert!(entry["loadedAt"].as_str().unwrap().contains('T'));
    let token = server.login("versioned", "k").await;
    assert_eq!(log_as(&server, &token, "a").await.body["logId"], "1.0.0:a");

    dirs.install(artifacts::VERSIONED_V2, FILE);
    server.wait_for_file(FILE, serving("2.0.0")).await;
    assert_eq!(log_as(&server, &token, "b").await.body["logId"], "2.0.0:b");
    let entry = server.admin_entry(FILE).await.unwrap();
    assert_eq!(
        (entry["calls"].as_u64(), entry["errors"].as_u64()),
        (Some(1), Some(0)),
        "{entry}"
    );

    dirs.remove(FILE);
    let entry = server
        .wait_for_file(FILE, |e| e["status"] == "unloaded")
        .await;
    assert_eq!(entry["version"], Value::Null);
    let gone = log_as(&server, &token, "c").await;
    assert_eq!(gone.body["errorCode"], "ADAPTER_UNAVAILABLE");

    dirs.install(artifacts::VERSIONED_V1, FILE);
    server.wait_for_file(FILE, serving("1.0.0")).await;
    assert_eq!(log_as(&server, &token, "c").await.body["logId"], "1.0.0:c");
    // testCRM was never disturbed.
    let list = server.admin().await;
    assert!(
        list.iter()
            .any(|e| e["platform"] == "testCRM" && e["status"] == "serving")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_refused_and_the_old_version_keeps_serving() {
    let (dirs, server, token) = start_with_v1().await;
    let v2 = std::fs::read(artifacts::VERSIONED_V2).unwrap();
    let wrong_world = wat::parse_str("(component)").unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"\0asm this is not wasm".to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "truncated",
            v2[..v2.len() / 2].to_vec(),
            "not a valid WebAssembly component",
        ),
        (
            "wrong world",
            wrong_world,
            "exports no switchboard:adapter/adapter@<version> interface",
        ),
    ];
    for (i, (what, bytes, reason)) in cases.into_iter().enumerate() {
        dirs.overwrite(FILE, &bytes);
        let entry = server
            .wait_for_file(FILE, |e| {
                e["lastError"].as_str().is_some_and(|m| m.contains(reason))
            })
            .await;
        assert_eq!(entry["status"], "serving", "{what}: {entry}");
        assert_eq!(entry["version"], "1.0.0", "{what}");
        let reply = log_as(&server, &token, &format!("s{i}")).await;
        assert_eq!(
            reply.body["logId"],
            format!("1.0.0:s{i}"),
            "{what}: {}",
            reply.body
        );
    }
    // Good bytes again clear the error.
    dirs.install(artifacts::VERSIONED_V2, FILE);
    let entry = server.wait_for_file(FILE, serving("2.0.0")).await;
    assert_eq!(entry["lastError"], Value::Null);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_platform_is_refused_deterministically() {
    let dirs = Dirs::with_adapters(&[]);
    dirs.install(artifacts::VERSIONED_V2, "b.wasm");
    dirs.install(artifacts::VERSIONED_V1, "a.wasm");
    let server = TestServer::start(&dirs, &[]).await;
    // At start-up the first file by name wins.
    server.wait_for_file("a.wasm", serving("1.0.0")).await;
    let b = server
        .wait_for_file("b.wasm", |e| e["status"] == "refused")
        .await;
    let reason = b["lastError"].as_str().unwrap();
    assert!(
        reason.contains("platform versioned is already served by") && reason.contains("a.wasm"),
        "{reason}"
    );

    // A newcomer does not displace the serving file.
    dirs.install(artifacts::VERSIONED_V2, "0.wasm");
    server
        .wait_for_file("0.wasm", |e| e["status"] == "refused")
        .await;
    server.wait_for_file("a.wasm", serving("1.0.0")).await;

    // When the serving file goes, the first refused claimant by name takes over.
    dirs.remove("a.wasm");
    server.wait_for_file("0.wasm", serving("2.0.0")).await;
    assert_eq!(
        server.admin_entry("b.wasm").await.unwrap()["status"],
        "refused"
    );
    let one = server
        .client
        .get(format!("{}/admin/adapters/versioned", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(one["file"].as_str().unwrap().ends_with("/0.wasm"), "{one}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_under_load_fails_no_request() {
    let (dirs, server, token) = start_with_v1().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = server.creates_until(&token, "load", stop.clone());
    for swap in 0..20 {
        let (component, version) = if swap % 2 == 0 {
            (artifacts::VERSIONED_V2, "2.0.0")
        } else {
            (artifacts::VERSIONED_V1, "1.0.0")
        };
        dirs.install(component, FILE);
        server.wait_for_file(FILE, serving(version)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let replies = load.await.unwrap();
    assert!(replies.len() >= 20, "only {} requests ran", replies.len());
    let mut seen = std::collections::BTreeSet::new();
    for reply in &replies {
        assert_eq!(reply["successful"], true, "{reply}");
        let log_id = reply["logId"].as_str().unwrap();
        let version = log_id.split(':').next().unwrap();
        assert!(version == "1.0.0" || version == "2.0.0", "{log_id}");
        seen.insert(version.to_owned());
    }
    assert_eq!(seen.len(), 2, "both versions served: {seen:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_request_finishes_on_the_version_it_started_on() {
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[]);
    dirs.install(artifacts::VERSIONED_V1, FILE);
    let server = TestServer::start(&dirs, &["--egress-allow-private"]).await;
    let token = server.login("versioned", "k").await;

    let held = {
        let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
        let body = create_body("held", json!(1), &format!("fetch {}/slow", mock.url));
        tokio::spawn(async move {
            client
                .post(format!("{base}/callLog?jwtToken={token}"))
                .json(&body)
                .send()
                .await?
                .json::<Value>()
                .await
        })
    };
    mock.wait_for_hits(1).await;

    dirs.install(artifacts::VERSIONED_V2, FILE);
    server.wait_for_file(FILE, serving("2.0.0")).await;
    assert_eq!(
        log_as(&server, &token, "after").await.body["logId"],
        "2.0.0:after"
    );

    mock.release(1);
    let reply = held.await.unwrap().unwrap();
    assert_eq!(reply["logId"], "1.0.0:held", "{reply}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_artifact_cache_serves_rollbacks_and_survives_corruption() {
    let (dirs, server, token) = start_with_v1().await;
    assert_eq!(
        server.compilations().await,
        2,
        "testCRM and versioned 1.0.0"
    );
    dirs.install(artifacts::VERSIONED_V2, FILE);
    server.wait_for_file(FILE, serving("2.0.0")).await;
    let compiled = server.compilations().await;
    assert!(compiled >= 3, "2.0.0 was compiled");

    // Rolling back to bytes seen before does not recompile.
    dirs.install(artifacts::VERSIONED_V1, FILE);
    let v1 = server.wait_for_file(FILE, serving("1.0.0")).await;
    assert_eq!(v1["cache"], "hit");
    assert_eq!(server.compilations().await, compiled);
    server.stop().await;

    // Corrupt every cached artifact: each is detected, discarded and rebuilt.
    let cache = dirs.data.join("cache");
    let mut corrupted = 0;
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            corrupted += 1;
        }
    }
    assert_eq!(corrupted, 3, "testCRM, 1.0.0 and 2.0.0 were cached");
    let server = TestServer::start(&dirs, &[]).await;
    server.wait_for_file(FILE, serving("1.0.0")).await;
    assert_eq!(
        server.compilations().await,
        2,
        "both loaded artifacts were corrupt: recompiled, not served"
    );
    assert_eq!(
        log_as(&server, &token, "after-corruption").await.body["logId"],
        "1.0.0:after-corruption"
    );
    server.stop().await;

    // The rebuilt artifacts are good: the next start compiles nothing.
    let server = TestServer::start(&dirs, &[]).await;
    assert_eq!(server.compilations().await, 0);
    for entry in server.admin().await {
        assert_eq!(entry["cache"], "hit", "{entry}");
    }
    server.stop().await;
}

/// A cache cap below what the serving adapters' artifacts need evicts none
/// of them: a restart compiles nothing that was serving, and a rollback to
/// the version just replaced is a cache hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_smaller_than_the_serving_set_keeps_all_of_it() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::PIPEDRIVE, artifacts::HOSTILE]);
    dirs.install(artifacts::VERSIONED_V1, FILE);
    let cached = || -> Vec<u64> {
        std::fs::read_dir(dirs.data.join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect()
    };
    let tiny = ["--cache-max-mib", "1"];
    let server = TestServer::start(&dirs, &tiny).await;
    assert_eq!(server.compilations().await, 4);
    let sizes = cached();
    assert_eq!(sizes.len(), 4, "every serving artifact kept");
    assert!(
        sizes.iter().sum::<u64>() > 1 << 20,
        "more than the cap: {sizes:?}"
    );
    server.stop().await;

    let server = TestServer::start(&dirs, &tiny).await;
    assert_eq!(server.compilations().await, 0, "a restart compiles nothing");
    for entry in server.admin().await {
        assert_eq!(entry["cache"], "hit", "{entry}");
        assert!(entry["loadMs"].is_u64(), "each file's load time: {entry}");
    }
    // 1.0.0 served while 2.0.0 compiled, so its artifact stayed: a rollback
    // to it is a hit. (Unused from then on, the next compile may evict it.)
    dirs.install(artifacts::VERSIONED_V2, FILE);
    server.wait_for_file(FILE, serving("2.0.0")).await;
    assert_eq!(cached().len(), 5, "2.0.0 added, 1.0.0 still there");
    dirs.install(artifacts::VERSIONED_V1, FILE);
    let rolled_back = server.wait_for_file(FILE, serving("1.0.0")).await;
    assert_eq!(rolled_back["cache"], "hit", "{rolled_back}");
    server.stop().await;
}

/// With `--ready-when any`, a server reports ready once one adapter serves,
/// and serves it while another still compiles (jsTestCRM: seconds, with an
/// empty cache); the one still loading answers `ADAPTER_LOADING` until it
/// serves. `/healthz` counts the files each way. The server runs in a
/// process of its own: a JavaScript compile's memory is not this test
/// process's to carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_serves_while_another_still_compiles() {
    let jstestcrm = switchboard_tests::examples::jstestcrm();
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, &jstestcrm]);
    let server = ChildServer::start(&dirs, &["--ready-when", "any"]).await;
    let health = server.get("/healthz").await;
    assert_eq!(health["status"], "ready", "{health}");
    assert_eq!(
        health["files"],
        json!({"loaded": 1, "loading": 1, "refused": 0}),
        "jsTestCRM still compiling: {health}"
    );

    let token = server.login("testCRM", "k").await;
    let created = server
        .post(
            &format!("/callLog?jwtToken={token}"),
            &create_body("while-loading", json!(1), ""),
        )
        .await;
    assert_eq!(created["successful"], true, "{created}");
    let login = json!({"platform": "jsTestCRM", "apiKey": "k", "hostname": "h"});
    let loading = server.post("/apiKeyLogin", &login).await;
    assert_eq!(loading["errorCode"], "ADAPTER_LOADING", "{loading}");

    // A JavaScript compile takes seconds, more on a loaded machine.
    wait_until(Duration::from_secs(120), async || {
        let health = server.get("/healthz").await;
        if health["files"] == json!({"loaded": 2, "loading": 0, "refused": 0}) {
            Ok(())
        } else {
            Err(format!("jsTestCRM loaded; got {health}"))
        }
    })
    .await;
    assert!(server.post("/apiKeyLogin", &login).await["jwtToken"].is_string());
    // Settled: a platform nobody serves is unavailable, not loading.
    let unknown = json!({"platform": "noSuchCRM", "apiKey": "k", "hostname": "h"});
    let unavailable = server.post("/apiKeyLogin", &unknown).await;
    assert_eq!(
        unavailable["errorCode"], "ADAPTER_UNAVAILABLE",
        "{unavailable}"
    );
}

/// An operator file already there at start-up configures its component; it
/// is not itself loaded (and refused) as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_file_present_at_start_configures_its_component() {
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    std::fs::write(
        dirs.plugins.join("hostile.toml"),
        "[limits]\ntimeout = \"300ms\"\n",
    )
    .unwrap();
    let server = TestServer::start(&dirs, &[]).await;
    let entries = server.admin().await;
    let files: Vec<&str> = entries
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with("/hostile.wasm"), "{files:?}");
    assert_eq!(entries[0]["status"], "serving", "{}", entries[0]);
    assert_eq!(entries[0]["lastError"], serde_json::Value::Null);

    let token = server.login("hostile", "k").await;
    let slow = server
        .create(&token, &create_body("slow", json!(1), "sleep"))
        .await;
    assert_eq!(slow.body["errorCode"], "ADAPTER_TIMEOUT", "{}", slow.body);
    assert!(slow.message().contains("300ms"), "{}", slow.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_file_changes_limits_without_touching_the_wasm() {
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("hostile", "k").await;
    let before = server.admin_entry("hostile.wasm").await.unwrap();

    std::fs::write(
        dirs.plugins.join("hostile.toml"),
        "[limits]\ntimeout = \"300ms\"\n",
    )
    .unwrap();
    let after = server
        .wait_for_file("hostile.wasm", |e| e["loadedAt"] != before["loadedAt"])
        .await;
    assert_eq!(after["sha256"], before["sha256"], "same wasm");
    let slow = server
        .create(&token, &create_body("slow", json!(1), "sleep"))
        .await;
    assert_eq!(slow.body["errorCode"], "ADAPTER_TIMEOUT");
    let message = slow.body["returnMessage"]["message"].as_str().unwrap();
    assert!(message.contains("300ms"), "{message}");

    // A bad operator file is refused like a bad wasm; the last good pair serves.
    std::fs::write(
        dirs.plugins.join("hostile.toml"),
        "[limits]\ntimeuot = \"1s\"\n",
    )
    .unwrap();
    let refused = server
        .wait_for_file("hostile.wasm", |e| {
            e["lastError"]
                .as_str()
                .is_some_and(|m| m.contains("timeuot"))
        })
        .await;
    assert_eq!(refused["status"], "serving");
    let still = server
        .create(&token, &create_body("slow-2", json!(1), "sleep"))
        .await;
    assert!(
        still.body["returnMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("300ms"),
        "{}",
        still.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_its_token() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    for auth in [None, Some("wrong-token-wrong-token")] {
        let mut request = server.client.get(format!("{}/admin/adapters", server.base));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errorCode"], "ADMIN_UNAUTHORIZED");
    }
    let missing = server
        .client
        .get(format!("{}/admin/adapters/nope", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The CLI's table, against the running server.
    let table = switchboard::cli::adapters(&server.base, &ADMIN_TOKEN.into())
        .await
        .unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("PLATFORM"));
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("testCRM") && row.contains("serving") && row.contains("testcrm.wasm"),
        "{row}"
    );
    assert!(
        switchboard::cli::adapters(&server.base, &"wrong-token-wrong-token".into())
            .await
            .is_err()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_describes_a_component_or_says_why_not() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: switchboard::config::SandboxConfig,
    }
    let sandbox = Cli::try_parse_from(["check"]).unwrap().sandbox;
    let out = switchboard::cli::check(std::path::Path::new(artifacts::HOSTILE), &sandbox)
        .await
        .unwrap();
    assert!(out.contains("platform:      hostile"), "{out}");
    assert!(out.contains("reaches:       127.0.0.1"), "{out}");

    let dirs = Dirs::with_adapters(&[]);
    dirs.overwrite("bad.wasm", b"nope");
    let err = switchboard::cli::check(&dirs.plugins.join("bad.wasm"), &sandbox)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not a valid WebAssembly component"),
        "{err}"
    );
    dirs.install(artifacts::TESTCRM, "t.wasm");
    dirs.overwrite("t.toml", b"[limits]\nmemory_mib = 999999\n");
    let err = switchboard::cli::check(&dirs.plugins.join("t.wasm"), &sandbox)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("memory_mib"), "{err}");
}
