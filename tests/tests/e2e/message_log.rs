//! `POST /messageLog`: one CRM record per conversation-day, each message
//! logged once, oldest first; group conversations per contact; the next day
//! a new record; concurrency; attachments; bad bodies. Asserted on bodies,
//! on testCRM's records and on what the mock Pipedrive received.

use serde_json::{Value, json};
use switchboard_tests::pipedrive::API_TOKEN;
use switchboard_tests::{Dirs, TestServer, artifacts, start_pipedrive};

/// A RingCentral SMS at `minute` past 13:00 on 2024-02-29 (UTC).
fn sms(id: &str, minute: u32, text: &str) -> Value {
    json!({
        "id": id, "type": "SMS", "direction": "Inbound",
        "creationTime": format!("2024-02-29T13:{minute:02}:00.000Z"),
        "subject": text,
        "from": {"phoneNumber": "+16505550100", "name": "Ann"},
        "to": [{"phoneNumber": "+16505550199"}],
        "attachments": [],
    })
}

fn post_body(conversation_log_id: &str, contact_id: Value, messages: Value) -> Value {
    json!({
        "logInfo": {
            "conversationId": "conv-1",
            "conversationLogId": conversation_log_id,
            "messages": messages,
            "correspondents": [{"phoneNumber": "+16505550100"}],
        },
        "contactId": contact_id,
        "contactType": "person",
        "contactName": "Ann",
    })
}

