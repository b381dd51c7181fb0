//! Nothing secret reaches a log line, even at `trace` level, in either
//! `--log-format`.

use serde_json::json;
use std::sync::{Arc, Mutex, OnceLock};
use switchboard::log_filter::LogFormat;
use switchboard_tests::{Dirs, TestServer, artifacts, create_body};

/// Everything every test in this binary logs, at `trace` level.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // The server's own filter at its most verbose: what an operator
        // running with `RUST_LOG=trace` would see.
        let filter = switchboard::log_filter::log_filter("trace");
        // Every line in each format, so each check covers both.
        let formats = [LogFormat::Text, LogFormat::Json];
        let writer = move || Writer(sink.clone());
        let subscriber = switchboard::log_filter::subscriber(filter, writer, &formats, false, None);
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_carry_keys_or_tokens() {
    let logs = captured();
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let api_key = "sekrit-api-key-4f1d9c";
    let token = server.login("testCRM", api_key).await;
    server
        .create(&token, &create_body("log-1", json!(1), "note"))
        .await;
    server.find(&token, "log-1", true).await;
    server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "log-1", "note": "n"}),
        )
        .await;
    // RingCentral tokens the client hands over: a recording's download link
    // and the token message attachments' links are built from.
    let rc_token = "rc-access-token-77e0a1";
    let mut with_link = create_body("log-2", json!(1), "note");
    with_link["recordingDownloadLink"] =
        json!(format!("https://media.example/r/2?access_token={rc_token}"));
    server.create(&token, &with_link).await;
    let message = json!({
        "logInfo": {
            "conversationId": "c", "conversationLogId": "c-2024-02-29",
            "rcAccessToken": rc_token,
            "messages": [{"id": "m1", "type": "VoiceMail", "direction": "Inbound",
                          "creationTime": 1_709_211_900_000_i64,
                          "from": {"phoneNumber": "+16505550100"},
                          "attachments": [{"id": 1, "type": "AudioRecording",
                                           "uri": "https://media.example/vm/1"}]}],
        },
        "contactId": 7,
    });
    let logged = server
        .post(&format!("/messageLog?jwtToken={token}"), &message)
        .await;
    assert_eq!(logged.body["logIds"], json!(["m1"]), "{}", logged.body);
    let bad = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "testCRM", "apiKey": api_key}),
        )
        .await;
    assert_eq!(bad.status, 400);
    server
        .post(&format!("/unAuthorize?jwtToken={token}"), &json!({}))
        .await;
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("/apiKeyLogin") && text.contains("/callLog"),
        "logs were captured"
    );
    assert!(!text.contains(api_key), "the API key reached a log");
    assert!(text.contains("/messageLog"), "the message log was captured");
    assert!(
        !text.contains(rc_token),
        "a RingCentral token reached a log"
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "the jwtToken reached a log");
}

