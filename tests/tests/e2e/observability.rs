//! What an operator sees: Prometheus metrics on a listener of their own,
//! with the series and label sets the README names, and no unbounded
//! value in any label; and a create's trace, from the client's
//! `traceparent` to the CRM's, exported over OTLP.
//!
//! The server runs in a process of its own ([`ChildServer`]): a process has
//! one `metrics` recorder, and this one must count only this test's
//! traffic.

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use switchboard_tests::metrics::{free_address, scrape, total};
use switchboard_tests::otlp::{ExportedSpan, OtlpReceiver};
use switchboard_tests::pipedrive::{API_TOKEN, CLIENT_ID, CLIENT_SECRET, GOOD_CODE, MockPipedrive};
use switchboard_tests::{ChildServer, DEADLINE, Dirs, artifacts, create_body, encode, wait_until};

/// Every series the server exports, with the label names each carries.
const SERIES: &[(&str, &[&str])] = &[
    (
        "switchboard_http_requests_total",
        &["method", "route", "status"],
    ),
    (
        "switchboard_http_request_duration_seconds",
        &["method", "route"],
    ),
    (
        "switchboard_adapter_calls_total",
        &["operation", "outcome", "platform"],
    ),
    (
        "switchboard_adapter_call_duration_seconds",
        &["operation", "platform"],
    ),
    ("switchboard_adapter_calls_in_flight", &["platform"]),
    ("switchboard_adapter_loads_total", &["platform", "result"]),
    ("switchboard_adapters_serving", &[]),
    (
        "switchboard_egress_requests_total",
        &["host", "platform", "status"],
    ),
    ("switchboard_oauth_refreshes_total", &["platform", "result"]),
    (
        "switchboard_store_operation_duration_seconds",
        &["operation", "store"],
    ),
    ("switchboard_store_pool_connections", &["store"]),
    ("switchboard_store_pool_idle_connections", &["store"]),
    ("switchboard_build_info", &["version"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_only_bounded_labels() {
    let mock = MockPipedrive::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::PIPEDRIVE, artifacts::TESTCRM]);
    dirs.configure_oauth("pipedrive", CLIENT_ID, CLIENT_SECRET, "");
    let metrics = free_address();
    let rule = format!("*.pipedrive.com={}", mock.url);
    let server = ChildServer::start(
        &dirs,
        &["--egress-override", &rule, "--metrics-listen", &metrics],
    )
    .await;
    let store = if dirs.postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    // testCRM: a create and a lookup of it.
    let testcrm = server.login("testCRM", "secret-api-key-1").await;
    let session = "session-4711";
    let created = server
        .post(
            &format!("/callLog?jwtToken={testcrm}"),
            &create_body(session, json!(1), "note"),
        )
        .await;
    assert_eq!(created["successful"], true, "{created}");
    assert_eq!(server.find(&testcrm, session).await["matched"], true);

    // Pipedrive: an OAuth sign-in; a create with a token the CRM revoked
    // (refused once, refreshed, retried); a create the CRM rate-limits.
    let callback = format!("https://app.example/redirect.html?code={GOOD_CODE}");
    let state = "platform=pipedrive&hostname=ignored.example";
    let signed_in = server
        .get(&format!(
            "/oauth-callback?callbackUri={}&state={}",
            encode(&callback),
            encode(state)
        ))
        .await;
    let pipedrive = signed_in["jwtToken"].as_str().unwrap().to_owned();
    mock.revoke_access_token("access-1");
    let create = format!("/callLog?jwtToken={pipedrive}");
    let logged = server
        .post(&create, &create_body("session-4712", json!(1), ""))
        .await;
    assert_eq!(logged["successful"], true, "{logged}");
    mock.fail_next(
        "POST",
        "/api/v2/activities",
        429,
        &[("retry-after", "30"), ("x-ratelimit-remaining", "0")],
        json!({"success": false, "error": "Rate limit exceeded", "error_info": "…"}),
    );
    let limited = server
        .post(&create, &create_body("session-4713", json!(1), ""))
        .await;
    assert_eq!(limited["errorCode"], "RATE_LIMITED", "{limited}");
    // An API-key user of Pipedrive too, whose key must never be a label.
    let body =
        json!({"platform": "pipedrive", "apiKey": API_TOKEN, "hostname": "testco.pipedrive.com"});
    assert!(server.post("/apiKeyLogin", &body).await["jwtToken"].is_string());

    // A path no route has, whose text must not become a label.
    let unmatched = reqwest::get(format!("{}/no/such/route-4714", server.base))
        .await
        .unwrap();
    assert_eq!(unmatched.status(), 404);

    let scraped = scrape(&metrics).await;

    // Each series is there, with exactly its label names.
    let expected: BTreeMap<&str, BTreeSet<&str>> = SERIES
        .iter()
        .map(|(name, labels)| (*name, labels.iter().copied().collect()))
        .collect();
    let mut seen = BTreeSet::new();
    for sample in &scraped.samples {
        // A histogram's `_sum` and `_count` come apart from its buckets.
        let name = sample.metric.as_str();
        let name = ["_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| expected.contains_key(base))
            .unwrap_or(name);
        let Some(labels) = expected.get(name) else {
            panic!("unexpected series {name}{{{}}}", sample.labels);
        };
        let names: BTreeSet<&str> = sample.labels.keys().map(String::as_str).collect();
        assert_eq!(&names, labels, "{name}{{{}}}", sample.labels);
        seen.insert(name);
    }
    let missing: Vec<_> = expected.keys().filter(|n| !seen.contains(*n)).collect();
    assert!(missing.is_empty(), "series missing: {missing:?}");

    // No label carries a user's, session's or token's value, or a raw path.
    let unbounded = [
        "4711",
        "4712",
        "4713",
        "4714",
        &testcrm,
        &pipedrive,
        "secret-api-key-1",
        API_TOKEN,
        "access-1",
        "access-2",
        "refresh-1",
        "testco",
    ];
    for sample in &scraped.samples {
        for value in sample.labels.values() {
            for secret in unbounded {
                assert!(
                    !value.contains(secret),
                    "{}{{{}}} carries {secret:?}",
                    sample.metric,
                    sample.labels
                );
            }
        }
    }

    // And each counts what happened.
    let requests = "switchboard_http_requests_total";
    let posts = [("route", "/callLog"), ("method", "POST")];
    assert_eq!(total(&scraped, requests, &posts), 3.0);
    assert_eq!(
        total(
            &scraped,
            requests,
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &scraped,
            "switchboard_http_request_duration_seconds",
            &posts
        ),
        3.0
    );
    let calls = "switchboard_adapter_calls_total";
    let create_call = |platform, outcome| {
        let labels = [
            ("platform", platform),
            ("operation", "create-call-log"),
            ("outcome", outcome),
        ];
        total(&scraped, calls, &labels)
    };
    assert_eq!(create_call("testCRM", "ok"), 1.0);
    assert_eq!(create_call("pipedrive", "crm_unauthorized"), 1.0);
    assert_eq!(create_call("pipedrive", "ok"), 1.0);
    assert_eq!(create_call("pipedrive", "rate_limited"), 1.0);
    assert_eq!(
        total(
            &scraped,
            "switchboard_adapter_call_duration_seconds",
            &[("platform", "pipedrive"), ("operation", "create-call-log")]
        ),
        3.0
    );
    assert_eq!(
        total(&scraped, "switchboard_adapter_calls_in_flight", &[]),
        0.0
    );
    for platform in ["testCRM", "pipedrive"] {
        let loads = total(
            &scraped,
            "switchboard_adapter_loads_total",
            &[("platform", platform)],
        );
        assert_eq!(loads, 1.0, "{platform}");
    }
    assert_eq!(total(&scraped, "switchboard_adapters_serving", &[]), 2.0);
    let egress = "switchboard_egress_requests_total";
    let to_pipedrive = [("platform", "pipedrive"), ("host", "*.pipedrive.com")];
    let answered = |status| {
        total(
            &scraped,
            egress,
            &[to_pipedrive[0], to_pipedrive[1], ("status", status)],
        )
    };
    assert!(answered("200") >= 1.0);
    assert_eq!(answered("401"), 1.0, "the revoked token's one refusal");
    assert_eq!(answered("429"), 1.0);
    assert_eq!(
        total(
            &scraped,
            "switchboard_oauth_refreshes_total",
            &[("platform", "pipedrive"), ("result", "ok")]
        ),
        1.0
    );
    let completes = [("store", store), ("operation", "complete_call_log")];
    assert_eq!(
        total(
            &scraped,
            "switchboard_store_operation_duration_seconds",
            &completes
        ),
        2.0
    );
    assert!(
        total(
            &scraped,
            "switchboard_store_pool_connections",
            &[("store", store)]
        ) >= 1.0
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        total(&scraped, "switchboard_build_info", &[("version", version)]),
        1.0
    );

    // The API listener does not serve them.
    let api = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(api.status(), 404);

    the_dashboard_queries_only_exported_series(&seen);
}

/// Every series `examples/grafana/switchboard.json` queries is one `seen`
/// in a live `/metrics` (a histogram's `_bucket`, `_sum` and `_count` by
/// its name), and the dashboard queries every one.
fn the_dashboard_queries_only_exported_series(seen: &BTreeSet<&str>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/grafana/switchboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .match_indices("switchboard_")
                .map(|(at, _)| {
                    let rest = &expr[at..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    &rest[..end]
                })
                .collect();
            assert!(!names.is_empty(), "{expr} queries no series");
            for name in names {
                let series = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|base| seen.contains(base))
                    .unwrap_or(name);
                assert!(
                    seen.contains(series),
                    "the dashboard queries {name}, which /metrics lacks"
                );
                queried.insert(series.to_owned());
            }
        }
    }
    let unqueried: Vec<_> = seen.iter().filter(|s| !queried.contains(**s)).collect();
    assert!(
        unqueried.is_empty(),
        "the dashboard shows none of {unqueried:?}"
    );
}

