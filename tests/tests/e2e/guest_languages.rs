//! Adapters in TypeScript and Python (`examples/`): `jsTestCRM` and
//! `pyTestCRM` are testCRM rewritten with the JS and Python SDKs. Each runs
//! the same scenario through every call-log, contact and message-log route,
//! and its replies and stored records must be exactly testCRM's.

use serde_json::{Value, json};
use switchboard_tests::{Dirs, TestServer, artifacts, create_body, examples};

/// Every reply of the scenario, and what the adapter stored, with its
/// platform name replaced by `<crm>`; `operator` is the component's
/// operator file, when it has one.
async fn transcript(component: &str, platform: &str, operator: Option<&str>) -> Value {
    let dirs = Dirs::with_adapters(&[component]);
    if let Some(operator) = operator {
        let stem = std::path::Path::new(component).file_stem().unwrap();
        dirs.overwrite(&format!("{}.toml", stem.display()), operator.as_bytes());
    }
    let cache = examples::shared_cache();
    let server = TestServer::start(&dirs, &["--cache-dir", &cache]).await;
    let mut replies = Vec::new();

    let empty = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": platform, "apiKey": " ", "hostname": "h"}),
        )
        .await;
    replies.push(empty.body);
    let ann = server.login(platform, "key-1").await;
    let bob = server.login(platform, "key-2").await;
    let q = |token: &str, rest: &str| {
        format!(
            "{rest}{}jwtToken={token}",
            if rest.contains('?') { "&" } else { "?" }
        )
    };

    // Contacts: create, find by number and by name, and not another user's.
    for (name, number) in [
        ("John Smith", "+1 (650) 444-5566"),
        ("Ann Lee", "+18662019834"),
    ] {
        let created = server
            .post(
                &q(&ann, "/contact"),
                &json!({"phoneNumber": number, "newContactName": name, "newContactType": "person"}),
            )
            .await;
        replies.push(created.body);
    }
    for path in [
        "/contact?phoneNumber=%2B16504445566",
        "/contact?phoneNumber=%2B19999999999",
        "/custom/contact/search?name=smith",
    ] {
        replies.push(server.get(&q(&ann, path)).await.body);
    }
    replies.push(
        server
            .get(&q(&bob, "/contact?phoneNumber=%2B16504445566"))
            .await
            .body,
    );

    // Call logs: create, the same session again, find with details, patch,
    // dispositions, and another user's view.
    let created = server
        .create(&ann, &create_body("s1", json!("1"), "Discussed renewal"))
        .await;
    replies.push(created.body);
    replies.push(
        server
            .create(&ann, &create_body("s1", json!("1"), "again"))
            .await
            .body,
    );
    let mut outbound = create_body("s2", json!(2), "");
    outbound["logInfo"]["direction"] = json!("Outbound");
    outbound["logInfo"]["duration"] = json!(3725);
    outbound["aiNote"] = json!("asked for a quote");
    replies.push(server.create(&ann, &outbound).await.body);
    replies.push(server.find(&ann, "s1,s3,s2", true).await.body);
    let patched = server
        .patch(
            &q(&ann, "/callLog"),
            &json!({"sessionId": "s1", "subject": "Follow-up", "note": "after",
                    "recordingLink": "https%3A%2F%2Fmedia.example%2Frec%2F9"}),
        )
        .await;
    replies.push(patched.body);
    let disposed = server
        .put(
            &q(&ann, "/callDisposition"),
            &json!({"sessionId": "s1", "dispositions": {"deal": "Renewal"}}),
        )
        .await;
    replies.push(disposed.body);
    replies.push(server.find(&ann, "s1", true).await.body);
    replies.push(server.find(&bob, "s1", true).await.body);
    let not_bobs = server
        .patch(
            &q(&bob, "/callLog"),
            &json!({"sessionId": "s1", "note": "mine"}),
        )
        .await;
    replies.push(not_bobs.body);

    // Message logs: one record per conversation-day, the second post
    // appended to it (a voicemail with a download link, not stored).
    let message = |id: &str, kind: &str, minute: u32, text: &str| {
        json!({"id": id, "type": kind, "direction": "Inbound",
               "creationTime": format!("2024-02-29T13:{minute:02}:00.000Z"),
               "subject": text, "from": {"phoneNumber": "+16505550100"},
               "to": [{"phoneNumber": "+16505550199"}],
               "attachments": if kind == "VoiceMail" {
                   json!([{"id": 1, "type": "AudioRecording", "uri": "https://media.example/vm/1"}])
               } else { json!([]) }})
    };
    let post = |messages: Value| {
        json!({"logInfo": {"conversationId": "conv-1", "conversationLogId": "conv-1-2024-02-29",
                           "rcAccessToken": "rc-token", "messages": messages,
                           "correspondents": [{"phoneNumber": "+16505550100"}]},
               "contactId": "1", "contactType": "person", "contactName": "John Smith"})
    };
    for messages in [
        json!([
            message("m2", "SMS", 5, "second"),
            message("m1", "SMS", 1, "first")
        ]),
        json!([
            message("m1", "SMS", 1, "first"),
            message("m3", "VoiceMail", 9, "")
        ]),
    ] {
        let logged = server.post(&q(&ann, "/messageLog"), &post(messages)).await;
        replies.push(logged.body);
    }

    let records = dirs.kv_json(platform, "calllog/").await;
    let message_logs = dirs.kv_json(platform, "messagelog/").await;
    let contacts = dirs.kv_json(platform, "contacts/").await;
    server.stop().await;
    let all = json!({"replies": replies, "records": records, "contacts": contacts,
                     "messageLogs": message_logs});
    serde_json::from_str(&all.to_string().replace(platform, "<crm>")).unwrap()
}