async fn post(server: &TestServer, token: &str, body: &Value) -> Value {
    let reply = server
        .post(&format!("/messageLog?jwtToken={token}"), body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_logged_once_oldest_first_into_one_record_per_day() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let day = "conv-1-2024-02-29";

    // Out of order on the wire; logged oldest first.
    let first = post(
        &server,
        &token,
        &post_body(
            day,
            json!(7),
            json!([sms("m2", 5, "second"), sms("m1", 1, "first")]),
        ),
    )
    .await;
    assert_eq!(first["successful"], true, "{first}");
    assert_eq!(first["logIds"], json!(["m1", "m2"]), "{first}");

    // A retry with one new message appends only that one.
    let second = post(
        &server,
        &token,
        &post_body(
            day,
            json!(7),
            json!([
                sms("m1", 1, "first"),
                sms("m3", 9, "third"),
                sms("m2", 5, "second")
            ]),
        ),
    )
    .await;
    assert_eq!(second["logIds"], json!(["m3"]), "{second}");

    // Everything logged already: no ids, no message.
    let again = post(
        &server,
        &token,
        &post_body(
            day,
            json!(7),
            json!([sms("m1", 1, "first"), sms("m3", 9, "third")]),
        ),
    )
    .await;
    assert_eq!(again["successful"], true, "{again}");
    assert_eq!(again["logIds"], json!([]), "{again}");
    assert_eq!(again["returnMessage"], Value::Null, "{again}");

    let records = dirs.testcrm_message_logs().await;
    assert_eq!(records.len(), 1, "one record for the day: {records:?}");
    let record = &records[0];
    assert_eq!(record["conversationLogId"], day);
    assert_eq!(record["subject"], "SMS conversation with Ann - 2024-02-29");
    let ids: Vec<&str> = record["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3"], "{record}");
    assert_eq!(record["messages"][0]["line"], "13:01 UTC Ann: first");

    // The next day is a record of its own.
    let next_day = post(
        &server,
        &token,
        &post_body(
            "conv-1-2024-03-01",
            json!(7),
            json!([sms("m4", 2, "tomorrow")]),
        ),
    )
    .await;
    assert_eq!(next_day["logIds"], json!(["m4"]), "{next_day}");
    let records = dirs.testcrm_message_logs().await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_ne!(records[0]["logId"], records[1]["logId"]);
    assert_eq!(
        dirs.logged_message_ids().await,
        ["m1", "m2", "m3", "m4"],
        "the server's own record of what is logged"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_conversation_has_a_record_per_contact() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let group = |contact: u32| {
        let mut body = post_body(
            "conv-1-2024-02-29",
            json!(contact),
            json!([sms("g1", 1, "hi all"), sms("g2", 2, "hello")]),
        );
        body["logInfo"]["correspondents"] =
            json!([{"phoneNumber": "+16505550100"}, {"phoneNumber": "+16505550101"}]);
        body
    };
    let for_7 = post(&server, &token, &group(7)).await;
    assert_eq!(for_7["logIds"], json!(["g1-7", "g2-7"]), "{for_7}");
    let for_8 = post(&server, &token, &group(8)).await;
    assert_eq!(for_8["logIds"], json!(["g1-8", "g2-8"]), "{for_8}");
    let again = post(&server, &token, &group(8)).await;
    assert_eq!(again["logIds"], json!([]), "{again}");

    let records = dirs.testcrm_message_logs().await;
    assert_eq!(records.len(), 2, "{records:?}");
    let mut days: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["conversationLogId"].as_str().unwrap(),
                r["contact"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    days.sort();
    assert_eq!(
        days,
        [("conv-1-2024-02-29-7", "7"), ("conv-1-2024-02-29-8", "8")]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_bad_bodies() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let empty = post(
        &server,
        &token,
        &post_body("c-2024-02-29", json!(7), json!([])),
    )
    .await;
    assert_eq!(empty["successful"], false, "{empty}");
    assert_eq!(empty["returnMessage"]["messageType"], "warning", "{empty}");
    assert_eq!(empty["logIds"], json!([]));

    let path = format!("/messageLog?jwtToken={token}");
    let mut no_day = post_body("", json!(7), json!([sms("m1", 1, "x")]));
    let reply = server.post(&path, &no_day).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.message().contains("logInfo.conversationLogId"),
        "{}",
        reply.body
    );
    no_day["logInfo"]["conversationLogId"] = json!("c-2024-02-29");
    no_day["logInfo"]["messages"][0]["type"] = json!("Telegram");
    let reply = server.post(&path, &no_day).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.message().contains("logInfo.messages[0].type"),
        "{}",
        reply.body
    );
    let unsigned = server
        .post("/messageLog", &post_body("c", json!(7), json!([])))
        .await;
    assert_eq!(unsigned.status, 401);
    assert!(dirs.testcrm_message_logs().await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_posts_make_one_pipedrive_activity() {
    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let body = post_body(
        "conv-1-2024-02-29",
        json!(3),
        json!([
            sms("p1", 1, "one"),
            sms("p2", 2, "two"),
            sms("p3", 3, "three")
        ]),
    );
    let posts = (0..10).map(|_| post(&server, &token, &body));
    let answers = futures::future::join_all(posts).await;
    let mut logged: Vec<String> = Vec::new();
    for answer in &answers {
        match answer["logIds"].as_array() {
            Some(ids) => logged.extend(ids.iter().map(|id| id.as_str().unwrap().to_owned())),
            None => assert_eq!(answer["errorCode"], "LOG_IN_PROGRESS", "{answer}"),
        }
    }
    logged.sort();
    assert_eq!(logged, ["p1", "p2", "p3"], "each message once: {answers:?}");
    assert_eq!(mock.requests_to("POST", "/api/v2/activities").len(), 1);
    let activity = mock.activities().pop().unwrap();
    let path = format!("/api/v2/activities/{}", activity["id"]);
    assert_eq!(mock.requests_to("PATCH", &path).len(), 2);

    let note = activity["note"].as_str().unwrap();
    assert_eq!(
        note,
        "<p><b>Messages</b></p><ul><li>13:01 UTC Ann: one</li>\
         <li>13:02 UTC Ann: two</li><li>13:03 UTC Ann: three</li></ul>"
    );
    assert_eq!(
        activity["subject"],
        "SMS conversation with Ann - 2024-02-29"
    );
    assert_eq!(
        activity["participants"],
        json!([{"person_id": 3, "primary": true}])
    );
    assert_eq!(activity["done"], true);

    // A later post appends, keeping the lines already there.
    let later = post(
        &server,
        &token,
        &post_body("conv-1-2024-02-29", json!(3), json!([sms("p4", 4, "four")])),
    )
    .await;
    assert_eq!(later["logIds"], json!(["p4"]), "{later}");
    let note = mock.activities().pop().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.ends_with("<li>13:03 UTC Ann: three</li><li>13:04 UTC Ann: four</li></ul>"),
        "{note}"
    );
    assert_eq!(mock.requests_to("POST", "/api/v2/activities").len(), 1);
    server.stop().await;
}

/// No file in the data dir holds `secret`.
fn assert_nowhere_in(dirs: &Dirs, secret: &str) {
    for entry in std::fs::read_dir(&dirs.data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "{} holds it",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_fax_and_mms_download_links_reach_the_adapter_only() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let with = |id: &str, kind: &str, attachment: &str| {
        let mut message = sms(id, 1, "");
        message["type"] = json!(kind);
        message["attachments"] =
            json!([{"id": 1, "type": attachment, "uri": format!("https://media.example/{id}")}]);
        message
    };
    let mut body = post_body(
        "conv-3-2024-02-29",
        json!(7),
        json!([
            with("v", "VoiceMail", "AudioRecording"),
            with("f", "Fax", "RenderedDocument"),
            with("s", "SMS", "MmsAttachment"),
            with("t", "SMS", "Text"),
        ]),
    );
    body["logInfo"]["rcAccessToken"] = json!("RC-SECRET-TOKEN");
    let answer = post(&server, &token, &body).await;
    assert_eq!(answer["logIds"].as_array().unwrap().len(), 4, "{answer}");
    let record = dirs.testcrm_message_logs().await.pop().unwrap();
    let attachments: Vec<&str> = record["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["attachments"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        attachments,
        [
            "AudioRecording: https://media.example/v (download link given)",
            "RenderedDocument: https://media.example/f (download link given)",
            "MmsAttachment: https://media.example/s (download link given)",
            "Text: https://media.example/t",
        ]
    );
    server.stop().await;
    assert_nowhere_in(&dirs, "RC-SECRET-TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_in_pipedrive_lists_its_recording_without_the_token() {
    let (dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let voicemail = json!({
        "id": "vm1", "type": "VoiceMail", "direction": "Inbound",
        "creationTime": 1_709_211_900_000_i64,
        "from": {"phoneNumber": "+16505550100", "name": "Ann"},
        "to": [{"phoneNumber": "+16505550199"}],
        "attachments": [{"id": 11, "type": "AudioRecording", "contentType": "audio/mpeg",
                         "uri": "https://media.ringcentral.com/restapi/v1.0/account/1/extension/1/message-store/vm1/content/11",
                         "vmDuration": 14}],
    });
    let mut body = post_body("conv-2-2024-02-29", json!(3), json!([voicemail]));
    body["logInfo"]["rcAccessToken"] = json!("RC-SECRET-TOKEN");
    let answer = post(&server, &token, &body).await;
    assert_eq!(answer["logIds"], json!(["vm1"]), "{answer}");
    let activity = mock.activities().pop().unwrap();
    assert_eq!(activity["subject"], "Voicemail from Ann - 2024-02-29");
    let note = activity["note"].as_str().unwrap();
    assert!(
        note.contains("[AudioRecording: https://media.ringcentral.com/restapi/v1.0/account/1/extension/1/message-store/vm1/content/11]"),
        "{note}"
    );
    assert!(!note.contains("RC-SECRET-TOKEN"), "{note}");
    server.stop().await;
    assert_nowhere_in(&dirs, "RC-SECRET-TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_found_by_name() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    for (number, name) in [
        ("+16505550100", "Ann Archer"),
        ("+16505550101", "Bob Baker"),
    ] {
        let created = server
            .post(
                &format!("/contact?jwtToken={token}"),
                &json!({"phoneNumber": number, "newContactName": name}),
            )
            .await;
        assert_eq!(created.body["successful"], true, "{}", created.body);
    }
    let found = server
        .get(&format!(
            "/custom/contact/search?jwtToken={token}&name=archer"
        ))
        .await;
    assert_eq!(found.body["successful"], true, "{}", found.body);
    assert_eq!(
        found.body["contact"].as_array().unwrap().len(),
        1,
        "{}",
        found.body
    );
    assert_eq!(found.body["contact"][0]["name"], "Ann Archer");
    assert_eq!(found.body["contact"][0]["phone"], "+16505550100");
    let by_number = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B16505550101"
        ))
        .await;
    assert_eq!(
        by_number.body["contact"][0]["name"], "Bob Baker",
        "{}",
        by_number.body
    );
    let nobody = server
        .get(&format!("/custom/contact/search?jwtToken={token}&name=zed"))
        .await;
    assert_eq!(nobody.body["successful"], false, "{}", nobody.body);
    assert_eq!(nobody.body["contact"], json!([]));
    let missing = server
        .get(&format!("/custom/contact/search?jwtToken={token}"))
        .await;
    assert_eq!(missing.status, 400);
    // Another user's contacts are not theirs.
    let other = server.login("testCRM", "key-2").await;
    let theirs = server
        .get(&format!("/custom/contact/search?jwtToken={other}&name=ann"))
        .await;
    assert_eq!(theirs.body["contact"], json!([]), "{}", theirs.body);
    server.stop().await;

    let (_dirs, mock, server) = start_pipedrive(&[]).await;
    let token = server
        .login_at("pipedrive", API_TOKEN, "testco.pipedrive.com")
        .await;
    let found = server
        .get(&format!(
            "/custom/contact/search?jwtToken={token}&name=smith"
        ))
        .await;
    let names: Vec<&str> = found.body["contact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["John Smith", "Joan Smith"], "{}", found.body);
    let search = &mock.requests_to("GET", "/api/v2/persons/search")[0];
    assert_eq!(search.param("fields").as_deref(), Some("name"));
    assert_eq!(search.param("term").as_deref(), Some("smith"));
    server.stop().await;
}