/// One `POST /callLog` to Pipedrive, with and without a client's
/// `traceparent`: the exported span tree is request → adapter call →
/// requests to the CRM, and the CRM receives the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_is_one_trace_from_the_client_to_the_crm() {
    let collector = OtlpReceiver::start().await;
    let mock = MockPipedrive::start().await;
    let dirs = Dirs::with_adapters(&[artifacts::PIPEDRIVE]);
    let rule = format!("*.pipedrive.com={}", mock.url);
    let server = ChildServer::start(
        &dirs,
        &[
            "--egress-override",
            &rule,
            "--otlp-endpoint",
            &collector.url,
        ],
    )
    .await;
    let body =
        json!({"platform": "pipedrive", "apiKey": API_TOKEN, "hostname": "testco.pipedrive.com"});
    let token = server.post("/apiKeyLogin", &body).await["jwtToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let create = |session: &str, traceparent: Option<&str>| {
        let mut request = client
            .post(format!("{}/callLog?jwtToken={token}", server.base))
            .json(&create_body(session, json!(1), "traced"));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        request.send()
    };

    // A client that traces: its trace continues through the server.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let before = mock.requests_to("POST", "/api/v2/activities").len();
    let answered = create(
        "traced-1",
        Some(&format!("00-{client_trace}-{client_span}-01")),
    )
    .await
    .unwrap();
    assert_eq!(answered.status(), 200);
    let tree = span_tree(&collector, client_trace).await;
    assert_eq!(tree.request.parent_span_id, client_span, "{tree:#?}");
    assert_eq!(tree.request.attribute("path"), Some("/callLog"));
    assert_eq!(tree.call.attribute("platform"), Some("pipedrive"));
    assert_eq!(tree.call.attribute("operation"), Some("create-call-log"));
    // What the CRM received carries the trace, each from its own span.
    let posted = &mock.requests_to("POST", "/api/v2/activities")[before];
    let sent = tree
        .egress
        .iter()
        .find(|s| s.attribute("http.request.method") == Some("POST"))
        .expect("the activity's request span");
    assert_eq!(
        posted.header("traceparent"),
        Some(format!("00-{client_trace}-{}-01", sent.span_id).as_str())
    );
    assert_eq!(sent.attribute("http.response.status_code"), Some("200"));
    assert!(
        tree.egress
            .iter()
            .all(|s| s.attribute("server.address").is_some()),
        "{tree:#?}"
    );

    // A client that does not trace: the request is a root.
    let answered = create("traced-2", None).await.unwrap();
    assert_eq!(answered.status(), 200);
    let posted = mock
        .requests_to("POST", "/api/v2/activities")
        .pop()
        .unwrap();
    let traceparent = posted.header("traceparent").expect("a traceparent");
    let trace = traceparent.split('-').nth(1).unwrap().to_owned();
    assert_ne!(trace, client_trace);
    let tree = span_tree(&collector, &trace).await;
    assert_eq!(tree.request.parent_span_id, "", "a root: {tree:#?}");
}