/// testCRM's transcript, with the facts that make it worth matching
/// checked first: a comparison with a transcript of failures proves
/// nothing.
async fn reference() -> Value {
    let rust = transcript(artifacts::TESTCRM, "testCRM", None).await;
    let replies = rust["replies"].as_array().unwrap();
    assert_eq!(
        replies[0]["errorCode"], "CRM_UNAUTHORIZED",
        "{}",
        replies[0]
    );
    assert_eq!(
        replies[3]["contact"][0]["name"], "John Smith",
        "{}",
        replies[3]
    );
    assert_eq!(replies[4]["contact"], json!([]), "{}", replies[4]);
    assert_eq!(
        replies[6]["contact"],
        json!([]),
        "bob sees none: {}",
        replies[6]
    );
    assert_eq!(replies[7]["logId"], "1", "{}", replies[7]);
    assert_eq!(replies[8]["returnMessage"]["messageType"], "warning");
    assert_eq!(
        replies[11]["returnMessage"]["message"], "Call log updated",
        "{}",
        replies[11]
    );
    assert_eq!(replies[12]["successful"], true, "{}", replies[12]);
    assert_eq!(rust["records"].as_array().unwrap().len(), 2);
    assert_eq!(
        rust["records"][0][1]["note"],
        "- Agent note: after\n- Result: Accepted\n- Duration: 7 seconds\n- Call recording link: https://media.example/rec/9\n"
    );
    assert_eq!(
        rust["records"][1][1]["note"],
        "- Result: Accepted\n- Duration: 1 hour, 2 minutes, 5 seconds\n- Call recording link: https://app.ringcentral.com/recordings/1001\n- AI note: asked for a quote\n"
    );
    assert_eq!(
        rust["records"][0][1]["dispositions"],
        r#"{"deal":"Renewal"}"#
    );
    assert_eq!(replies[14]["logs"][0]["matched"], false, "{}", replies[14]);
    assert_eq!(replies[15]["successful"], false, "{}", replies[15]);
    assert_eq!(
        replies[16]["logIds"],
        json!(["m1", "m2"]),
        "{}",
        replies[16]
    );
    assert_eq!(replies[17]["logIds"], json!(["m3"]), "{}", replies[17]);
    let day = &rust["messageLogs"][0][1];
    assert_eq!(
        day["subject"],
        "SMS conversation with John Smith - 2024-02-29"
    );
    assert_eq!(day["messages"].as_array().unwrap().len(), 3, "{day}");
    assert_eq!(
        day["messages"][2]["attachments"],
        json!(["AudioRecording: https://media.example/vm/1 (download link given)"])
    );
    rust
}

/// The first place two transcripts differ, for a readable failure.
fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e.keys().chain(a.keys()).find_map(|k| {
            first_difference(
                &format!("{path}.{k}"),
                e.get(k).unwrap_or(&Value::Null),
                a.get(k).unwrap_or(&Value::Null),
            )
        }),
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (e, a))| first_difference(&format!("{path}[{i}]"), e, a)),
        _ if expected == actual => None,
        _ => Some(format!("{path}: testCRM has {expected}, this has {actual}")),
    }
}

