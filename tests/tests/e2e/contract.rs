//! App Connect's core contract beyond call logs: `/isAlive`,
//! `/implementedInterfaces`, `/authValidation`, `/custom/contact/search`,
//! `X-Refreshed-JWT-Token`, the call fields `aiNote`, `transcript`, `legs`
//! and `recordingDownloadLink`, and contract 0.1.0 served beside 0.2.0.

use serde_json::{Value, json};
use switchboard_tests::pipedrive::API_TOKEN;
use switchboard_tests::{
    Dirs, JWT_SECRET, TestServer, artifacts, create_body, now_secs, sign_token, start_pipedrive,
};

fn assert_failed(body: &Value, code: &str) {
    assert_eq!(body["successful"], false, "{body}");
    assert_eq!(body["errorCode"], code, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_alive_and_implemented_interfaces() {
    let dirs = Dirs::with_adapters(&[
        artifacts::TESTCRM,
        artifacts::LEGACY,
        artifacts::VERSIONED_V1,
    ]);
    let server = TestServer::start(&dirs, &[]).await;

    let alive = server
        .client
        .get(format!("{}/isAlive", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);
    assert_eq!(alive.text().await.unwrap(), "OK");
    let older = server
        .client
        .get(format!("{}/is-alive", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(older.text().await.unwrap(), "OK");
    let version = server.get("/serverVersionInfo").await;
    assert_eq!(version.body["version"], env!("CARGO_PKG_VERSION"));
    let token = server.login_at("testCRM", "key-1", "crm.example").await;
    let hostname = server
        .client
        .get(format!("{}/hostname?jwtToken={token}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(hostname.status(), 200);
    assert_eq!(hostname.text().await.unwrap(), "crm.example");

    let testcrm = server.get("/implementedInterfaces?platform=testCRM").await;
    assert_eq!(testcrm.status, 200, "{}", testcrm.body);
    assert_eq!(
        testcrm.body,
        json!({
            "getUserInfo": true,
            "findContact": true,
            "findContactWithName": true,
            "createContact": true,
            "createCallLog": true,
            "getCallLog": true,
            "updateCallLog": true,
            "upsertCallDisposition": true,
            "createMessageLog": true,
            "updateMessageLog": true,
        })
    );
    // What a manifest leaves out is false.
    let versioned = server
        .get("/implementedInterfaces?platform=versioned")
        .await;
    assert_eq!(versioned.body["createCallLog"], true, "{}", versioned.body);
    assert_eq!(versioned.body["findContact"], false, "{}", versioned.body);
    assert_eq!(
        versioned.body["createMessageLog"], false,
        "{}",
        versioned.body
    );
    // A 0.1.0 component exports every 0.1.0 operation; 0.2.0's new one it
    // cannot have.
    let legacy = server.get("/implementedInterfaces?platform=legacy").await;
    assert_eq!(legacy.body["createCallLog"], true, "{}", legacy.body);
    assert_eq!(legacy.body["findContactWithName"], false, "{}", legacy.body);

    let missing = server.get("/implementedInterfaces").await;
    assert_eq!(missing.status, 400);
    assert!(missing.message().contains("platform"), "{}", missing.body);
    let unknown = server.get("/implementedInterfaces?platform=nope").await;
    assert_failed(&unknown.body, "ADAPTER_UNAVAILABLE");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_component_serves_beside_0_2() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM, artifacts::LEGACY]);
    let server = TestServer::start(&dirs, &[]).await;
    let entries = server.admin().await;
    let wit = |platform: &str| {
        entries
            .iter()
            .find(|e| e["platform"] == platform)
            .map(|e| e["witVersion"].clone())
    };
    assert_eq!(wit("legacy"), Some(json!("0.1.0")), "{entries:?}");
    assert_eq!(wit("testCRM"), Some(json!("0.2.0")), "{entries:?}");

    // The call-log round trip, unchanged for the old component.
    let token = server.login("legacy", "any-key").await;
    let mut body = create_body("legacy-1", json!(7), "first note");
    body["logInfo"]["customSubject"] = json!("Old subject");
    body["aiNote"] = json!("0.1.0 has no place for this");
    let created = server.create(&token, &body).await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    assert_eq!(created.body["logId"], "1");
    let found = server.find(&token, "legacy-1", true).await;
    let log = &found.body["logs"][0];
    assert_eq!(log["matched"], true, "{}", found.body);
    assert_eq!(log["logData"]["subject"], "Old subject", "{}", found.body);
    assert_eq!(log["logData"]["note"], "first note", "{}", found.body);
    let patched = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "legacy-1", "note": "second note", "aiNote": "dropped"}),
        )
        .await;
    assert_eq!(patched.body["successful"], true, "{}", patched.body);
    assert_eq!(
        patched.body["updatedNote"], "second note",
        "{}",
        patched.body
    );

    // The old component's own answer for what it does not do, and the
    // host's for what its version has not got.
    let by_number = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B16504445566"
        ))
        .await;
    assert_failed(&by_number.body, "UNSUPPORTED");
    assert!(
        by_number.message().contains("legacy does not implement"),
        "{}",
        by_number.body
    );
    let by_name = server
        .get(&format!("/custom/contact/search?jwtToken={token}&name=Ann"))
        .await;
    assert_failed(&by_name.body, "UNSUPPORTED");
    assert!(
        by_name.message().contains("find-contact-by-name"),
        "{}",
        by_name.body
    );
    let entry = server.admin_entry("legacy.wasm").await.unwrap();
    assert_eq!(
        entry["calls"].as_u64(),
        Some(5),
        "login, create, get, patch and find-contact ran; find-contact-by-name did not: {entry}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_near_expiry_comes_back_renewed() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &["--jwt-renew-within", "1h"]).await;
    let fresh = server.login("testCRM", "key-1").await;
    let path = |token: &str| format!("/callLog?jwtToken={token}&sessionIds=none");
    let reply = server.get(&path(&fresh)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-refreshed-jwt-token"), None, "30 days left");

    // The same user's token, ten minutes from expiry.
    let claims = decode(&fresh);
    let now = now_secs();
    let old = sign_token(
        &json!({"id": claims["id"], "platform": "testCRM", "iat": now - 100, "exp": now + 600}),
        JWT_SECRET,
    );
    let reply = server.get(&path(&old)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let renewed = reply
        .header("x-refreshed-jwt-token")
        .expect("a renewed token")
        .to_owned();
    let renewed_claims = decode(&renewed);
    assert_eq!(renewed_claims["id"], claims["id"]);
    assert_eq!(renewed_claims["platform"], "testCRM");
    assert!(
        renewed_claims["exp"].as_u64().unwrap() > now + 600,
        "{renewed_claims}"
    );
    // The renewed token works, and is not itself due.
    let reply = server.get(&path(&renewed)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-refreshed-jwt-token"), None);
    // An unauthorised answer carries none.
    let forged = sign_token(
        &json!({"id": claims["id"], "platform": "testCRM", "iat": now, "exp": now + 60}),
        "another-secret-another-secret-another",
    );
    let reply = server.get(&path(&forged)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("x-refreshed-jwt-token"), None);
    server.stop().await;
}

/// A token's claims, unverified (the test only reads them).
fn decode(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_validation_rechecks_the_credential_with_the_crm() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let before = mock.requests_to("GET", "/v1/users/me").len();
    let valid = server
        .get(&format!("/authValidation?jwtToken={token}"))
        .await;
    assert_eq!(valid.status, 200, "{}", valid.body);
    assert_eq!(valid.body["successful"], true, "{}", valid.body);
    assert_eq!(
        mock.requests_to("GET", "/v1/users/me").len(),
        before + 1,
        "asked the CRM"
    );

    mock.fail_next(
        "GET",
        "/v1/users/me",
        401,
        &[],
        json!({"success": false, "error": "unauthorized access", "errorCode": 401}),
    );
    let dead = server
        .get(&format!("/authValidation?jwtToken={token}"))
        .await;
    assert_eq!(dead.status, 200, "{}", dead.body);
    assert_failed(&dead.body, "CRM_SESSION_REVOKED");

    let unsigned = server.get("/authValidation").await;
    assert_eq!(unsigned.status, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_notes_and_transcripts_reach_the_record() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let mut body = create_body("ai-1", json!(7), "agent words");
    body["aiNote"] = json!("Customer asked for a quote");
    body["transcript"] = json!("Ann: hello\nBob: hi");
    body["recordingDownloadLink"] = json!("https://media.example/r/1?access_token=SECRET-RC");
    let created = server.create(&token, &body).await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let found = server.find(&token, "ai-1", true).await;
    let full = found.body["logs"][0]["logData"]["fullBody"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        full.contains("- AI note: Customer asked for a quote\n"),
        "{full}"
    );
    assert!(
        full.contains("- Transcript: Ann: hello\nBob: hi\n"),
        "{full}"
    );

    let patched = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "ai-1", "aiNote": "Quote sent"}),
        )
        .await;
    let note = patched.body["updatedNote"].as_str().unwrap_or_default();
    assert!(note.contains("- AI note: Quote sent\n"), "{}", patched.body);
    assert!(note.contains("- Transcript: Ann: hello"), "kept: {note}");
    let stored = dirs.testcrm_records().await;
    assert_eq!(stored[0]["aiNote"], "Quote sent", "{stored:?}");
    // The download link's token is in no file the server wrote.
    for entry in std::fs::read_dir(&dirs.data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("SECRET-RC"),
                "{} holds the download link",
                path.display()
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_writes_ai_notes_and_transcripts_into_the_activity() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let mut body = create_body("pd-ai-1", json!(1), "agent words");
    body["aiNote"] = json!("Wants <b>two</b> seats");
    body["transcript"] = json!("Pat: hi");
    body["logInfo"]["legs"] = json!([]);
    let created = server.create(&token, &body).await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let activity = mock.activities().pop().expect("an activity");
    let note = activity["note"].as_str().unwrap().to_owned();
    assert!(
        note.contains("<p><b>AI note</b></p><p>Wants &lt;b&gt;two&lt;/b&gt; seats</p>"),
        "{note}"
    );
    assert!(
        note.contains("<p><b>Transcript</b></p><p>Pat: hi</p>"),
        "{note}"
    );
    let found = server.find(&token, "pd-ai-1", true).await;
    let full = found.body["logs"][0]["logData"]["fullBody"].clone();
    assert!(full.as_str().unwrap().contains("AI note"), "{}", found.body);
    server.stop().await;
}
