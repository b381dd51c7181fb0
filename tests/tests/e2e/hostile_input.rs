//! Hostile HTTP input: a checked-in corpus of bad requests, each of which
//! must get a 4xx App Connect JSON answer that names the problem, and a
//! time-bounded property test that throws mutated requests at every route
//! and checks that none gets a 5xx, a non-JSON body or a leaked internal.
//!
//! The property test runs for `SWITCHBOARD_FUZZ_SECONDS` (default 60) and
//! reports how many requests it sent (`--nocapture` shows it).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard_tests::{Dirs, TestServer, artifacts, create_body};

/// One raw request.
#[derive(Debug, Clone)]
struct Raw {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Raw {
    fn json(method: &'static str, path: String, body: &Value) -> Self {
        Self::bytes(method, path, body.to_string().into_bytes())
    }

    fn bytes(method: &'static str, path: String, body: Vec<u8>) -> Self {
        Self {
            method,
            path,
            content_type: Some("application/json"),
            body,
        }
    }

    fn get(path: String) -> Self {
        Self {
            method: "GET",
            path,
            content_type: None,
            body: Vec::new(),
        }
    }
}

/// Send a request; its status and body text.
async fn send(server: &TestServer, raw: &Raw) -> (u16, String) {
    let method = reqwest::Method::from_bytes(raw.method.as_bytes()).unwrap();
    let mut request = server
        .client
        .request(method, format!("{}{}", server.base, raw.path));
    if let Some(content_type) = raw.content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.body(raw.body.clone()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// What no answer may contain.
const INTERNALS: &[&str] = &[
    "panicked",
    "sqlx",
    "sqlite",
    "wasmtime",
    "/src/",
    "stack backtrace",
    "RUST_BACKTRACE",
];

/// Whether `text` holds a Rust source location (`store.rs:42`). Only `.rs:` followed by
/// a digit counts: an error message may echo a client's own JSON key `rs`
/// as the path `leads.rs: …`.
fn has_source_location(text: &str) -> bool {
    text.match_indices(".rs:")
        .any(|(at, _)| text[at + 4..].starts_with(|c: char| c.is_ascii_digit()))
}

/// An error answer in App Connect's shape, with no internals.
fn assert_error_shape(what: &str, status: u16, text: &str) -> Value {
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|_| panic!("{what}: {status} answer is not JSON: {text:.200}"));
    assert_eq!(body["successful"], false, "{what}: {body}");
    assert!(body["errorCode"].is_string(), "{what}: {body}");
    let message = body["returnMessage"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(!message.is_empty(), "{what}: {body}");
    for internal in INTERNALS {
        assert!(
            !text.contains(internal),
            "{what} leaks {internal}: {text:.300}"
        );
    }
    assert!(
        !has_source_location(text),
        "{what} leaks a source location: {text:.300}"
    );
    body
}

/// A create whose `additionalSubmission` is `[[[…]]]`, `depth` deep.
fn nested(depth: usize) -> Vec<u8> {
    let log_info = create_body("deep", json!(1), "")["logInfo"].to_string();
    let mut bytes = format!(r#"{{"logInfo": {log_info}, "additionalSubmission": "#).into_bytes();
    bytes.extend(std::iter::repeat_n(b'[', depth));
    bytes.extend(std::iter::repeat_n(b']', depth));
    bytes.push(b'}');
    bytes
}

/// The checked-in corpus: (what, request, status, words of the message).
fn corpus(token: &str) -> Vec<(&'static str, Raw, u16, &'static str)> {
    let call_log = format!("/callLog?jwtToken={token}");
    let valid = create_body("corpus", json!(1), "n");
    let with = |pointer: &str, value: Value| {
        let mut body = valid.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let mut invalid_utf8 = br#"{"logInfo": {"sessionId": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    invalid_utf8.extend_from_slice(br#""}}"#);
    let many_ids: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let valid_text = valid.to_string();
    vec![
        (
            "truncated JSON",
            Raw::bytes(
                "POST",
                call_log.clone(),
                valid_text.as_bytes()[..valid_text.len() / 2].to_vec(),
            ),
            400,
            "Invalid JSON body",
        ),
        (
            // The message echoes the key path `dispositions.leads.rs:`,
            // which is the client's text, not a source location.
            "truncated JSON under a key named rs",
            Raw::bytes(
                "PUT",
                format!("/callDisposition?jwtToken={token}"),
                br#"{"sessionId": "x", "dispositions": {"leads": {"rs": "a"#.to_vec(),
            ),
            400,
            "dispositions.leads.rs: EOF",
        ),
        (
            "deeply nested JSON",
            Raw::bytes("POST", call_log.clone(), nested(100_000)),
            400,
            "recursion limit",
        ),
        (
            "empty body",
            Raw::bytes("POST", call_log.clone(), Vec::new()),
            400,
            "Request body is empty",
        ),
        (
            "null body",
            Raw::bytes("POST", call_log.clone(), b"null".to_vec()),
            400,
            "Invalid JSON body",
        ),
        (
            "array body",
            Raw::bytes("POST", call_log.clone(), b"[1,2]".to_vec()),
            400,
            "Invalid JSON body",
        ),
        (
            "invalid UTF-8",
            Raw::bytes("POST", call_log.clone(), invalid_utf8),
            400,
            "Invalid JSON body",
        ),
        (
            "bool session id",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/sessionId", json!(true)),
            ),
            400,
            "logInfo.sessionId",
        ),
        (
            "number direction",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/direction", json!(5)),
            ),
            400,
            "logInfo.direction",
        ),
        (
            "unknown direction",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/direction", json!("Sideways")),
            ),
            400,
            "logInfo.direction",
        ),
        (
            "object note",
            Raw::json("POST", call_log.clone(), &with("/note", json!({"a": 1}))),
            400,
            "note",
        ),
        (
            "negative duration",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/duration", json!(-5)),
            ),
            400,
            "logInfo.duration",
        ),
        (
            "huge duration",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/duration", json!(1e300)),
            ),
            400,
            "logInfo.duration",
        ),
        (
            "bad start time",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/startTime", json!("yesterday")),
            ),
            400,
            "logInfo.startTime",
        ),
        (
            "fractional contact id",
            Raw::json("POST", call_log.clone(), &with("/contactId", json!(4.2))),
            400,
            "contactId",
        ),
        (
            "900 kB session id",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/logInfo/sessionId", json!("s".repeat(900_000))),
            ),
            400,
            "longer than 128",
        ),
        (
            "2 MiB note",
            Raw::json(
                "POST",
                call_log.clone(),
                &with("/note", json!("n".repeat(2 * 1024 * 1024))),
            ),
            413,
            "too large",
        ),
        (
            "text/plain",
            Raw {
                content_type: Some("text/plain"),
                ..Raw::json("POST", call_log.clone(), &valid)
            },
            400,
            "application/json",
        ),
        (
            "no content type",
            Raw {
                content_type: None,
                ..Raw::json("POST", call_log.clone(), &valid)
            },
            400,
            "application/json",
        ),
        (
            "patch without session",
            Raw::json("PATCH", call_log.clone(), &json!({"note": "x"})),
            400,
            "sessionId",
        ),
        (
            "disposition as text",
            Raw::json(
                "PUT",
                format!("/callDisposition?jwtToken={token}"),
                &json!({"sessionId": "1", "dispositions": "deal"}),
            ),
            400,
            "dispositions",
        ),
        (
            "contact without name",
            Raw::json(
                "POST",
                format!("/contact?jwtToken={token}"),
                &json!({"phoneNumber": "+1650"}),
            ),
            400,
            "newContactName",
        ),
        (
            "contact with letters",
            Raw::json(
                "POST",
                format!("/contact?jwtToken={token}"),
                &json!({"phoneNumber": "call me", "newContactName": "x"}),
            ),
            400,
            "phoneNumber",
        ),
        (
            "numeric API key",
            Raw::json(
                "POST",
                "/apiKeyLogin".into(),
                &json!({"platform": "testCRM", "apiKey": 42, "hostname": "h"}),
            ),
            400,
            "apiKey",
        ),
        (
            "10,000 session ids",
            Raw::get(format!(
                "/callLog?jwtToken={token}&sessionIds={}",
                many_ids.join(",")
            )),
            400,
            "at most 100",
        ),
        (
            "repeated sessionIds",
            Raw::get(format!(
                "/callLog?jwtToken={token}&sessionIds=a&sessionIds=b"
            )),
            400,
            "more than once",
        ),
        (
            "no sessionIds",
            Raw::get(format!("/callLog?jwtToken={token}")),
            400,
            "sessionIds is required",
        ),
        (
            "bad requireDetails",
            Raw::get(format!(
                "/callLog?jwtToken={token}&sessionIds=a&requireDetails=maybe"
            )),
            400,
            "requireDetails",
        ),
        (
            "message log without logInfo",
            Raw::json(
                "POST",
                format!("/messageLog?jwtToken={token}"),
                &json!({"contactId": 7}),
            ),
            400,
            "logInfo",
        ),
        (
            "messages that are not a list",
            Raw::json(
                "POST",
                format!("/messageLog?jwtToken={token}"),
                &json!({"logInfo": {"conversationId": "c", "conversationLogId": "c-1", "messages": "hi"}, "contactId": 7}),
            ),
            400,
            "logInfo.messages",
        ),
        (
            "a message with a NUL in its id",
            Raw::json(
                "POST",
                format!("/messageLog?jwtToken={token}"),
                &json!({"logInfo": {"conversationId": "c", "conversationLogId": "c-1", "messages": [
                    {"id": "m\u{0}", "type": "SMS", "direction": "Inbound", "creationTime": 1}
                ]}, "contactId": 7}),
            ),
            400,
            "NUL",
        ),
        (
            "name search without a name",
            Raw::get(format!("/custom/contact/search?jwtToken={token}&name=%20")),
            400,
            "name is required",
        ),
        (
            "implemented interfaces without a platform",
            Raw::get("/implementedInterfaces".into()),
            400,
            "platform is required",
        ),
        (
            "repeated phoneNumber",
            Raw::get(format!(
                "/contact?jwtToken={token}&phoneNumber=1&phoneNumber=2"
            )),
            400,
            "more than once",
        ),
        (
            "OAuth without callbackUri",
            Raw::get("/oauth-callback?state=platform%3DtestCRM".into()),
            400,
            "callbackUri",
        ),
        (
            "OAuth with a relative callbackUri",
            Raw::get("/oauth-callback?callbackUri=%2Fx%3Fcode%3D1&state=platform%3DtestCRM".into()),
            400,
            "absolute",
        ),
        (
            "unknown route",
            Raw::get("/nope".into()),
            404,
            "No such route",
        ),
        (
            "wrong method",
            Raw::json("DELETE", call_log.clone(), &valid),
            405,
            "Method not allowed",
        ),
    ]
}