/// A line the adapter logs while it creates a call log carries the request's
/// id: the create runs in a task of its own, inside the request's span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_log_lines_carry_the_request_id() {
    let logs = captured();
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("hostile", "k").await;
    let request_id = "req-7f3a-adapter-log";
    let words = "hello-from-inside-the-create";
    let response = server
        .client
        .post(format!("{}/callLog?jwtToken={token}", server.base))
        .header("x-request-id", request_id)
        .json(&create_body("said-1", json!(1), &format!("say {words}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], request_id);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["logId"], "said", "{body}");
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|line| line.contains(words) && !line.starts_with('{'))
        .expect("the adapter's line was logged");
    assert!(line.contains(&format!("request_id={request_id}")), "{line}");

    // As JSON: one object, with the event's own fields and its spans'.
    let json: serde_json::Value = text
        .lines()
        .filter(|line| line.starts_with('{') && line.contains(words))
        .map(|line| serde_json::from_str(line).expect("one object per line"))
        .next()
        .expect("the adapter's line was logged as JSON");
    for field in ["timestamp", "level", "target", "message"] {
        assert!(json[field].is_string(), "{field}: {json}");
    }
    assert!(json["message"].as_str().unwrap().contains(words), "{json}");
    let spans = json["spans"].as_array().expect("the spans");
    let span = |name: &str| spans.iter().find(|s| s["name"] == name).cloned();
    let request = span("request").expect("the request span");
    assert_eq!(request["request_id"], request_id, "{json}");
    assert_eq!(request["path"], "/callLog", "{json}");
    let call = span("adapter").expect("the adapter call's span");
    assert_eq!(call["platform"], "hostile", "{json}");
    assert_eq!(call["operation"], "create-call-log", "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_and_client_secrets_never_reach_a_log() {
    use switchboard_tests::pipedrive::{API_TOKEN, CLIENT_SECRET, GOOD_CODE};
    let logs = captured();
    let (_dirs, mock, server) = switchboard_tests::start_pipedrive(&[]).await;
    mock.set_login_expires_in(60); // every call refreshes first
    let reply = server.oauth_callback("pipedrive", GOOD_CODE).await;
    let token = reply.body["jwtToken"].as_str().unwrap().to_owned();
    let created = server
        .create(&token, &create_body("secret-1", json!(1), "note"))
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    mock.revoke_refresh_tokens();
    mock.revoke_access_token("access-2");
    let revoked = server
        .create(&token, &create_body("secret-2", json!(1), "note"))
        .await;
    assert_eq!(
        revoked.body["errorCode"], "CRM_SESSION_REVOKED",
        "{}",
        revoked.body
    );
    server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "pipedrive", "apiKey": API_TOKEN, "hostname": "testco.pipedrive.com"}),
        )
        .await;
    server.stop().await;
    // HubSpot's adapter puts the access token in a request path
    // (`/oauth/v1/access-tokens/{token}`), and its client secret travels in
    // the token request's form.
    let (_dirs, _hubspot, server) = switchboard_tests::start_hubspot(&[]).await;
    let signed_in = server
        .oauth_callback("hubspot", switchboard_tests::hubspot::GOOD_CODE)
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("OAuth access token refreshed"),
        "logs were captured"
    );
    for secret in [
        "access-1",
        "access-2",
        "refresh-1",
        "refresh-2",
        CLIENT_SECRET,
        API_TOKEN,
        GOOD_CODE,
        "hs-access-1",
        "hs-refresh-1",
        switchboard_tests::hubspot::CLIENT_SECRET,
    ] {
        let line = text.lines().find(|line| line.contains(secret));
        assert!(line.is_none(), "{secret} reached a log: {line:?}");
    }
}

/// What an adapter printed before it crashed (a Rust panic message here; a
/// JS or Python traceback alike) reaches the log at `warn` with the
/// request's id, and never the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_adapters_own_output_reaches_the_log_not_the_client() {
    let logs = captured();
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("hostile", "k").await;
    let request_id = "req-91c2-guest-output";
    let response = server
        .client
        .post(format!("{}/callLog?jwtToken={token}", server.base))
        .header("x-request-id", request_id)
        .json(&create_body("trap-1", json!(1), "trap"))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    assert!(body.contains("ADAPTER_TRAPPED"), "{body}");
    let printed = "hostile adapter asked to trap";
    assert!(
        !body.contains(printed),
        "the client saw the guest's output: {body}"
    );
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|line| line.contains("the failed call's stdout and stderr"))
        .expect("the guest's output was logged");
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains(printed), "{line}");
    assert!(line.contains(&format!("request_id={request_id}")), "{line}");
    assert!(line.contains("operation=\"create-call-log\""), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_calls_output_is_logged_only_at_debug_under_its_own_target() {
    let logs = captured();
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("hostile", "k").await;
    let printed = "hostile adapter prints 5e1f";
    let reply = server
        .create(
            &token,
            &create_body("print-1", json!(1), &format!("print {printed}")),
        )
        .await;
    assert_eq!(reply.body["logId"], "printed", "{}", reply.body);
    assert!(!reply.body.to_string().contains(printed), "{}", reply.body);
    server.stop().await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|line| line.contains(printed) && !line.starts_with('{'))
        .expect("the output was logged (the test subscriber takes every level)");
    // `debug` under its own target: the default `info` filter leaves it out.
    assert!(line.contains(" DEBUG "), "{line}");
    assert!(
        line.contains(switchboard::runtime::ADAPTER_OUTPUT_TARGET),
        "{line}"
    );
    assert!(line.contains("the call's stdout and stderr"), "{line}");
    assert!(line.contains("operation=\"create-call-log\""), "{line}");
    // Inside the call's span, so `[adapter{platform=hostile}]=debug` is
    // this adapter's log level.
    assert!(
        line.contains("adapter{platform=hostile operation=\"create-call-log\"}"),
        "{line}"
    );
}
