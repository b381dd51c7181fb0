//! What survives a restart, and what happens when an adapter is gone.

use serde_json::json;
use switchboard_tests::{Dirs, TestServer, artifacts, create_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_data_dir_gives_the_same_answers() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    server
        .create(&token, &create_body("keep", json!(1), "kept"))
        .await;
    let before = server.find(&token, "keep,other", true).await;
    server.stop().await;

    let server = TestServer::start(&dirs, &[]).await;
    let after = server.find(&token, "keep,other", true).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body, before.body);
    assert_eq!(after.body["logs"][0]["logData"]["note"], "kept");
    // Ids keep counting from where they were.
    let next = server
        .create(&token, &create_body("next", json!(1), ""))
        .await;
    assert_eq!(next.body["logId"], "2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_adapter_is_answered_clearly() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let health = server.get("/healthz").await;
    assert_eq!(health.body["status"], "ready");
    assert_eq!(
        health.body["adapters"],
        json!([{"platform": "hostile", "version": "0.1.0"}, {"platform": "testCRM", "version": "0.1.0"}])
    );
    let token = server.login("hostile", "k").await;
    server.stop().await;

    dirs.remove_adapter(artifacts::HOSTILE);
    let server = TestServer::start(&dirs, &[]).await;
    let reply = server
        .create(&token, &create_body("gone", json!(1), ""))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["successful"], false);
    assert_eq!(reply.body["errorCode"], "ADAPTER_UNAVAILABLE");
    assert_eq!(
        reply.body["returnMessage"]["message"],
        "No adapter is available for platform hostile"
    );
    // Nothing was reserved: the session is free once the adapter is back.
    let found = server.find(&token, "gone", false).await;
    assert_eq!(
        found.body["logs"],
        json!([{"sessionId": "gone", "matched": false}])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_an_adapter_is_skipped() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    std::fs::write(dirs.plugins.join("garbage.wasm"), b"\0asm not really").unwrap();
    let server = TestServer::start(&dirs, &[]).await;
    let health = server.get("/healthz").await;
    assert_eq!(
        health.body["adapters"],
        json!([{"platform": "testCRM", "version": "0.1.0"}])
    );
    let token = server.login("testCRM", "k").await;
    assert_eq!(
        server
            .create(&token, &create_body("ok", json!(1), ""))
            .await
            .body["successful"],
        true
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    use switchboard_tests::MockCrm;

    let mock = MockCrm::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let mut server = TestServer::start(&dirs, &["--egress-allow-private"]).await;
    let token = server.login("hostile", "k").await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // A create that is inside the adapter, waiting on the CRM.
    let in_flight = {
        let (client, base) = (server.client.clone(), server.base.clone());
        let body = create_body("slow", json!(1), &format!("fetch {}/slow", mock.url));
        tokio::spawn(async move {
            let url = format!("{base}/callLog?jwtToken={token}");
            client
                .post(url)
                .json(&body)
                .send()
                .await?
                .json::<serde_json::Value>()
                .await
        })
    };
    mock.wait_for_hits(1).await;

    server.begin_shutdown();
    switchboard_tests::wait_until(switchboard_tests::DEADLINE, async || {
        match tokio::net::TcpStream::connect(&address).await {
            Ok(_) => Err("the server to stop accepting connections".to_owned()),
            Err(_) => Ok(()),
        }
    })
    .await;

    assert!(
        server.is_serving(),
        "serve returned while a request was in flight"
    );

    mock.release(1);
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(reply["logId"], "fetched:200");
    server.finished().await;
}