/// A client that writes its whole body before reading (no `Expect:
/// 100-continue`, as Python's urllib) still reads the 413: the server
/// drains the oversized body instead of resetting the connection mid-write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_sent_without_expect_gets_the_413_json() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "k").await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let body = vec![b' '; 5 * 1024 * 1024];
    let head = format!(
        "POST /callLog?jwtToken={token} HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body)
        .await
        .expect("the server reads the whole body before it answers");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("the answer arrives, not a reset");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:.300}");
    let (_, json) = text.split_once("\r\n\r\n").expect("a body");
    let body = assert_error_shape("5 MiB without Expect", 413, json);
    assert_eq!(body["errorCode"], "PAYLOAD_TOO_LARGE");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_in_the_corpus_gets_a_named_4xx() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    for (what, raw, status, words) in corpus(&token) {
        let (got, text) = send(&server, &raw).await;
        assert_eq!(got, status, "{what}: {text:.300}");
        let body = assert_error_shape(what, got, &text);
        let message = body["returnMessage"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
    }
    assert!(
        dirs.testcrm_records().await.is_empty(),
        "no bad request created anything"
    );
    // The server is unharmed.
    let ok = server
        .create(&token, &create_body("after", json!(1), ""))
        .await;
    assert_eq!(ok.body["successful"], true, "{}", ok.body);
    server.stop().await;
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        "[0-9+ ,-]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let next = format!("{at}/{key}");
                out.push(next.clone());
                pointers(child, next, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let next = format!("{at}/{i}");
                out.push(next.clone());
                pointers(child, next, out);
            }
        }
        _ => {}
    }
}