/// The adapter's transcript, fresh instance for each call and then with its
/// users' instances kept between calls, is testCRM's.
async fn answers_like_testcrm(component: &str, platform: &str) {
    let expected = reference().await;
    for (how, operator) in [
        ("a fresh instance per call", None),
        ("per-user reuse", Some("[runtime]\nreuse = \"per-user\"\n")),
    ] {
        let actual = transcript(component, platform, operator).await;
        if let Some(difference) = first_difference("", &expected, &actual) {
            panic!("{platform} with {how} differs from testCRM at {difference}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_testcrm_answers_exactly_like_testcrm_with_and_without_reuse() {
    answers_like_testcrm(&examples::jstestcrm(), "jsTestCRM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_testcrm_answers_exactly_like_testcrm_with_and_without_reuse() {
    answers_like_testcrm(&examples::pytestcrm(), "pyTestCRM").await;
}

/// A JS component's memory starts at about 10 MiB: under a smaller
/// `--adapter-memory-mib` it is refused with both figures and the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_needs_more_memory_than_allowed_is_refused_saying_how_much() {
    let dirs = Dirs::with_adapters(&[&examples::jstestcrm()]);
    let cache = examples::shared_cache();
    let server =
        TestServer::start(&dirs, &["--cache-dir", &cache, "--adapter-memory-mib", "4"]).await;
    let entry = server
        .wait_for_file("jstestcrm.wasm", |e| e["status"] == "refused")
        .await;
    let reason = entry["lastError"].as_str().unwrap();
    assert!(
        reason.contains("needs 11 MiB of memory at start, more than the 4 MiB")
            && reason.contains("--adapter-memory-mib 11"),
        "{reason}"
    );
    server.stop().await;
}

/// An instance of a Python adapter takes 14 core instances, where a Rust
/// one takes 3: the pool is sized so `--max-instances` Python calls still
/// run at once, and only the call past them is told to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_instances_python_calls_run_at_once_and_only_the_next_is_busy() {
    const MAX: usize = 12;
    let dirs = Dirs::with_adapters(&[&examples::pynap()]);
    let cache = examples::shared_cache();
    let max = MAX.to_string();
    let server = TestServer::start(&dirs, &["--cache-dir", &cache, "--max-instances", &max]).await;
    let token = server.login("pynap", "k").await;
    // MAX + 1 calls that each sleep 1.5 s (the test server allows 3), all
    // at once.
    let bodies: Vec<Value> = (0..=MAX)
        .map(|i| create_body(&format!("nap-{i}"), json!(1), "1500"))
        .collect();
    let replies =
        futures::future::join_all(bodies.iter().map(|body| server.create(&token, body))).await;
    let napped = replies
        .iter()
        .filter(|r| r.body["logId"] == "napped")
        .count();
    let busy: Vec<&Value> = replies
        .iter()
        .filter(|r| r.body["errorCode"] == "ADAPTER_BUSY")
        .map(|r| &r.body)
        .collect();
    assert_eq!((napped, busy.len()), (MAX, 1), "{replies:?}");
    server.stop().await;
}

/// A mock CRM that echoes each request as JSON in a chunked body, with a
/// rate-limit header; `term=+1500` gets a 429 with `Retry-After: 7`.
async fn echoing_crm() -> String {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(
        async |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            if uri.query().is_some_and(|q| q.contains("term=%2B1500")) {
                return axum::http::Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("retry-after", "7")
                    .body(Body::from("slow down"))
                    .unwrap();
            }
            let echo = json!({
                "method": method.as_str(),
                "uri": uri.to_string(),
                "apiKey": headers.get("x-api-key").and_then(|v| v.to_str().ok()),
                "body": String::from_utf8_lossy(&body),
                // Padding, so the answer arrives in several chunks.
                "padding": "x".repeat(40_000),
            })
            .to_string();
            let chunks: Vec<Result<Bytes, std::io::Error>> = echo
                .into_bytes()
                .chunks(7_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            axum::http::Response::builder()
                .header("content-type", "application/json")
                .header("x-ratelimit-remaining", "41")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The Python SDK's `request` over wasi:http: method, path, query, headers
/// and a JSON body reach the CRM; status, headers and a chunked body come
/// back whole; a 429 becomes `RATE_LIMITED` with the CRM's wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdks_http_reaches_the_crm_and_reads_its_whole_answer() {
    let crm = echoing_crm().await;
    let dirs = Dirs::with_adapters(&[&examples::pynap()]);
    let cache = examples::shared_cache();
    let rule = format!("crm.example={crm}");
    let server =
        TestServer::start(&dirs, &["--cache-dir", &cache, "--egress-override", &rule]).await;
    let token = server.login("pynap", "k").await;

    let found = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B16505550100"
        ))
        .await;
    let contact = &found.body["contact"][0];
    assert_eq!(contact["id"], "200", "{}", found.body);
    assert_eq!(
        contact["name"], "POST /people/search?term=%2B16505550100",
        "{}",
        found.body
    );
    assert_eq!(contact["phone"], r#"{"phone": "+16505550100"}"#);
    assert_eq!(contact["organization"], "41");
    assert_eq!(contact["type"], "fixture-key");
    // additional-info is JSON text: the client gets the value (a number).
    let length = contact["additionalInfo"].as_u64().unwrap_or_default();
    assert!(
        length > 40_000,
        "the whole chunked answer was read: {}",
        found.body
    );

    let limited = server
        .get(&format!("/contact?jwtToken={token}&phoneNumber=%2B1500"))
        .await;
    assert_eq!(
        limited.body["errorCode"], "RATE_LIMITED",
        "{}",
        limited.body
    );
    assert!(
        limited.message().contains("retry after 7 seconds"),
        "{}",
        limited.body
    );
    server.stop().await;
}
