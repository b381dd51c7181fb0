//! One-command deploys: `switchboard deploy` and `undeploy` (the CLI's own
//! upload) against `PUT` and `DELETE /admin/adapters/{name}`, under
//! traffic; uploads the server refuses, which change nothing; and a deploy
//! reaching every replica on one PostgreSQL.

use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard::cli::DeployArgs;
use switchboard_tests::{
    ADMIN_TOKEN, DEADLINE, Dirs, Postgres, TestServer, artifacts, create_body, wait_until,
};

fn token() -> SecretString {
    ADMIN_TOKEN.into()
}

fn upload(file: &std::path::Path) -> DeployArgs {
    DeployArgs {
        file: file.to_owned(),
        config: None,
        wait: Duration::from_secs(60),
    }
}

/// `component` copied to `<dir>/versioned.wasm`, the name it deploys under.
fn named_versioned(dir: &tempfile::TempDir, component: &str) -> std::path::PathBuf {
    let path = dir.path().join("versioned.wasm");
    std::fs::copy(component, &path).unwrap();
    path
}

/// The plugins directory's files and their bytes.
fn plugins(dirs: &Dirs) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(&dirs.plugins)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_replace_roll_back_and_remove_under_traffic_fail_no_request() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let v1 = named_versioned(&first, artifacts::VERSIONED_V1);
    let v2 = named_versioned(&second, artifacts::VERSIONED_V2);

    // Traffic on another platform throughout.
    let stop_all = Arc::new(AtomicBool::new(false));
    let testcrm = server.login("testCRM", "k").await;
    let steady = server.creates_until(&testcrm, "steady", stop_all.clone());

    // Deploy: the CLI returns once the server serves it.
    let out = switchboard::cli::deploy(&server.base, &token(), &upload(&v1))
        .await
        .unwrap();
    assert!(out.contains("versioned 1.0.0 serving"), "{out}");
    let versioned = server.login("versioned", "k").await;
    let stop_versioned = Arc::new(AtomicBool::new(false));
    let moving = server.creates_until(&versioned, "moving", stop_versioned.clone());

    // Replace, then roll back, under the traffic on it.
    for (component, version) in [
        (&v2, "2.0.0"),
        (&v1, "1.0.0"),
        (&v2, "2.0.0"),
        (&v1, "1.0.0"),
    ] {
        let out = switchboard::cli::deploy(&server.base, &token(), &upload(component))
            .await
            .unwrap();
        assert!(
            out.contains(&format!("versioned {version} serving")),
            "{out}"
        );
    }
    stop_versioned.store(true, Ordering::SeqCst);
    let moving = moving.await.unwrap();
    assert_eq!(
        plugins(&dirs)["versioned.wasm"],
        std::fs::read(artifacts::VERSIONED_V1).unwrap(),
        "rolled back to v1's bytes"
    );

    // Remove: the platform goes, testCRM stays.
    let out = switchboard::cli::undeploy(&server.base, &token(), "versioned")
        .await
        .unwrap();
    assert_eq!(out, "versioned.wasm removed\n");
    server
        .wait_for_file("versioned.wasm", |e| e["status"] == "unloaded")
        .await;
    let gone = server
        .create(&versioned, &create_body("after-removal", json!(1), ""))
        .await;
    assert_eq!(
        gone.body["errorCode"], "ADAPTER_UNAVAILABLE",
        "{}",
        gone.body
    );
    stop_all.store(true, Ordering::SeqCst);
    let steady = steady.await.unwrap();

    assert!(
        moving.len() >= 4,
        "only {} creates ran on versioned",
        moving.len()
    );
    let mut versions = std::collections::BTreeSet::new();
    for reply in &moving {
        assert_eq!(reply["successful"], true, "{reply}");
        let log_id = reply["logId"].as_str().unwrap();
        versions.insert(log_id.split(':').next().unwrap().to_owned());
    }
    assert!(
        versions.iter().all(|v| v == "1.0.0" || v == "2.0.0"),
        "{versions:?}"
    );
    assert!(!steady.is_empty());
    for reply in &steady {
        assert_eq!(reply["successful"], true, "{reply}");
    }
    let left: Vec<String> = plugins(&dirs).into_keys().collect();
    assert_eq!(left, ["testcrm.wasm"], "no temp file is left behind");
    server.stop().await;
}

