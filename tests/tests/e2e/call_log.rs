//! `/callLog`: create, find, update, bad input, concurrency and isolation.

use serde_json::{Value, json};
use switchboard_tests::{DEADLINE, Dirs, TestServer, artifacts, create_body, wait_until};

async fn testcrm() -> (Dirs, TestServer, String) {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    (dirs, server, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_logs_the_call_into_testcrm() {
    let (dirs, server, token) = testcrm().await;
    let reply = server
        .create(
            &token,
            &create_body("4503991004", json!("42"), "Discussed renewal"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({
            "successful": true,
            "logId": "1",
            "returnMessage": {"message": "Call logged", "messageType": "success", "ttl": 2000},
        })
    );
    let records = dirs.testcrm_records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["sessionId"], "4503991004");
    assert_eq!(record["subject"], "Inbound call from John Smith");
    assert_eq!(
        record["contact"],
        json!({"id": "42", "name": "John Smith", "contactType": "person"})
    );
    assert_eq!(
        record["note"],
        "- Agent note: Discussed renewal\n- Result: Accepted\n- Duration: 7 seconds\n- Call recording link: https://app.ringcentral.com/recordings/1001\n"
    );
    assert_eq!(record["startTime"], 1_536_672_249_000_i64);
    assert_eq!(
        record["additionalSubmission"],
        r#"{"isAssociatedToDeal":false}"#
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_follows_app_connect_rules() {
    let (dirs, server, token) = testcrm().await;

    // Numeric contact id, epoch-ms start time, no custom subject, outbound.
    let mut body = create_body("s-out", json!(42), "");
    body["logInfo"]["direction"] = json!("Outbound");
    body["logInfo"]["startTime"] = json!(1_536_672_249_000_i64);
    body["logInfo"]["duration"] = json!(65);
    body["logInfo"]["customSubject"] = Value::Null;
    body["logInfo"]["someFieldFromTheFuture"] = json!({"x": 1});
    let reply = server.create(&token, &body).await;
    assert_eq!(reply.body["successful"], true, "{}", reply.body);

    let again = server.create(&token, &body).await;
    assert_eq!(
        again.body,
        json!({
            "successful": false,
            "returnMessage": {"message": "Existing log for session s-out", "messageType": "warning", "ttl": 3000},
        })
    );

    // No contact: warn with the other party's number, create nothing.
    let mut inbound = create_body("s-nc-in", Value::Null, "x");
    inbound.as_object_mut().unwrap().remove("contactId");
    let reply = server.create(&token, &inbound).await;
    assert_eq!(reply.body["successful"], false);
    assert_eq!(
        reply.body["returnMessage"]["message"],
        "Contact not found for number +16504445566"
    );
    assert_eq!(reply.body["returnMessage"]["messageType"], "warning");
    let mut outbound = create_body("s-nc-out", Value::Null, "x");
    outbound["logInfo"]["direction"] = json!("Outbound");
    let reply = server.create(&token, &outbound).await;
    assert_eq!(
        reply.body["returnMessage"]["message"],
        "Contact not found for number +18662019834"
    );

    let records = dirs.testcrm_records().await;
    assert_eq!(records.len(), 1, "only s-out was created: {records:?}");
    assert_eq!(records[0]["subject"], "Outbound call to John Smith");
    assert_eq!(
        records[0]["note"],
        "- Result: Accepted\n- Duration: 1 minute, 5 seconds\n- Call recording link: https://app.ringcentral.com/recordings/1001\n"
    );

    // The unlogged sessions are free to log later.
    let found = server.find(&token, "s-nc-in,s-out", false).await;
    assert_eq!(
        found.body["logs"][0],
        json!({"sessionId": "s-nc-in", "matched": false})
    );
    assert_eq!(found.body["logs"][1]["matched"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_keeps_order_and_adds_details_on_request() {
    let (_dirs, server, token) = testcrm().await;
    for (session, note) in [("a", "first"), ("c", "third")] {
        let reply = server
            .create(&token, &create_body(session, json!(1), note))
            .await;
        assert_eq!(reply.body["successful"], true);
    }

    let plain = server.find(&token, "%20c%20,b,a,c,,a", false).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body["successful"], true);
    assert_eq!(
        plain.body["logs"],
        json!([
            {"sessionId": "c", "matched": true, "logId": "2"},
            {"sessionId": "b", "matched": false},
            {"sessionId": "a", "matched": true, "logId": "1"},
        ])
    );

    let detailed = server.find(&token, "a,b,c", true).await;
    let logs = detailed.body["logs"].as_array().unwrap();
    assert_eq!(
        logs[0]["logData"]["subject"],
        "Inbound call from John Smith"
    );
    assert_eq!(logs[0]["logData"]["note"], "first");
    assert_eq!(logs[1], json!({"sessionId": "b", "matched": false}));
    assert_eq!(logs[2]["logData"]["note"], "third");

    let ids: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    let hundred = server.find(&token, &ids.join(","), false).await;
    assert_eq!(hundred.body["logs"].as_array().unwrap().len(), 100);
    let too_many = server
        .find(&token, &format!("{},s100", ids.join(",")), false)
        .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(
        too_many.body["returnMessage"]["message"],
        "at most 100 sessionIds per request"
    );

    let missing = server.get(&format!("/callLog?jwtToken={token}")).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body["returnMessage"]["message"],
        "sessionIds is required"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_rewrites_subject_note_and_recording() {
    let (dirs, server, token) = testcrm().await;
    server
        .create(&token, &create_body("p1", json!(1), "before"))
        .await;

    let reply = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({
                "sessionId": "p1",
                "subject": "Follow-up",
                "note": "after",
                "recordingLink": "https%3A%2F%2Fmedia.example%2Frec%2F9",
            }),
        )
        .await;
    let expected_note = "- Agent note: after\n- Result: Accepted\n- Duration: 7 seconds\n- Call recording link: https://media.example/rec/9\n";
    assert_eq!(
        reply.body,
        json!({
            "successful": true,
            "logId": "1",
            "updatedNote": expected_note,
            "returnMessage": {"message": "Call log updated", "messageType": "success", "ttl": 2000},
        })
    );
    let record = &dirs.testcrm_records().await[0];
    assert_eq!(record["subject"], "Follow-up");
    assert_eq!(record["note"], expected_note);
    let details = server.find(&token, "p1", true).await;
    assert_eq!(details.body["logs"][0]["logData"]["subject"], "Follow-up");
    assert_eq!(details.body["logs"][0]["logData"]["note"], "after");

    let unknown = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "nope", "note": "x"}),
        )
        .await;
    assert_eq!(
        unknown.body,
        json!({
            "successful": false,
            "returnMessage": {"message": "No call log found for session nope", "messageType": "warning", "ttl": 3000},
        })
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx() {
    let (dirs, server, token) = testcrm().await;
    let path = format!("/callLog?jwtToken={token}");
    let message = |reply: &switchboard_tests::Reply| {
        reply.body["returnMessage"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let mut wrong_direction = create_body("b1", json!(1), "");
    wrong_direction["logInfo"]["direction"] = json!("Sideways");
    let mut wrong_type = create_body("b1", json!(1), "");
    wrong_type["logInfo"]["duration"] = json!("seven");
    let mut bad_time = create_body("b1", json!(1), "");
    bad_time["logInfo"]["startTime"] = json!("yesterday");
    let mut no_session = create_body("b1", json!(1), "");
    no_session["logInfo"]
        .as_object_mut()
        .unwrap()
        .remove("sessionId");
    for (body, field) in [
        (wrong_direction, "logInfo.direction"),
        (wrong_type, "logInfo.duration"),
        (bad_time, "logInfo.startTime"),
        (no_session, "sessionId"),
        (json!({"logInfo": "x"}), "logInfo"),
    ] {
        let reply = server.post(&path, &body).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.body["errorCode"], "INVALID_REQUEST");
        assert!(
            message(&reply).contains(field),
            "{field} not named in {:?}",
            message(&reply)
        );
    }

    let truncated = server
        .send_raw(
            "POST",
            &path,
            "application/json",
            br#"{"logInfo": {"sessionId""#.to_vec(),
        )
        .await;
    assert_eq!(truncated.status, 400);
    assert!(
        message(&truncated).starts_with("Invalid JSON body"),
        "{}",
        message(&truncated)
    );

    let not_utf8 = server
        .send_raw(
            "POST",
            &path,
            "application/json",
            b"{\"note\": \"\xff\xfe\"}".to_vec(),
        )
        .await;
    assert_eq!(not_utf8.status, 400);

    let form = server
        .send_raw(
            "POST",
            &path,
            "application/x-www-form-urlencoded",
            b"a=b".to_vec(),
        )
        .await;
    assert_eq!(form.status, 400);
    assert_eq!(form.body["errorCode"], "INVALID_REQUEST");
    assert_eq!(message(&form), "Content-Type must be application/json");

    let huge = server
        .send_raw(
            "POST",
            &path,
            "application/json",
            vec![b' '; 1024 * 1024 + 1],
        )
        .await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.body["errorCode"], "PAYLOAD_TOO_LARGE");

    let unknown_route = server.get("/nowhere").await;
    assert_eq!(unknown_route.status, 404);
    assert_eq!(unknown_route.body["successful"], false);

    assert!(dirs.testcrm_records().await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_session_make_one_record() {
    let (dirs, server, token) = testcrm().await;
    let body = create_body("race", json!(1), "once");
    let replies = futures::future::join_all((0..20).map(|_| server.create(&token, &body))).await;
    let successes: Vec<_> = replies
        .iter()
        .filter(|r| r.body["successful"] == true)
        .collect();
    assert_eq!(successes.len(), 1, "{replies:?}");
    // The others answer while the create runs, or after it finished.
    for reply in replies.iter().filter(|r| r.body["successful"] == false) {
        let in_progress = reply.body["errorCode"] == "LOG_IN_PROGRESS";
        let existing = reply.message() == "Existing log for session race";
        assert!(in_progress || existing, "{}", reply.body);
    }
    let records = dirs.testcrm_records().await;
    let for_session: Vec<_> = records
        .iter()
        .filter(|r| r["sessionId"] == "race")
        .collect();
    assert_eq!(for_session.len(), 1, "{records:?}");
    assert_eq!(successes[0].body["logId"], for_session[0]["logId"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_see_or_change_each_others_logs() {
    let (dirs, server, alice) = testcrm().await;
    let bob = server.login("testCRM", "key-2").await;
    assert_eq!(
        server
            .create(&alice, &create_body("shared", json!(1), "alice's"))
            .await
            .body["successful"],
        true
    );

    // Bob does not see Alice's log, and cannot patch it.
    let found = server.find(&bob, "shared", true).await;
    assert_eq!(
        found.body["logs"],
        json!([{"sessionId": "shared", "matched": false}])
    );
    let patched = server
        .patch(
            &format!("/callLog?jwtToken={bob}"),
            &json!({"sessionId": "shared", "note": "bob was here"}),
        )
        .await;
    assert_eq!(patched.body["successful"], false);

    // Bob logging the same session makes his own record.
    let created = server
        .create(&bob, &create_body("shared", json!(2), "bob's"))
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let alice_view = server.find(&alice, "shared", true).await;
    assert_eq!(alice_view.body["logs"][0]["logData"]["note"], "alice's");
    let bob_view = server.find(&bob, "shared", true).await;
    assert_eq!(bob_view.body["logs"][0]["logData"]["note"], "bob's");
    assert_ne!(
        alice_view.body["logs"][0]["logId"],
        bob_view.body["logs"][0]["logId"]
    );
    assert_eq!(dirs.testcrm_records().await.len(), 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creates_kv_writes_commit_with_its_call_log_and_not_before() {
    let dirs = Dirs::with_adapters(&[artifacts::HOSTILE]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("hostile", "k").await;
    let body = create_body("stash-1", json!(1), "stash 1500");
    let (reply, seen_mid_call) = tokio::join!(server.create(&token, &body), async {
        // `stashing` commits at once, and the adapter sets `stash/stash-1`
        // before it: once it reads 1, the set has been made.
        wait_until(DEADLINE, async || {
            match dirs.kv_keys("hostile", "stashing").await.is_empty() {
                true => Err("the adapter has not reached its nap".to_owned()),
                false => Ok(()),
            }
        })
        .await;
        dirs.kv_keys("hostile", "stash/").await
    });
    assert!(
        seen_mid_call.is_empty(),
        "a write is stored before its call ended: {seen_mid_call:?}"
    );
    // The adapter read its own write back, and the write is stored with the
    // logged call.
    assert_eq!(reply.body["logId"], "stashed", "{}", reply.body);
    assert_eq!(dirs.kv_keys("hostile", "stash/").await, ["stash/stash-1"]);
    let found = server.find(&token, "stash-1", false).await;
    assert_eq!(found.body["logs"][0]["logId"], "stashed", "{}", found.body);
    server.stop().await;
}
