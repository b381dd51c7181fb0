//! Tenancy attacks: one user reaching another's sessions through every
//! route that takes a session, session ids that collide across platforms,
//! and tokens that name a platform their user does not belong to. Each gets
//! the documented answer and changes nothing.

use serde_json::{Value, json};
use switchboard_tests::{
    Dirs, JWT_SECRET, Reply, TestServer, artifacts, create_body, now_secs, sign_token,
};

async fn put(server: &TestServer, token: &str, body: &Value) -> Reply {
    server
        .put(&format!("/callDisposition?jwtToken={token}"), body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_dispositions_or_patches_another_users_session() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let alice = server.login("testCRM", "key-alice").await;
    let mallory = server.login("testCRM", "key-mallory").await;
    let created = server
        .create(&alice, &create_body("alice-call", json!(1), "private"))
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let before = dirs.testcrm_records().await;

    let disposed = put(
        &server,
        &mallory,
        &json!({"sessionId": "alice-call", "dispositions": {"deals": 666}}),
    )
    .await;
    assert_eq!(disposed.status, 200, "{}", disposed.body);
    assert_eq!(disposed.body["successful"], false);
    assert_eq!(
        disposed.body["returnMessage"]["message"],
        "No call log found for session alice-call"
    );
    let patched = server
        .patch(
            &format!("/callLog?jwtToken={mallory}"),
            &json!({"sessionId": "alice-call", "subject": "owned", "note": "owned"}),
        )
        .await;
    assert_eq!(patched.body["successful"], false, "{}", patched.body);
    assert_eq!(dirs.testcrm_records().await, before, "nothing changed");

    // Alice's own disposition goes through.
    let own = put(
        &server,
        &alice,
        &json!({"sessionId": "alice-call", "dispositions": {"deals": 7}}),
    )
    .await;
    assert_eq!(own.body["successful"], true, "{}", own.body);
    let records = dirs.testcrm_records().await;
    assert_eq!(records[0]["dispositions"], r#"{"deals":7}"#);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_never_collide_across_platforms() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let crm = server.login("testCRM", "key-1").await;
    let other = server.login("hostile", "k").await;
    // One session id, made to look like the other platform's key material.
    let session = "4503991004-testCRM";
    let first = server
        .create(&crm, &create_body(session, json!(1), "testcrm's"))
        .await;
    assert_eq!(first.body["successful"], true, "{}", first.body);
    let second = server
        .create(&other, &create_body(session, json!(1), "hostile's"))
        .await;
    assert_eq!(second.body["successful"], true, "{}", second.body);
    assert_eq!(second.body["logId"], "hostile-ok");

    let crm_view = server.find(&crm, session, false).await;
    assert_eq!(crm_view.body["logs"][0]["logId"], first.body["logId"]);
    let other_view = server.find(&other, session, false).await;
    assert_eq!(other_view.body["logs"][0]["logId"], "hostile-ok");
    assert_eq!(dirs.testcrm_records().await.len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_token_for_another_platform_is_refused() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&token)
        .unwrap()
        .claims;
    // Even signed with the server's own key: the user is not a hostile user.
    let now = now_secs();
    let switched = sign_token(
        &json!({"id": claims["id"], "platform": "hostile", "iat": now, "exp": now + 600}),
        JWT_SECRET,
    );
    let reply = server
        .create(&switched, &create_body("x", json!(1), ""))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["errorCode"], "UNAUTHENTICATED");
    let unknown = sign_token(
        &json!({"id": "nobody-testCRM", "platform": "testCRM", "iat": now, "exp": now + 600}),
        JWT_SECRET,
    );
    assert_eq!(server.find(&unknown, "x", false).await.status, 401);
    assert!(dirs.testcrm_records().await.is_empty());
    server.stop().await;
}
