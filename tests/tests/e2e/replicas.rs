//! Several replicas on one PostgreSQL, behaving as one service: shared
//! tokens and logs, exactly one CRM record per session however creates
//! race across replicas, one OAuth refresh across them, a replica killed
//! mid-write, and the database going away and coming back.

use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_tests::pipedrive::{API_TOKEN, GOOD_CODE, MockPipedrive};
use switchboard_tests::{
    ChildServer, DEADLINE, Dirs, Outcomes, Postgres, Reply, TestServer, artifacts, create_body,
    start_pipedrive_on, stream_creates, wait_until,
};

/// Flags of a replica on `pg`, then `extra`.
fn on(pg: &Postgres, extra: &[&str]) -> Vec<String> {
    let mut args = pg.server_args();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Two in-process replicas serving testCRM from `pg`, each with its own
/// plugins and data directories.
async fn two_testcrm(pg: &Postgres) -> ([Dirs; 2], [TestServer; 2]) {
    let args = on(pg, &[]);
    let dirs = [
        Dirs::with_adapters(&[artifacts::TESTCRM]),
        Dirs::with_adapters(&[artifacts::TESTCRM]),
    ];
    let a = TestServer::start(&dirs[0], &strs(&args)).await;
    let b = TestServer::start(&dirs[1], &strs(&args)).await;
    (dirs, [a, b])
}

/// testCRM's stored call-log records, read from PostgreSQL.
async fn testcrm_records(pg: &Postgres) -> Vec<Value> {
    let rows = sqlx::query(
        "SELECT value FROM adapter_kv WHERE platform = 'testCRM' AND key LIKE 'calllog/%'",
    )
    .fetch_all(&pg.pool().await)
    .await
    .unwrap();
    rows.iter()
        .map(|row| serde_json::from_slice(&row.get::<Vec<u8>, _>(0)).unwrap())
        .collect()
}

fn is_in_progress_or_existing(reply: &Reply, session: &str) -> bool {
    reply.body["errorCode"] == "LOG_IN_PROGRESS"
        || reply.message() == format!("Existing log for session {session}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_tokens_logs_and_records() {
    let pg = Postgres::start();
    let (_dirs, [a, b]) = two_testcrm(&pg).await;
    let token = a.login("testCRM", "key-1").await;

    // A token minted on A works on B; A's create is found and patched on B.
    let created = a
        .create(&token, &create_body("shared", json!("42"), "from A"))
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let log_id = created.body["logId"].clone();
    let found = b.find(&token, "shared", false).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["logs"][0]["matched"], true, "{}", found.body);
    assert_eq!(found.body["logs"][0]["logId"], log_id);
    let patched = b
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "shared", "note": "patched on B"}),
        )
        .await;
    assert_eq!(patched.body["successful"], true, "{}", patched.body);
    assert_eq!(patched.body["logId"], log_id);
    let again = a
        .create(&token, &create_body("shared", json!("42"), "again"))
        .await;
    assert_eq!(again.message(), "Existing log for session shared");

    // 200 creates over both replicas: 200 distinct log ids, 200 records.
    let servers = [&a, &b];
    let replies: Vec<Reply> = futures::stream::iter(0..200)
        .map(|i| {
            let (server, token) = (servers[i % 2], &token);
            async move {
                server
                    .create(token, &create_body(&format!("many-{i}"), json!(1), ""))
                    .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let ids: BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.body["successful"], true, "{}", r.body);
            r.body["logId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(testcrm_records(&pg).await.len(), 201);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_replica_reaches_the_others_user_cache() {
    let pg = Postgres::start();
    let (_dirs, [a, b]) = two_testcrm(&pg).await;
    let token = a.login("testCRM", "key-1").await;
    // B reads the user, and keeps it in memory, until it hears of a change.
    wait_until(DEADLINE, async || {
        match b.find(&token, "s", false).await.status {
            200 => Ok(()),
            other => Err(format!("B to serve the user; got {other}")),
        }
    })
    .await;
    let out = a
        .post(&format!("/unAuthorize?jwtToken={token}"), &json!({}))
        .await;
    assert_eq!(out.body["successful"], true, "{}", out.body);
    // B refuses the token once the change's notification reached it.
    wait_until(DEADLINE, async || {
        let reply = b.find(&token, "s", false).await;
        match reply.status {
            401 => Ok(()),
            other => Err(format!("B to refuse a signed-out token; got {other}")),
        }
    })
    .await;
    // A keeps the signed-out user in memory too; signing in again on B
    // reaches it.
    assert_eq!(a.find(&token, "s", false).await.status, 401);
    let again = b.login("testCRM", "key-1").await;
    wait_until(DEADLINE, async || {
        match a.find(&again, "s", false).await.status {
            200 => Ok(()),
            other => Err(format!("A to serve the user signed in on B; got {other}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_racing_creates_over_two_replicas_make_one_crm_call() {
    let pg = Postgres::start();
    let mock = MockPipedrive::start().await;
    // Slow enough that the creates overlap the one that reaches Pipedrive.
    mock.set_api_delay(Duration::from_millis(300));
    let args = on(&pg, &[]);
    let (_da, a) = start_pipedrive_on(&mock, &strs(&args)).await;
    let (_db, b) = start_pipedrive_on(&mock, &strs(&args)).await;
    let token = a
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;

    let body = create_body("race", json!(1), "once");
    let servers = [&a, &b];
    let replies =
        futures::future::join_all((0..40).map(|i| servers[i % 2].create(&token, &body))).await;
    let successes: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.body["successful"] == true)
        .collect();
    assert_eq!(successes.len(), 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.body["successful"] == false) {
        assert!(is_in_progress_or_existing(reply, "race"), "{}", reply.body);
    }
    assert!(
        replies
            .iter()
            .any(|r| r.body["errorCode"] == "LOG_IN_PROGRESS"),
        "some creates arrived while the first was in flight: {replies:?}"
    );
    assert_eq!(mock.requests_to("POST", "/api/v2/activities").len(), 1);
    let log_id = &successes[0].body["logId"];
    for server in servers {
        let found = server.find(&token, "race", false).await;
        assert_eq!(&found.body["logs"][0]["logId"], log_id, "{}", found.body);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_oauth_refresh_serves_twenty_creates_over_two_replicas() {
    let pg = Postgres::start();
    let mock = MockPipedrive::start().await;
    mock.set_refresh_delay(Duration::from_millis(300));
    let args = on(&pg, &[]);
    let (_da, a) = start_pipedrive_on(&mock, &strs(&args)).await;
    let (_db, b) = start_pipedrive_on(&mock, &strs(&args)).await;
    let login = a.oauth_callback("pipedrive", GOOD_CODE).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["jwtToken"].as_str().unwrap().to_owned();

    // The CRM stops accepting the access token; every create finds out.
    mock.revoke_access_token("access-1");
    let servers = [&a, &b];
    let bodies: Vec<Value> = (0..20)
        .map(|i| create_body(&format!("oauth-{i}"), json!(1), ""))
        .collect();
    let replies = futures::future::join_all(
        bodies
            .iter()
            .enumerate()
            .map(|(i, body)| servers[i % 2].create(&token, body)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    let refreshes = mock.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh across both replicas");
    let posts = mock.requests_to("POST", "/api/v2/activities");
    let fresh = posts
        .iter()
        .filter(|p| p.header("authorization") == Some("Bearer access-2"))
        .count();
    assert_eq!(fresh, 20, "every create ends with the new token");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_write_loses_nothing_and_duplicates_nothing() {
    let pg = Postgres::start();
    let args = on(&pg, &["--reservation-lease", "2s"]);
    let (dirs_a, dirs_b) = (
        Dirs::with_adapters(&[artifacts::TESTCRM]),
        Dirs::with_adapters(&[artifacts::TESTCRM]),
    );
    let a = ChildServer::start(&dirs_a, &strs(&args)).await;
    let b = ChildServer::start(&dirs_b, &strs(&args)).await;
    let token = a.login("testCRM", "key-1").await;

    let (on_a, on_b) = (
        Arc::new(Mutex::new(Outcomes::default())),
        Arc::new(Mutex::new(Outcomes::default())),
    );
    let writer_a = tokio::spawn(stream_creates(
        a.base.clone(),
        token.clone(),
        "a".into(),
        on_a.clone(),
    ));
    let writer_b = tokio::spawn(stream_creates(
        b.base.clone(),
        token.clone(),
        "b".into(),
        on_b.clone(),
    ));
    let acked = |o: &Arc<Mutex<Outcomes>>| o.lock().unwrap().acked.len();
    wait_until(DEADLINE, async || match (acked(&on_a), acked(&on_b)) {
        (x, y) if x >= 20 && y >= 20 => Ok(()),
        seen => Err(format!(
            "20 creates acknowledged by each replica; got {seen:?}"
        )),
    })
    .await;
    a.kill();
    writer_a.await.unwrap();
    // B goes on without an error (stream_creates panics on any failure).
    let before = acked(&on_b);
    wait_until(DEADLINE, async || match acked(&on_b) {
        n if n >= before + 20 => Ok(()),
        n => Err(format!("B to go on acknowledging; {n} after {before}")),
    })
    .await;
    writer_b.abort();
    assert!(
        writer_b.await.unwrap_err().is_cancelled(),
        "B's writer failed"
    );

    // Every acknowledged create, on either replica, is found on B.
    let all: Vec<(String, String)> = [&on_a, &on_b]
        .iter()
        .flat_map(|o| o.lock().unwrap().acked.clone())
        .collect();
    for (session, log_id) in &all {
        let log = b.find(&token, session).await;
        assert_eq!(log["logId"], log_id.as_str(), "{session}: {log}");
    }
    // A create the kill cut off logs exactly once when retried on B, once
    // its lease has run out.
    let cut_off = on_a.lock().unwrap().cut_off.clone();
    for session in &cut_off {
        let path = format!("/callLog?jwtToken={token}");
        wait_until(DEADLINE, async || {
            let reply = b
                .post(&path, &create_body(session, json!(1), "retried"))
                .await;
            let existing = reply["returnMessage"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Existing log"));
            if reply["successful"] == true || existing {
                Ok(())
            } else {
                Err(format!("{session} to log after its lease: {reply}"))
            }
        })
        .await;
    }
    let mut per_session: BTreeMap<String, usize> = BTreeMap::new();
    for record in testcrm_records(&pg).await {
        *per_session
            .entry(record["sessionId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for session in all.iter().map(|(s, _)| s).chain(&cut_off) {
        assert_eq!(per_session.get(session), Some(&1), "{session}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_is_survived_without_a_restart() {
    let pg = Postgres::start();
    let args = on(&pg, &["--database-statement-timeout", "1s"]);
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &strs(&args)).await;
    let token = server.login("testCRM", "key-1").await;
    let before = server
        .create(&token, &create_body("before", json!(1), ""))
        .await;
    assert_eq!(before.body["successful"], true, "{}", before.body);

    // Traffic throughout: every answer is a success or STORE_UNAVAILABLE,
    // never a 500, never a hang past the request timeout.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let (client, base, token, stop) = (
            server.client.clone(),
            server.base.clone(),
            token.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen = BTreeMap::<String, usize>::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let url = format!("{base}/callLog?jwtToken={token}&sessionIds=before");
                let response = client
                    .get(url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .expect("an answer within the request timeout");
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                let kind = match status {
                    200 => "ok".to_owned(),
                    503 if body["errorCode"] == "STORE_UNAVAILABLE" => "unavailable".to_owned(),
                    _ => panic!("{status}: {body}"),
                };
                *seen.entry(kind).or_default() += 1;
            }
            seen
        })
    };

    pg.stop();
    let down = wait_until(DEADLINE, async || {
        let reply = server
            .create(&token, &create_body("during", json!(1), ""))
            .await;
        match reply.status {
            503 => Ok(reply),
            _ => Err(format!(
                "STORE_UNAVAILABLE while PostgreSQL is down; got {reply:?}"
            )),
        }
    })
    .await;
    assert_eq!(down.body["errorCode"], "STORE_UNAVAILABLE", "{}", down.body);
    assert_eq!(down.body["successful"], false);
    let health = server.get("/healthz").await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["store"]["status"], "down", "{}", health.body);

    pg.restart();
    let after = wait_until(DEADLINE, async || {
        let reply = server
            .create(&token, &create_body("after", json!(1), ""))
            .await;
        match reply.body["successful"] == true {
            true => Ok(reply),
            false => Err(format!("the same process to serve again; got {reply:?}")),
        }
    })
    .await;
    assert!(after.body["logId"].is_string());
    let health = server.get("/healthz").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["store"]["status"], "up");

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = traffic.await.unwrap();
    assert!(
        seen.contains_key("ok") && seen.contains_key("unavailable"),
        "{seen:?}"
    );
    server.stop().await;
}

/// `component` with a custom section appended: the same adapter, other
/// bytes (another sha256), as a rebuild with another toolchain would be.
fn rebuilt(component: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(component).unwrap();
    let (name, payload) = (b"rebuilt".as_slice(), b"2".as_slice());
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes");
    bytes.extend([0, size as u8, name.len() as u8]);
    bytes.extend(name);
    bytes.extend(payload);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_view_lists_live_replicas_and_flags_version_skew() {
    let pg = Postgres::start();
    let args = on(&pg, &["--heartbeat-interval", "200ms"]);
    let (dirs_a, dirs_b) = (
        Dirs::with_adapters(&[artifacts::TESTCRM]),
        Dirs::with_adapters(&[artifacts::TESTCRM]),
    );
    let a = TestServer::start(&dirs_a, &strs(&args)).await;
    let b = ChildServer::start(&dirs_b, &strs(&args)).await;
    let fleet = async || {
        let reply = a.admin_get("/admin/replicas").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    };
    // A replica reports itself from its start, while its adapters load.
    let both = wait_until(DEADLINE, async || {
        let view = fleet().await;
        let replicas = view["replicas"].as_array().cloned().unwrap_or_default();
        let serving = replicas
            .iter()
            .filter(|r| r["adapters"][0]["status"] == "serving")
            .count();
        match (replicas.len(), serving) {
            (2, 2) => Ok(view),
            _ => Err(format!(
                "two serving replicas in the fleet view; got {view}"
            )),
        }
    })
    .await;
    let listens: BTreeSet<&str> = both["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["listen"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = [&a.base, &b.base]
        .iter()
        .map(|base| base.trim_start_matches("http://"))
        .collect();
    assert_eq!(listens, expected);
    for replica in both["replicas"].as_array().unwrap() {
        assert_eq!(replica["adapters"][0]["platform"], "testCRM", "{replica}");
    }
    assert_eq!(both["skew"], json!([]));

    // B is given other bytes for testCRM: the view names the skew.
    dirs_b.overwrite("testcrm.wasm", &rebuilt(artifacts::TESTCRM));
    let skewed = wait_until(DEADLINE, async || {
        let view = fleet().await;
        match view["skew"].as_array().map(Vec::len) {
            Some(1) => Ok(view),
            _ => Err(format!("skew in the fleet view; got {view}")),
        }
    })
    .await;
    assert_eq!(skewed["skew"][0]["platform"], "testCRM");
    assert_eq!(skewed["skew"][0]["sha256"].as_object().unwrap().len(), 2);
    let table = switchboard::cli::replicas(&a.base, &switchboard_tests::ADMIN_TOKEN.into())
        .await
        .unwrap();
    assert!(table.starts_with("REPLICA"), "{table}");
    assert!(table.contains("SKEW testCRM: "), "{table}");

    // B dies without a word: it drops out after missed heartbeats.
    b.kill();
    wait_until(DEADLINE, async || {
        let view = fleet().await;
        match view["replicas"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            _ => Err(format!("B to drop out of the fleet view; got {view}")),
        }
    })
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_key_rotates_once_every_replica_has_stopped() {
    use secrecy::SecretString;
    use switchboard::cli::{RotateArgs, rotate_secret_key};
    const NEW_KEY: &str = "0dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd50dd5";
    let pg = Postgres::start();
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let a = TestServer::start(&dirs, &strs(&on(&pg, &[]))).await;
    let token = a.login("testCRM", "key-1").await;
    let first = a.create(&token, &create_body("before", json!(1), "")).await;
    assert_eq!(first.body["successful"], true, "{}", first.body);

    let scratch = tempfile::tempdir().unwrap();
    let args = RotateArgs {
        data_dir: scratch.path().to_owned(),
        database_url: Some(pg.url()),
        secret_key: Some(SecretString::from(switchboard_tests::SECRET_KEY)),
        new_secret_key: Some(SecretString::from(NEW_KEY)),
    };
    // A replica is running: nothing is touched.
    let refused = rotate_secret_key(&args).await.unwrap_err().to_string();
    assert!(refused.contains("stop every replica"), "{refused}");
    let sealed_before = sealed_credentials(&pg).await;

    a.stop().await;
    let done = rotate_secret_key(&args).await.unwrap();
    assert!(done.contains("re-sealed 1 credential value"), "{done}");
    let sealed_after = sealed_credentials(&pg).await;
    assert_ne!(sealed_before, sealed_after, "the credential is sealed anew");

    // The old key no longer starts a replica; the new one serves the same
    // user with the token minted before.
    let old = store_with_key(&pg, switchboard_tests::SECRET_KEY).await;
    assert!(old.unwrap_err().contains("rotate-secret-key"));
    assert!(store_with_key(&pg, NEW_KEY).await.is_ok());
    let new_key = ["--database-url", &pg.url(), "--secret-key", NEW_KEY].map(str::to_owned);
    let b = TestServer::start(&dirs, &strs(&new_key)).await;
    let after = b.create(&token, &create_body("after", json!(1), "")).await;
    assert_eq!(after.body["successful"], true, "{}", after.body);
    b.stop().await;
}

/// Every stored credential, as sealed.
async fn sealed_credentials(pg: &Postgres) -> Vec<String> {
    sqlx::query_scalar("SELECT credential FROM users ORDER BY id")
        .fetch_all(&pg.pool().await)
        .await
        .unwrap()
}

/// Open `pg`'s store sealing with `key`: whether it starts, or why not.
async fn store_with_key(pg: &Postgres, key: &str) -> Result<(), String> {
    use switchboard::store::sealed::{Sealer, SecretKey};
    let options = switchboard::store::postgres::PgOptions {
        pool_size: 1,
        statement_timeout: Duration::from_secs(5),
        lease: Duration::from_secs(5),
        replica_id: "probe".into(),
    };
    let sealer = Sealer::new(&SecretKey::from_hex(key).unwrap());
    match switchboard::store::postgres::PgStore::connect(&pg.url(), &options, sealer).await {
        Ok(store) => {
            switchboard::store::Store::close(&store).await;
            Ok(())
        }
        Err(e) => Err(format!("{e:#}")),
    }
}
