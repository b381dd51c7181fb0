//! The Pipedrive adapter against a mock Pipedrive: API-token and OAuth
//! sign-in, contacts, call logs with the exact JSON Pipedrive receives,
//! host-owned token refresh, errors, egress and connection reuse.

use serde_json::{Value, json};
use switchboard_tests::pipedrive::{API_TOKEN, CLIENT_ID, CLIENT_SECRET, GOOD_CODE};
use switchboard_tests::{Reply, TestServer, create_body, start_pipedrive};

async fn api_key_login(server: &TestServer) -> String {
    server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await
}

async fn oauth_login(server: &TestServer) -> String {
    let reply = server.oauth_callback("pipedrive", GOOD_CODE).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["name"], "Pat Pipedrive");
    reply.body["jwtToken"].as_str().unwrap().to_owned()
}

fn assert_failed(reply: &Reply, code: &str) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["successful"], false, "{}", reply.body);
    assert_eq!(reply.body["errorCode"], code, "{}", reply.body);
}

fn bearer(request: &switchboard_tests::pipedrive::Recorded) -> String {
    request
        .header("authorization")
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_login_and_contacts() {
    let (dirs, mock, server) = start_pipedrive(&[]).await;
    let token = api_key_login(&server).await;
    let me = &mock.requests_to("GET", "/v1/users/me")[0];
    assert_eq!(me.header("x-api-token"), Some(API_TOKEN));
    assert_eq!(me.header("authorization"), None);
    assert_eq!(me.header("x-forwarded-host"), Some("testco.pipedrive.com"));
    let stored = dirs.stored_credentials().await;
    assert_eq!(stored[0].0, "api-key");
    assert!(
        !stored[0].1.as_deref().unwrap().contains(API_TOKEN),
        "sealed at rest"
    );

    // The `+` arrives as a space, as App Connect's client sends it.
    let found = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=+16504445566"
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["successful"], true, "{}", found.body);
    assert_eq!(
        found.body["contact"],
        json!([
            {"id": "1", "name": "John Smith", "phone": "+1 (650) 444-5566", "type": "person", "organization": "Acme Corp", "additionalInfo": null},
            {"id": "2", "name": "Joan Smith", "phone": "650-444-5566", "type": "person", "organization": null, "additionalInfo": null},
        ])
    );
    let terms: Vec<String> = mock
        .requests_to("GET", "/api/v2/persons/search")
        .iter()
        .map(|r| {
            assert_eq!(r.param("fields").as_deref(), Some("phone"));
            r.param("term").unwrap()
        })
        .collect();
    assert_eq!(
        terms,
        ["+16504445566", "6504445566"],
        "E.164 and national form"
    );

    let none = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B15550000000"
        ))
        .await;
    assert_eq!(none.body["successful"], false, "{}", none.body);
    assert_eq!(none.body["contact"], json!([]));
    let bad = server
        .get(&format!("/contact?jwtToken={token}&phoneNumber=call-me"))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["errorCode"], "INVALID_REQUEST");

    let created = server
        .post(
            &format!("/contact?jwtToken={token}"),
            &json!({"phoneNumber": "+15550001111", "newContactName": "New Person", "newContactType": "person"}),
        )
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    assert_eq!(created.body["contact"]["name"], "New Person");
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let posted = &mock.requests_to("POST", "/v1/persons")[0];
    assert_eq!(
        posted.body,
        json!({"name": "New Person", "phone": [{"value": "+15550001111", "primary": true, "label": "work"}]})
    );
    let again = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B15550001111"
        ))
        .await;
    assert_eq!(again.body["contact"][0]["id"], id.as_str());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_login_exchanges_the_code_on_the_host() {
    let (dirs, mock, server) = start_pipedrive(&[]).await;
    let denied = server.oauth_callback("pipedrive", "wrong-code").await;
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert_eq!(denied.body["errorCode"], "CRM_UNAUTHORIZED");
    assert!(mock.requests_to("GET", "/v1/users/me").is_empty());

    let token = oauth_login(&server).await;
    let exchange = mock.token_requests("authorization_code").pop().unwrap();
    assert_eq!(exchange.form("code").as_deref(), Some(GOOD_CODE));
    assert_eq!(
        exchange.form("redirect_uri").as_deref(),
        Some("https://app.example/redirect.html")
    );
    assert!(
        exchange.form("client_secret").is_none(),
        "the secret travels in Basic auth only"
    );
    assert!(bearer(&exchange).starts_with("Basic "));
    // The adapter got a ready header and the token response's api_domain.
    let me = mock.requests_to("GET", "/v1/users/me").pop().unwrap();
    assert_eq!(bearer(&me), "Bearer access-1");
    assert_eq!(me.header("x-forwarded-host"), Some("testco.pipedrive.com"));

    let (kind, credential, refresh) = dirs.stored_credentials().await.pop().unwrap();
    assert_eq!(kind, "oauth");
    let (credential, refresh) = (credential.unwrap(), refresh.unwrap());
    assert!(credential.starts_with("v1.") && !credential.contains("access-1"));
    assert!(refresh.starts_with("v1.") && !refresh.contains("refresh-1"));
    for secret in [CLIENT_ID, CLIENT_SECRET] {
        assert!(!credential.contains(secret) && !refresh.contains(secret));
    }

    let found = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B442071234567"
        ))
        .await;
    assert_eq!(
        found.body["contact"][0]["name"], "Ann Other",
        "{}",
        found.body
    );
    server.stop().await;

    // Without an OAuth app configured, the callback says so.
    std::fs::remove_file(dirs.plugins.join("pipedrive.toml")).unwrap();
    let server = TestServer::start(
        &dirs,
        &[
            "--egress-override",
            &format!("*.pipedrive.com={}", mock.url),
        ],
    )
    .await;
    let unconfigured = server.oauth_callback("pipedrive", GOOD_CODE).await;
    assert_eq!(unconfigured.status, 503, "{}", unconfigured.body);
    assert_eq!(unconfigured.body["errorCode"], "OAUTH_NOT_CONFIGURED");
    let not_oauth = server.oauth_callback("testCRM", GOOD_CODE).await;
    assert_eq!(not_oauth.status, 400, "{}", not_oauth.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_logs_reach_pipedrive_as_exact_json() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = oauth_login(&server).await;

    // contactId as a numeric string.
    let created = server
        .create(
            &token,
            &create_body("s-1", json!("1"), "Asked about renewal\nSend <prices>"),
        )
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let log_id = created.body["logId"].as_str().unwrap().to_owned();
    let posted = mock.requests_to("POST", "/api/v2/activities");
    assert_eq!(
        posted[0].body,
        json!({
            "subject": "Inbound call from John Smith",
            "type": "call",
            "owner_id": 123,
            "participants": [{"person_id": 1, "primary": true}],
            "org_id": 5,
            "done": true,
            "due_date": "2018-09-11",
            "due_time": "13:24",
            "duration": "00:01",
            "note": "<p><b>Agent notes</b></p><p>Asked about renewal<br>Send &lt;prices&gt;</p>\
                     <p><b>Call details</b></p><ul><li><b>Date/time</b>: 2018-09-11 13:24:09 UTC</li>\
                     <li><b>Duration</b>: 00:00:07</li><li><b>Result</b>: Accepted</li>\
                     <li><b>Call recording link</b>: <a href=\"https://app.ringcentral.com/recordings/1001\">\
                     https://app.ringcentral.com/recordings/1001</a></li></ul>",
        })
    );
    assert_eq!(bearer(&posted[0]), "Bearer access-1");

    // contactId as a number, a deal chosen, a custom subject; the activity
    // type comes from the adapter's cache this time.
    let mut body = create_body("s-2", json!(2), "");
    body["additionalSubmission"] = json!({"deals": "12"});
    body["logInfo"]["customSubject"] = json!("Renewal call");
    body["logInfo"]["direction"] = json!("Outbound");
    let second = server.create(&token, &body).await;
    assert_eq!(second.body["successful"], true, "{}", second.body);
    let sent = &mock.requests_to("POST", "/api/v2/activities")[1].body;
    assert_eq!(sent["subject"], "Renewal call");
    assert_eq!(sent["deal_id"], 12);
    assert_eq!(
        sent["participants"],
        json!([{"person_id": 2, "primary": true}])
    );
    assert!(
        sent.get("org_id").is_none(),
        "Joan has no organisation: {sent}"
    );
    assert!(!sent["note"].as_str().unwrap().contains("Agent notes"));
    assert_eq!(
        mock.requests_to("GET", "/v1/activityTypes").len(),
        1,
        "cached in kv"
    );

    let details = server.find(&token, "s-1", true).await;
    let data = &details.body["logs"][0]["logData"];
    assert_eq!(
        data["subject"], "Inbound call from John Smith",
        "{}",
        details.body
    );
    assert_eq!(data["note"], "Asked about renewal\nSend <prices>");
    assert_eq!(data["contactName"], "John Smith");

    let patched = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({
                "sessionId": "s-1", "subject": "Renewal follow-up", "note": "Sending a quote",
                "recordingLink": "https%3A%2F%2Fapp.ringcentral.com%2Frecordings%2F2002",
                "duration": 125, "result": "Call connected",
            }),
        )
        .await;
    assert_eq!(patched.body["successful"], true, "{}", patched.body);
    let patch = mock
        .requests_to("PATCH", &format!("/api/v2/activities/{log_id}"))
        .pop()
        .unwrap();
    let expected_note = "<p><b>Agent notes</b></p><p>Sending a quote</p>\
                         <p><b>Call details</b></p><ul><li><b>Date/time</b>: 2018-09-11 13:24:09 UTC</li>\
                         <li><b>Duration</b>: 00:02:05</li><li><b>Result</b>: Call connected</li>\
                         <li><b>Call recording link</b>: <a href=\"https://app.ringcentral.com/recordings/2002\">\
                         https://app.ringcentral.com/recordings/2002</a></li></ul>";
    assert_eq!(
        patch.body,
        json!({"subject": "Renewal follow-up", "duration": "00:03", "note": expected_note})
    );
    assert_eq!(patched.body["updatedNote"], expected_note);

    let disposed = server
        .client
        .put(format!("{}/callDisposition?jwtToken={token}", server.base))
        .json(&json!({"sessionId": "s-1", "dispositions": {"deals": 12, "leads": "b1f1c3a0-lead"}}))
        .send()
        .await
        .unwrap();
    let disposed: Value = disposed.json().await.unwrap();
    assert_eq!(disposed["successful"], true, "{disposed}");
    let patch = mock
        .requests_to("PATCH", &format!("/api/v2/activities/{log_id}"))
        .pop()
        .unwrap();
    assert_eq!(
        patch.body,
        json!({"deal_id": 12, "lead_id": "b1f1c3a0-lead"})
    );
    let details = server.find(&token, "s-1", true).await;
    let data = &details.body["logs"][0]["logData"];
    assert_eq!(
        data["dispositions"],
        json!({"deals": 12, "leads": "b1f1c3a0-lead"})
    );
    assert_eq!(data["subject"], "Renewal follow-up");
    let unknown = server
        .client
        .put(format!("{}/callDisposition?jwtToken={token}", server.base))
        .json(&json!({"sessionId": "nope", "dispositions": {"deals": 1}}))
        .send()
        .await
        .unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["successful"], false, "{unknown}");
    assert_eq!(mock.activities().len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_errors_become_clear_answers() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = api_key_login(&server).await;
    mock.fail_next(
        "POST",
        "/api/v2/activities",
        429,
        &[("retry-after", "30"), ("x-ratelimit-remaining", "0")],
        json!({"success": false, "error": "Rate limit exceeded", "error_info": "…"}),
    );
    let limited = server
        .create(&token, &create_body("r-1", json!(1), ""))
        .await;
    assert_failed(&limited, "RATE_LIMITED");
    assert!(
        limited.message().contains("retry after 30 seconds"),
        "{}",
        limited.body
    );
    // The reservation was released: the same session logs once Pipedrive lets it.
    let retried = server
        .create(&token, &create_body("r-1", json!(1), ""))
        .await;
    assert_eq!(retried.body["successful"], true, "{}", retried.body);

    mock.fail_next(
        "GET",
        "/api/v2/persons/",
        404,
        &[],
        json!({"success": false, "error": "Person not found", "error_info": "…"}),
    );
    let missing = server
        .create(&token, &create_body("r-2", json!(999), ""))
        .await;
    assert_failed(&missing, "CRM_ERROR");
    assert!(
        missing.message().contains("HTTP 404: Person not found"),
        "{}",
        missing.body
    );
    let not_an_id = server
        .create(&token, &create_body("r-3", json!("abc"), ""))
        .await;
    assert_failed(&not_an_id, "INVALID_INPUT");
    assert_eq!(mock.activities().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_once_and_retries_once() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = oauth_login(&server).await;
    mock.revoke_access_token("access-1");

    let created = server
        .create(&token, &create_body("u-1", json!(1), ""))
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let refreshes = mock.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(
        refreshes[0].form("refresh_token").as_deref(),
        Some("refresh-1")
    );
    let posts = mock.requests_to("POST", "/api/v2/activities");
    assert_eq!(posts.len(), 1, "one record");
    assert_eq!(bearer(&posts[0]), "Bearer access-2");

    // Still refused after the refresh: one retry, then the answer.
    mock.fail_next(
        "POST",
        "/api/v2/activities",
        401,
        &[],
        json!({"success": false, "error": "unauthorized access", "errorCode": 401}),
    );
    mock.fail_next(
        "POST",
        "/api/v2/activities",
        401,
        &[],
        json!({"success": false, "error": "unauthorized access", "errorCode": 401}),
    );
    let refused = server
        .create(&token, &create_body("u-2", json!(1), ""))
        .await;
    assert_failed(&refused, "CRM_UNAUTHORIZED");
    assert_eq!(mock.token_requests("refresh_token").len(), 2);
    assert_eq!(mock.requests_to("POST", "/api/v2/activities").len(), 3);
    assert_eq!(mock.activities().len(), 1);

    // The rotated refresh token was stored: the next refresh uses it.
    mock.revoke_access_token("access-3");
    let again = server
        .create(&token, &create_body("u-3", json!(1), ""))
        .await;
    assert_eq!(again.body["successful"], true, "{}", again.body);
    assert_eq!(
        mock.token_requests("refresh_token")
            .pop()
            .unwrap()
            .form("refresh_token")
            .as_deref(),
        Some("refresh-3")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_share_one_refresh() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    // Tokens that expire within the 2-minute margin, and a slow token endpoint.
    mock.set_login_expires_in(60);
    mock.set_refresh_delay(std::time::Duration::from_millis(300));
    let token = oauth_login(&server).await;

    let bodies: Vec<Value> = (0..50)
        .map(|i| create_body(&format!("c-{i}"), json!(1), ""))
        .collect();
    let replies =
        futures::future::join_all(bodies.iter().map(|body| server.create(&token, body))).await;
    for reply in &replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    assert_eq!(
        mock.token_requests("refresh_token").len(),
        1,
        "single flight"
    );
    let posts = mock.requests_to("POST", "/api/v2/activities");
    assert_eq!(posts.len(), 50);
    assert!(posts.iter().all(|p| bearer(p) == "Bearer access-2"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_revokes_the_session() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    mock.set_login_expires_in(60);
    let token = oauth_login(&server).await;
    mock.revoke_refresh_tokens();

    let revoked = server
        .create(&token, &create_body("v-1", json!(1), ""))
        .await;
    assert_failed(&revoked, "CRM_SESSION_REVOKED");
    assert!(mock.requests_to("POST", "/api/v2/activities").is_empty());
    let after = server.find(&token, "v-1", false).await;
    assert_eq!(after.status, 401, "{}", after.body);

    // Signing in again works, and the released session logs.
    mock.set_login_expires_in(3600);
    let token = oauth_login(&server).await;
    let logged = server
        .create(&token, &create_body("v-1", json!(1), ""))
        .await;
    assert_eq!(logged.body["successful"], true, "{}", logged.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_manifest_are_denied() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    for hostname in [
        "attacker.example",
        "169.254.169.254",
        "pipedrive.com.attacker.example",
    ] {
        let reply = server
            .post(
                "/apiKeyLogin",
                &json!({"platform": "pipedrive", "apiKey": API_TOKEN, "hostname": hostname}),
            )
            .await;
        assert_failed(&reply, "EGRESS_DENIED");
        let message = reply.message();
        assert!(
            message.contains("not in the adapter's allowed hosts"),
            "{message}"
        );
    }
    assert!(mock.requests().is_empty(), "nothing reached Pipedrive");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_the_crm_are_reused() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = api_key_login(&server).await;
    for i in 0..200 {
        let reply = server
            .create(&token, &create_body(&format!("k-{i}"), json!(1), ""))
            .await;
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    assert_eq!(mock.activities().len(), 200);
    let requests = mock.requests().len();
    assert!(requests > 400, "{requests} requests");
    assert!(
        mock.connections() <= 3,
        "{requests} requests over {} connections",
        mock.connections()
    );
    server.stop().await;
}