/// A valid body of each JSON route, with one part replaced by anything,
/// then perhaps cut short or with a byte changed.
fn mutated_body(template: Value) -> impl Strategy<Value = Vec<u8>> {
    let mut paths = Vec::new();
    pointers(&template, String::new(), &mut paths);
    (
        prop::sample::select(paths),
        any_json(),
        any::<bool>(),
        0..3u8,
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(move |(path, value, delete, damage, at, byte)| {
            let mut body = template.clone();
            if delete {
                let (parent, key) = path.rsplit_once('/').unwrap_or(("", &path));
                if let Some(Value::Object(map)) = body.pointer_mut(parent) {
                    map.remove(key);
                }
            } else if let Some(slot) = body.pointer_mut(&path) {
                *slot = value;
            }
            let mut bytes = body.to_string().into_bytes();
            match damage {
                1 if !bytes.is_empty() => bytes.truncate(at.index(bytes.len())),
                2 if !bytes.is_empty() => {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                _ => {}
            }
            bytes
        })
}

fn request(token: String) -> impl Strategy<Value = Raw> {
    let call_log = format!("/callLog?jwtToken={token}");
    let create = create_body("fuzz", json!(1), "n");
    let patch = json!({"sessionId": "fuzz", "subject": "s", "note": "n", "recordingLink": "https://r/1", "duration": 5, "result": "Accepted"});
    let disposition = json!({"sessionId": "fuzz", "dispositions": {"deals": 1, "leads": "x"}});
    let contact =
        json!({"phoneNumber": "+16504445566", "newContactName": "N", "newContactType": "person"});
    let login =
        json!({"platform": "testCRM", "apiKey": "fuzz-key", "hostname": "h", "additionalInfo": {}});
    let query = "[a-zA-Z0-9=&%,+ ._-]{0,60}";
    let (t1, t2, t3, t4) = (token.clone(), token.clone(), token.clone(), token);
    prop_oneof![
        mutated_body(create).prop_map({
            let path = call_log.clone();
            move |b| Raw::bytes("POST", path.clone(), b)
        }),
        mutated_body(patch).prop_map({
            let path = call_log.clone();
            move |b| Raw::bytes("PATCH", path.clone(), b)
        }),
        mutated_body(disposition).prop_map(move |b| Raw::bytes(
            "PUT",
            format!("/callDisposition?jwtToken={t1}"),
            b
        )),
        mutated_body(contact).prop_map(move |b| Raw::bytes(
            "POST",
            format!("/contact?jwtToken={t2}"),
            b
        )),
        mutated_body(login).prop_map(|b| Raw::bytes("POST", "/apiKeyLogin".into(), b)),
        query.prop_map(move |q| Raw::get(format!("/callLog?jwtToken={t3}&{q}"))),
        query.prop_map(move |q| Raw::get(format!("/contact?jwtToken={t4}&{q}"))),
        query.prop_map(|q| Raw::get(format!("/oauth-callback?{q}"))),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(move |b| Raw::bytes(
            "POST",
            call_log.clone(),
            b
        )),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mutated_request_gets_a_5xx_or_leaks_internals() {
    let seconds: u64 = std::env::var("SWITCHBOARD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let strategy = request(token);
    let mut runner = TestRunner::new(Config::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut executions = 0u64;
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    while Instant::now() < deadline {
        let raw = strategy.new_tree(&mut runner).unwrap().current();
        let (status, text) = send(&server, &raw).await;
        executions += 1;
        *by_status.entry(status).or_default() += 1;
        let what = format!(
            "{} {} {:?}",
            raw.method,
            raw.path,
            String::from_utf8_lossy(&raw.body)
        );
        assert!(status < 500, "{what}: {status} {text:.300}");
        if status >= 400 {
            assert_error_shape(&what, status, &text);
        } else {
            let body: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text:.200}"));
            assert!(body.is_object(), "{what}: {body}");
        }
    }
    eprintln!("fuzz: {executions} requests in {seconds}s; answers by status: {by_status:?}");
    assert!(executions > 100, "{executions} requests");
    server.stop().await;
}
