//! Graceful shutdown as an init system does it: SIGTERM to a server process
//! under load. Requests in flight complete, new connections are refused,
//! and the process exits, at the latest when the configurable grace period
//! (`--shutdown-grace`) is over.

use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_tests::{
    ChildServer, DEADLINE, Dirs, MockCrm, Outcomes, artifacts, create_body, stream_creates,
    wait_until,
};

/// Creates held inside the hostile adapter, each waiting on the mock CRM.
fn held_creates(
    server: &ChildServer,
    token: &str,
    mock: &MockCrm,
    n: usize,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<Value>>> {
    (0..n)
        .map(|i| {
            let url = format!("{}/callLog?jwtToken={token}", server.base);
            let body = create_body(
                &format!("held-{i}"),
                json!(1),
                &format!("fetch {}/slow", mock.url),
            );
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .json(&body)
                    .send()
                    .await?
                    .json()
                    .await
            })
        })
        .collect()
}

async fn refuses_connections(base: &str) {
    let address = base.trim_start_matches("http://");
    wait_until(DEADLINE, async || {
        match tokio::net::TcpStream::connect(address).await {
            Ok(_) => Err("the server to stop accepting connections".to_owned()),
            Err(_) => Ok(()),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_work_and_refuses_new() {
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    let extra = ["--egress-allow-private", "--shutdown-grace", "30s"];
    let mut server = ChildServer::start(&dirs, &extra).await;
    let hostile = server.login("hostile", "k").await;
    let crm = server.login("testCRM", "key-1").await;

    let held = held_creates(&server, &hostile, &mock, 5);
    mock.wait_for_hits(5).await;
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let streams: Vec<_> = (0..8)
        .map(|c| {
            tokio::spawn(stream_creates(
                server.base.clone(),
                crm.clone(),
                format!("load-{c}"),
                outcomes.clone(),
            ))
        })
        .collect();
    wait_until(DEADLINE, async || {
        match outcomes.lock().unwrap().acked.len() {
            acked if acked >= 16 => Ok(()),
            acked => Err(format!("the load to flow; {acked} acknowledged")),
        }
    })
    .await;

    server.terminate();
    refuses_connections(&server.base).await;
    assert!(server.exited().is_none(), "exited with requests in flight");
    mock.release(5);
    for create in held {
        let reply = create.await.unwrap().unwrap();
        assert_eq!(reply["successful"], true, "{reply}");
        assert_eq!(reply["logId"], "fetched:200");
    }
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    for stream in streams {
        stream.await.unwrap();
    }

    // Everything acknowledged before and during the shutdown was kept.
    let acked = outcomes.lock().unwrap().acked.clone();
    let server = ChildServer::start(&dirs, &extra).await;
    for (session, log_id) in &acked {
        let log = server.find(&crm, session).await;
        assert_eq!(log["logId"], log_id.as_str(), "{session}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_shutdown() {
    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let mut server =
        ChildServer::start(&dirs, &["--egress-allow-private", "--shutdown-grace", "1s"]).await;
    let token = server.login("hostile", "k").await;
    // A create the CRM never answers.
    let held = held_creates(&server, &token, &mock, 1);
    mock.wait_for_hits(1).await;

    server.terminate();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    let cut = held.into_iter().next().unwrap().await.unwrap();
    assert!(
        cut.is_err(),
        "the held create was cut off at the end of the grace: {cut:?}"
    );
}
