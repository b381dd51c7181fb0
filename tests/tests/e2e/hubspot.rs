//! The HubSpot adapter, written in TypeScript (`examples/hubspot`), against
//! a mock HubSpot: OAuth through the host with `client_secret_post`,
//! contacts through the CRM search API, each call one call engagement
//! associated to its contact, updates by PATCH, and HubSpot's errors and
//! rate limits as App Connect answers.

use serde_json::json;
use switchboard_tests::hubspot::{
    CALL_TO_CONTACT, CLIENT_ID, CLIENT_SECRET, GOOD_CODE, OWNER_ID, PRIVATE_APP_TOKEN,
};
use switchboard_tests::{Reply, TestServer, create_body, start_hubspot};

async fn oauth_login(server: &TestServer) -> String {
    let reply = server.oauth_callback("hubspot", GOOD_CODE).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["name"], "Pat Hubspot", "{}", reply.body);
    reply.body["jwtToken"].as_str().unwrap().to_owned()
}

fn assert_failed(reply: &Reply, code: &str) {
    assert_eq!(reply.body["successful"], false, "{}", reply.body);
    assert_eq!(reply.body["errorCode"], code, "{}", reply.body);
}

fn names(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.body["successful"], true, "{}", reply.body);
    reply.body["contact"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["id"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_sign_in_sends_the_secret_in_the_form_and_keeps_it_on_the_host() {
    let (dirs, mock, server) = start_hubspot(&[]).await;
    let denied = server.oauth_callback("hubspot", "wrong-code").await;
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert_eq!(denied.body["errorCode"], "CRM_UNAUTHORIZED");

    let _token = oauth_login(&server).await;
    let exchanges = mock.requests_to("POST", "/oauth/v1/token");
    let exchange = exchanges.last().unwrap();
    assert_eq!(
        exchange.form("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(exchange.form("code").as_deref(), Some(GOOD_CODE));
    assert_eq!(exchange.form("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        exchange.form("client_secret").as_deref(),
        Some(CLIENT_SECRET)
    );
    assert_eq!(
        exchange.header("authorization"),
        None,
        "client_secret_post sends no Basic auth"
    );
    // The adapter looked the token up and found the user among the owners.
    assert_eq!(
        mock.requests_to("GET", "/oauth/v1/access-tokens/hs-access-1")
            .len(),
        1
    );
    let owners = mock.requests_to("GET", "/crm/v3/owners/").pop().unwrap();
    assert_eq!(owners.param("email").as_deref(), Some("pat@testco.example"));
    assert_eq!(owners.header("authorization"), Some("Bearer hs-access-1"));
    let (kind, credential, refresh) = dirs.stored_credentials().await.pop().unwrap();
    assert_eq!(kind, "oauth");
    let (credential, refresh) = (credential.unwrap(), refresh.unwrap());
    assert!(!credential.contains("hs-access-1") && !refresh.contains("hs-refresh-1"));
    assert!(!credential.contains(CLIENT_SECRET) && !refresh.contains(CLIENT_SECRET));

    // A private app's token signs in as the account.
    let account = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "hubspot", "apiKey": PRIVATE_APP_TOKEN, "hostname": "app.hubspot.com"}),
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert_eq!(
        account.body["name"], "HubSpot account 4455",
        "{}",
        account.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_found_through_the_search_api_and_created() {
    let (_dirs, mock, server) = start_hubspot(&[]).await;
    let token = oauth_login(&server).await;

    let by_phone = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B16504445566"
        ))
        .await;
    assert_eq!(names(&by_phone), ["101 John Smith", "102 Joan Smith"]);
    assert_eq!(by_phone.body["contact"][0]["organization"], "Acme Corp");
    let search = mock
        .requests_to("POST", "/crm/v3/objects/contacts/search")
        .pop()
        .unwrap();
    let eq = |name: &str, value: &str| json!({"filters": [{"propertyName": name, "operator": "EQ", "value": value}]});
    assert_eq!(
        search.body["filterGroups"],
        json!([
            eq("phone", "+16504445566"),
            eq("mobilephone", "+16504445566"),
            eq("hs_searchable_calculated_phone_number", "6504445566"),
            eq("hs_searchable_calculated_mobile_number", "6504445566"),
        ])
    );
    assert_eq!(search.header("authorization"), Some("Bearer hs-access-1"));

    let abroad = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B442071234567"
        ))
        .await;
    assert_eq!(names(&abroad), ["103 Ann Other"]);
    let by_name = server
        .get(&format!(
            "/custom/contact/search?jwtToken={token}&name=smith"
        ))
        .await;
    assert_eq!(names(&by_name), ["101 John Smith", "102 Joan Smith"]);

    let created = server
        .post(
            &format!("/contact?jwtToken={token}"),
            &json!({"phoneNumber": "+18662019834", "newContactName": "Mary Ann Lee", "newContactType": "contact"}),
        )
        .await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let id: u64 = created.body["contact"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        mock.contacts()[&id],
        json!({"firstname": "Mary Ann", "lastname": "Lee", "phone": "+18662019834"})
    );
    let found = server
        .get(&format!(
            "/contact?jwtToken={token}&phoneNumber=%2B18662019834"
        ))
        .await;
    assert_eq!(names(&found), [format!("{id} Mary Ann Lee")]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_one_engagement_associated_to_its_contact_and_patched_in_place() {
    let (_dirs, mock, server) = start_hubspot(&[]).await;
    let token = oauth_login(&server).await;

    let mut body = create_body("hs-1", json!("101"), "Asked about renewal\nSend <prices>");
    body["aiNote"] = json!("Wants a quote");
    let created = server.create(&token, &body).await;
    assert_eq!(created.body["successful"], true, "{}", created.body);
    let log_id = created.body["logId"].as_str().unwrap().to_owned();
    let posted = mock.requests_to("POST", "/crm/v3/objects/calls");
    assert_eq!(posted.len(), 1, "one CRM record per call");
    assert_eq!(
        posted[0].body,
        json!({
            "properties": {
                "hs_timestamp": "2018-09-11T13:24:09.000Z",
                "hs_call_title": "Inbound call from John Smith",
                "hs_call_body": "<p>Asked about renewal<br>Send &lt;prices&gt;</p><ul>\
                    <li><b>Result</b>: Accepted</li><li><b>Duration</b>: 7 seconds</li>\
                    <li><b>Call recording link</b>: <a href=\"https://app.ringcentral.com/recordings/1001\">\
                    https://app.ringcentral.com/recordings/1001</a></li>\
                    <li><b>AI note</b>: Wants a quote</li></ul>",
                "hs_call_direction": "INBOUND",
                "hs_call_duration": "7000",
                "hs_call_status": "COMPLETED",
                "hs_call_disposition": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
                "hs_call_from_number": "+16504445566",
                "hs_call_to_number": "+18662019834",
                "hs_call_recording_url": "https://app.ringcentral.com/recordings/1001",
                "hubspot_owner_id": OWNER_ID,
            },
            "associations": [{
                "to": {"id": "101"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT}],
            }],
        })
    );
    let calls = mock.calls();
    assert_eq!(
        (calls[0].0.as_str(), calls[0].2.as_slice()),
        (log_id.as_str(), &[101][..])
    );

    // The same session again makes no second engagement.
    let again = server
        .create(&token, &create_body("hs-1", json!("101"), "again"))
        .await;
    assert_eq!(again.body["successful"], false, "{}", again.body);
    assert_eq!(again.message(), "Existing log for session hs-1");
    assert_eq!(mock.requests_to("POST", "/crm/v3/objects/calls").len(), 1);

    let found = server.find(&token, "hs-1", true).await;
    let log = &found.body["logs"][0];
    assert_eq!(log["logId"], log_id.as_str(), "{}", found.body);
    assert_eq!(log["logData"]["subject"], "Inbound call from John Smith");
    assert_eq!(log["logData"]["note"], "Asked about renewal\nSend <prices>");

    let patched = server
        .patch(
            &format!("/callLog?jwtToken={token}"),
            &json!({"sessionId": "hs-1", "subject": "Renewal", "note": "Sent the prices",
                    "recordingLink": "https://app.ringcentral.com/recordings/2002", "duration": 65}),
        )
        .await;
    assert_eq!(patched.body["successful"], true, "{}", patched.body);
    let sent = mock
        .requests_to("PATCH", &format!("/crm/v3/objects/calls/{log_id}"))
        .pop()
        .unwrap();
    let expected_body = "<p>Sent the prices</p><ul><li><b>Result</b>: Accepted</li>\
        <li><b>Duration</b>: 1 minute, 5 seconds</li><li><b>Call recording link</b>: \
        <a href=\"https://app.ringcentral.com/recordings/2002\">https://app.ringcentral.com/recordings/2002</a></li>\
        <li><b>AI note</b>: Wants a quote</li></ul>";
    assert_eq!(
        sent.body,
        json!({"properties": {
            "hs_call_body": expected_body,
            "hs_call_title": "Renewal",
            "hs_call_duration": "65000",
            "hs_call_recording_url": "https://app.ringcentral.com/recordings/2002",
        }})
    );
    let stored = &mock.calls()[0].1;
    assert_eq!(stored["hs_call_body"], expected_body);
    assert_eq!(
        stored["hs_call_direction"], "INBOUND",
        "untouched: {stored}"
    );
    assert_eq!(mock.requests_to("POST", "/crm/v3/objects/calls").len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_errors_rate_limits_and_expiry_become_clear_answers() {
    let (_dirs, mock, server) = start_hubspot(&[]).await;
    let token = oauth_login(&server).await;

    // Signing in made two rate-limited requests; allow two creates more.
    mock.set_rate_limit(4);
    for session in ["rl-1", "rl-2"] {
        let ok = server
            .create(&token, &create_body(session, json!("101"), ""))
            .await;
        assert_eq!(ok.body["successful"], true, "{}", ok.body);
    }
    let limited = server
        .create(&token, &create_body("rl-3", json!("101"), ""))
        .await;
    assert_failed(&limited, "RATE_LIMITED");
    assert!(
        limited.message().contains("retry after 10 seconds"),
        "the ten-second window: {}",
        limited.body
    );
    assert_eq!(mock.calls().len(), 2);
    mock.set_rate_limit(190);

    // An expired access token is refreshed by the host, with the secret in
    // the form, and the call retried once.
    mock.expire_access_token("hs-access-1");
    let retried = server
        .create(&token, &create_body("rl-3", json!("101"), ""))
        .await;
    assert_eq!(retried.body["successful"], true, "{}", retried.body);
    let refresh = mock
        .requests_to("POST", "/oauth/v1/token")
        .into_iter()
        .find(|r| r.form("grant_type").as_deref() == Some("refresh_token"))
        .expect("a refresh");
    assert_eq!(
        refresh.form("refresh_token").as_deref(),
        Some("hs-refresh-1")
    );
    assert_eq!(
        refresh.form("client_secret").as_deref(),
        Some(CLIENT_SECRET)
    );
    let last = mock
        .requests_to("POST", "/crm/v3/objects/calls")
        .pop()
        .unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer hs-access-2"));

    // HubSpot's validation error names the property, and nothing is made.
    let made = mock.calls().len();
    let unknown_contact = server
        .create(&token, &create_body("bad-1", json!("999"), ""))
        .await;
    assert_failed(&unknown_contact, "CRM_ERROR");
    assert!(
        unknown_contact.message().contains("HTTP 400")
            && unknown_contact.message().contains("Invalid association"),
        "{}",
        unknown_contact.body
    );
    let not_an_id = server
        .create(&token, &create_body("bad-2", json!("abc"), ""))
        .await;
    assert_failed(&not_an_id, "INVALID_INPUT");
    mock.fail_next(
        "POST",
        "/crm/v3/objects/calls",
        500,
        &[],
        json!({"status": "error", "message": "internal error", "correlationId": "c-500", "category": "INTERNAL_ERROR"}),
    );
    let down = server
        .create(&token, &create_body("bad-3", json!("101"), ""))
        .await;
    assert_failed(&down, "CRM_ERROR");
    assert!(
        down.message().contains("correlationId c-500"),
        "{}",
        down.body
    );
    assert_eq!(mock.calls().len(), made);
    server.stop().await;
}