/// `PUT /admin/adapters/{name}` with a form of `(field, bytes)` parts.
async fn put(server: &TestServer, name: &str, parts: &[(&str, Vec<u8>)]) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (field, bytes) in parts {
        let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(format!("{field}.bin"));
        form = form.part(field.to_string(), part);
    }
    let response = server
        .client
        .put(format!("{}/admin/adapters/{name}", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_changes_nothing() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    dirs.install(artifacts::VERSIONED_V1, "versioned.wasm");
    let server = TestServer::start(&dirs, &["--admin-upload-limit-mib", "1"]).await;
    let before = plugins(&dirs);
    let admin_before = server.admin().await;
    let v2 = std::fs::read(artifacts::VERSIONED_V2).unwrap();
    let refused = |reply: &(u16, Value), status: u16, code: &str, says: &str| {
        assert_eq!(reply.0, status, "{}", reply.1);
        assert_eq!(reply.1["errorCode"], code, "{}", reply.1);
        let message = reply.1["returnMessage"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    };

    // Not a component.
    let reply = put(&server, "versioned", &[("component", b"not wasm".to_vec())]).await;
    refused(
        &reply,
        422,
        "ADAPTER_REFUSED",
        "not a valid WebAssembly component",
    );
    // A component its operator file cannot fit.
    let config = b"[limits]\nmemory_mib = 999999\n".to_vec();
    let reply = put(
        &server,
        "versioned",
        &[("component", v2.clone()), ("config", config)],
    )
    .await;
    refused(&reply, 422, "ADAPTER_REFUSED", "memory_mib");
    // A platform another file serves.
    let reply = put(&server, "other", &[("component", v2.clone())]).await;
    refused(&reply, 422, "ADAPTER_REFUSED", "served by versioned.wasm");
    // Not a file stem.
    let reply = put(&server, ".hidden", &[("component", v2.clone())]).await;
    refused(&reply, 400, "INVALID_REQUEST", "not an adapter name");
    // No component in the form.
    let reply = put(&server, "versioned", &[("config", b"".to_vec())]).await;
    refused(&reply, 400, "INVALID_REQUEST", "component");
    // Larger than --admin-upload-limit-mib.
    let reply = put(&server, "versioned", &[("component", vec![0; 2 << 20])]).await;
    refused(&reply, 413, "PAYLOAD_TOO_LARGE", "");
    // Without the admin token, whatever the body.
    let response = server
        .client
        .put(format!("{}/admin/adapters/versioned", server.base))
        .body(v2.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Removing what is not there.
    let response = server
        .client
        .delete(format!("{}/admin/adapters/nothing", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    assert_eq!(plugins(&dirs), before, "the plugins directory is unchanged");
    let admin_after = server.admin().await;
    assert_eq!(admin_after.len(), admin_before.len());
    for (after, before) in admin_after.iter().zip(&admin_before) {
        for field in ["file", "status", "platform", "version", "sha256"] {
            assert_eq!(after[field], before[field], "{field}");
        }
    }
    let token = server.login("versioned", "k").await;
    let still = server
        .create(&token, &create_body("still-v1", json!(1), ""))
        .await;
    assert!(
        still.body["logId"].as_str().unwrap().starts_with("1.0.0:"),
        "{}",
        still.body
    );
    server.stop().await;
}

/// Whether `entry` (an admin list entry) serves `sha256`.
fn serves(sha256: &str) -> impl Fn(&Value) -> bool + '_ {
    move |e| e["status"] == "serving" && e["sha256"] == sha256
}

/// Two replicas on one PostgreSQL: a deploy through one reaches the other
/// at once (the periodic look is an hour away, so only the notification
/// can bring it), the fleet view shows both serving it, a replica started
/// later has it before it serves, and a removal through any replica
/// reaches them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_reaches_every_replica_and_one_started_later() {
    let pg = Postgres::start();
    let mut args = pg.server_args();
    args.extend(
        [
            "--deployment-check-interval",
            "1h",
            "--heartbeat-interval",
            "200ms",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dirs = [
        Dirs::with_adapters(&[artifacts::TESTCRM]),
        Dirs::with_adapters(&[artifacts::TESTCRM]),
        Dirs::with_adapters(&[artifacts::TESTCRM]),
    ];
    let a = TestServer::start(&dirs[0], &args).await;
    let b = TestServer::start(&dirs[1], &args).await;
    let uploads = tempfile::tempdir().unwrap();
    let v2 = named_versioned(&uploads, artifacts::VERSIONED_V2);
    let config = uploads.path().join("versioned.toml");
    std::fs::write(&config, "[limits]\nmax_requests = 7\n").unwrap();
    let sha256 = |path: &std::path::Path| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
    };

    let mut deploy = upload(&v2);
    deploy.config = Some(config.clone());
    switchboard::cli::deploy(&a.base, &token(), &deploy)
        .await
        .unwrap();
    let v2_sha = sha256(&v2);
    b.wait_for_file("versioned.wasm", serves(&v2_sha)).await;
    assert_eq!(
        std::fs::read_to_string(dirs[1].plugins.join("versioned.toml")).unwrap(),
        "[limits]\nmax_requests = 7\n",
        "the operator file travels with it"
    );
    let token_b = b.login("versioned", "k").await;
    let created = b
        .create(&token_b, &create_body("fleet-1", json!(1), ""))
        .await;
    assert!(
        created.body["logId"]
            .as_str()
            .unwrap()
            .starts_with("2.0.0:"),
        "{}",
        created.body
    );

    // The fleet view: both replicas serve those bytes.
    wait_until(DEADLINE, async || {
        let view = a.admin_get("/admin/replicas").await.body;
        let serving = view["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| {
                r["adapters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s["platform"] == "versioned" && s["sha256"] == v2_sha.as_str())
            })
            .count();
        if serving == 2 {
            Ok(())
        } else {
            Err(format!(
                "both replicas serving {v2_sha} in the fleet view; got {view}"
            ))
        }
    })
    .await;

    // A replica started later has it before it reports ready.
    let c = TestServer::start(&dirs[2], &args).await;
    let entry = c
        .admin_entry("versioned.wasm")
        .await
        .expect("versioned on c");
    assert!(serves(&v2_sha)(&entry), "{entry}");

    // A removal through b reaches a and c.
    switchboard::cli::undeploy(&b.base, &token(), "versioned")
        .await
        .unwrap();
    for server in [&a, &c] {
        server
            .wait_for_file("versioned.wasm", |e| e["status"] == "unloaded")
            .await;
    }
    for dir in &dirs {
        assert!(!dir.plugins.join("versioned.wasm").exists());
        assert!(!dir.plugins.join("versioned.toml").exists());
    }
    for server in [a, b, c] {
        server.stop().await;
    }
}
