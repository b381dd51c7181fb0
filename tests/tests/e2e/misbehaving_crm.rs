//! A CRM that misbehaves (500s, a response that never comes, a body that
//! drips forever, invalid JSON, a connection broken mid-body, a day-long
//! `Retry-After`): each create gets a bounded, clear answer; no create leaves
//! a duplicate or a stuck reservation; and other traffic keeps flowing.

use serde_json::json;
use switchboard_tests::pipedrive::{API_TOKEN, Misbehaviour};
use switchboard_tests::{create_body, start_pipedrive};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaviour_gets_a_bounded_clear_answer() {
    let (dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let crm_user = server.login("testCRM", "key-1").await;

    let answer = |status: u16, headers: &[(&str, &str)], error: &str| Misbehaviour::Answer {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: json!({"success": false, "error": error, "error_info": "…"}),
    };
    // (case, misbehaviour, errorCode, words the message must carry)
    let cases = [
        (
            "five-hundred",
            answer(500, &[], "Internal server error"),
            "CRM_ERROR",
            "HTTP 500: Internal server error",
        ),
        (
            "stall",
            Misbehaviour::Stall,
            "ADAPTER_TIMEOUT",
            "longer than 3s",
        ),
        (
            "slowloris",
            Misbehaviour::Slowloris,
            "ADAPTER_TIMEOUT",
            "longer than 3s",
        ),
        ("not-json", Misbehaviour::NotJson, "CRM_ERROR", "not JSON"),
        ("reset", Misbehaviour::Reset, "ADAPTER_ERROR", "failed"),
        (
            "retry-tomorrow",
            answer(429, &[("retry-after", "86400")], "Rate limit exceeded"),
            "RATE_LIMITED",
            "retry after 86400 seconds",
        ),
    ];
    for (case, how, _, _) in &cases {
        mock.misbehave(
            "POST",
            "/api/v2/activities",
            &format!("case:{case}"),
            how.clone(),
        );
    }

    // All at once, beside ordinary testCRM traffic.
    let bodies: Vec<_> = cases
        .iter()
        .map(|(case, ..)| create_body(&format!("m-{case}"), json!(1), &format!("case:{case}")))
        .collect();
    let crm_bodies: Vec<_> = (0..8)
        .map(|i| create_body(&format!("ok-{i}"), json!(1), ""))
        .collect();
    let (replies, crm_replies) = tokio::join!(
        futures::future::join_all(bodies.iter().map(|b| server.create(&token, b))),
        futures::future::join_all(crm_bodies.iter().map(|b| server.create(&crm_user, b))),
    );
    for ((case, _, code, words), reply) in cases.iter().zip(&replies) {
        assert_eq!(reply.status, 200, "{case}: {}", reply.body);
        assert_eq!(reply.body["successful"], false, "{case}: {}", reply.body);
        assert_eq!(reply.body["errorCode"], *code, "{case}: {}", reply.body);
        let message = reply.message();
        assert!(message.contains(words), "{case}: {message}");
    }
    for reply in &crm_replies {
        assert_eq!(reply.body["successful"], true, "{}", reply.body);
    }
    assert_eq!(dirs.testcrm_records().await.len(), 8);
    assert!(
        mock.activities().is_empty(),
        "no misbehaving create made a record"
    );

    // Nothing is stuck: each session logs exactly once when Pipedrive behaves.
    for (case, ..) in &cases {
        let body = create_body(&format!("m-{case}"), json!(1), "second try");
        let reply = server.create(&token, &body).await;
        assert_eq!(reply.body["successful"], true, "{case}: {}", reply.body);
        let again = server.create(&token, &body).await;
        assert_eq!(again.body["successful"], false, "{case}: {}", again.body);
        assert!(again.message().contains("Existing log"), "{}", again.body);
    }
    assert_eq!(
        mock.activities().len(),
        cases.len(),
        "one record per session"
    );
    server.stop().await;
}
