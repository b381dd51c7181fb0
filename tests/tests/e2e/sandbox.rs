//! The sandbox: a misbehaving adapter fails only its own request, and the
//! egress policy holds.

use serde_json::json;
use switchboard_tests::{Dirs, MockCrm, Reply, TestServer, artifacts, create_body};

async fn hostile(extra: &[&str]) -> (Dirs, TestServer, String) {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, extra).await;
    let token = server.login("hostile", "k").await;
    (dirs, server, token)
}

async fn misbehave(server: &TestServer, token: &str, session: &str, note: &str) -> Reply {
    server
        .create(token, &create_body(session, json!(1), note))
        .await
}

fn assert_failed(reply: &Reply, code: &str) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["successful"], false, "{}", reply.body);
    assert_eq!(reply.body["errorCode"], code, "{}", reply.body);
    assert_eq!(reply.body["returnMessage"]["messageType"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_and_runaways_fail_only_their_own_request() {
    let (dirs, server, token) = hostile(&[]).await;
    let crm_user = server.login("testCRM", "key-1").await;

    // testCRM keeps serving while the hostile adapter misbehaves.
    let crm_traffic = async {
        let mut replies = Vec::new();
        for i in 0..8 {
            replies.push(
                server
                    .create(&crm_user, &create_body(&format!("ok-{i}"), json!(1), ""))
                    .await,
            );
        }
        replies
    };
    let (crm_replies, trap, spin, sleep, hog) = tokio::join!(
        crm_traffic,
        misbehave(&server, &token, "trap", "trap"),
        misbehave(&server, &token, "loop", "loop"),
        misbehave(&server, &token, "sleep", "sleep"),
        misbehave(&server, &token, "memory", "memory"),
    );
    assert_failed(&trap, "ADAPTER_TRAPPED");
    assert_failed(&spin, "ADAPTER_TIMEOUT");
    assert!(
        spin.body["returnMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("CPU"),
        "{}",
        spin.body
    );
    assert_failed(&sleep, "ADAPTER_TIMEOUT");
    assert!(
        sleep.body["returnMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{}",
        sleep.body
    );
    assert_failed(&hog, "ADAPTER_MEMORY_LIMIT");
    for reply in &crm_replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    assert_eq!(dirs.testcrm_records().await.len(), 8);

    // Each failure released its reservation, and the adapter serves again.
    let again = misbehave(&server, &token, "trap", "fine now").await;
    assert_eq!(again.body["successful"], true, "{}", again.body);
    assert_eq!(again.body["logId"], "hostile-ok");

    // An operation the adapter does not implement is answered as such.
    let details = server.find(&token, "trap", true).await;
    assert_failed(&details, "UNSUPPORTED");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_is_limited_to_declared_public_hosts() {
    let mock = MockCrm::start().await;
    let (_dirs, server, token) = hostile(&[]).await;

    // Declared, but a loopback address: refused without the operator's leave.
    let loopback = misbehave(
        &server,
        &token,
        "e1",
        &format!("fetch {}/v1/users/me", mock.url),
    )
    .await;
    assert_failed(&loopback, "EGRESS_DENIED");
    let message = loopback.body["returnMessage"]["message"].as_str().unwrap();
    assert!(
        message.contains("private, loopback or link-local"),
        "{message}"
    );

    // Not declared at all: refused before any lookup.
    let undeclared = misbehave(&server, &token, "e2", "fetch https://evil.example/steal").await;
    assert_failed(&undeclared, "EGRESS_DENIED");
    let message = undeclared.body["returnMessage"]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("evil.example is not in the adapter's allowed hosts"),
        "{message}"
    );
    assert_eq!(mock.hits(), 0, "no request reached the mock CRM");

    // testCRM declares no hosts at all, so it can reach nothing either; and
    // the server still answers normally afterwards.
    let crm_user = server.login("testCRM", "key-1").await;
    let ok = server
        .create(&crm_user, &create_body("after", json!(1), ""))
        .await;
    assert_eq!(ok.body["successful"], true);
    server.stop().await;

    // With the operator's leave, the same declared request goes through:
    // the refusals above were the policy, not a broken network.
    let (_dirs, server, token) = hostile(&["--egress-allow-private"]).await;
    let allowed = misbehave(
        &server,
        &token,
        "e3",
        &format!("fetch {}/v1/users/me", mock.url),
    )
    .await;
    assert_eq!(allowed.body["successful"], true, "{}", allowed.body);
    assert_eq!(allowed.body["logId"], "fetched:200");
    assert_eq!(mock.hits(), 1);
    let undeclared = misbehave(&server, &token, "e4", "fetch https://evil.example/steal").await;
    assert_failed(&undeclared, "EGRESS_DENIED");
    server.stop().await;
}