/// The spans of one create: its request, its adapter call, and the call's
/// requests to the CRM.
#[derive(Debug)]
struct SpanTree {
    request: ExportedSpan,
    call: ExportedSpan,
    egress: Vec<ExportedSpan>,
}

/// Wait (with a deadline: the exporter sends in batches) until trace
/// `trace_id` has a request span, an adapter call span under it, and CRM
/// request spans under that.
async fn span_tree(collector: &OtlpReceiver, trace_id: &str) -> SpanTree {
    wait_until(DEADLINE, async || {
        let spans: Vec<_> = collector
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        let request = spans.iter().find(|s| s.name == "request");
        let call = spans.iter().find(|s| {
            s.name == "adapter" && Some(&s.parent_span_id) == request.map(|r| &r.span_id)
        });
        let egress: Vec<_> = spans
            .iter()
            .filter(|s| s.name == "egress" && Some(&s.parent_span_id) == call.map(|c| &c.span_id))
            .cloned()
            .collect();
        match (request, call) {
            (Some(request), Some(call)) if !egress.is_empty() => Ok(SpanTree {
                request: request.clone(),
                call: call.clone(),
                egress,
            }),
            _ => Err(format!("the span tree of {trace_id}; have {spans:#?}")),
        }
    })
    .await
}

/// A collector nobody answers at costs the requests nothing: they are
/// answered as ever, and the spans are dropped (with a warning in the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_fails_no_request() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    // A port that was free a moment ago: nothing listens there.
    let nowhere = format!("http://{}", free_address());
    let server = ChildServer::start(&dirs, &["--otlp-endpoint", &nowhere]).await;
    let token = server.login("testCRM", "k").await;
    for n in 0..20 {
        let created = server
            .post(
                &format!("/callLog?jwtToken={token}"),
                &create_body(&format!("unexported-{n}"), json!(1), ""),
            )
            .await;
        assert_eq!(created["successful"], true, "{created}");
    }
    assert_eq!(server.find(&token, "unexported-19").await["matched"], true);
}
