//! Login, tokens and sign-out.

use serde_json::json;
use switchboard_tests::{
    Dirs, JWT_SECRET, TestServer, artifacts, create_body, now_secs, sign_token,
};

const AUTHORIZE: &str = "Please go to Settings and authorize CRM platform";

fn assert_unauthenticated(reply: &switchboard_tests::Reply) {
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["successful"], false);
    assert_eq!(reply.body["returnMessage"]["messageType"], "warning");
    assert_eq!(reply.body["returnMessage"]["message"], AUTHORIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_login_mints_a_token_with_app_connect_claims() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let reply = server
        .post("/apiKeyLogin", &json!({"platform": "testCRM", "apiKey": "key-1", "hostname": "crm.example", "additionalInfo": {"a": 1}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["name"], "Test User");
    assert_eq!(
        reply.body["returnMessage"],
        json!({"messageType": "success", "message": "Successfully connected to Test CRM.", "ttl": 1000})
    );
    let token = reply.body["jwtToken"].as_str().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["platform"], "testCRM");
    let id = claims["id"].as_str().unwrap();
    assert!(id.ends_with("-testCRM") && id.starts_with("test-"), "{id}");
    assert!(
        !id.contains("key-1"),
        "the user id must not reveal the API key"
    );
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());

    // Two keys are two users.
    let other = server.login("testCRM", "key-2").await;
    let other_id = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&other)
        .unwrap()
        .claims["id"]
        .clone();
    assert_ne!(other_id, claims["id"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_say_which() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;

    let unknown = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "nope", "apiKey": "k", "hostname": "h"}),
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.body["errorCode"], "ADAPTER_UNAVAILABLE");
    assert_eq!(
        unknown.body["returnMessage"]["message"],
        "Unknown platform nope: no adapter serves it"
    );

    let rejected = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "testCRM", "apiKey": "  ", "hostname": "h"}),
        )
        .await;
    assert_eq!(rejected.status, 401, "{}", rejected.body);
    assert_eq!(rejected.body["errorCode"], "CRM_UNAUTHORIZED");
    assert_eq!(
        rejected.body["returnMessage"]["message"],
        "testCRM rejected the API key"
    );

    let missing = server
        .post(
            "/apiKeyLogin",
            &json!({"platform": "testCRM", "hostname": "h"}),
        )
        .await;
    assert_eq!(missing.status, 400);
    let message = missing.body["returnMessage"]["message"].as_str().unwrap();
    assert!(message.contains("apiKey"), "names the field: {message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_and_change_nothing() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
        .unwrap()
        .claims;
    let body = create_body("auth-1", json!(7), "n");

    let now = now_secs();
    let expired = sign_token(
        &json!({"id": claims["id"], "platform": "testCRM", "iat": now - 100, "exp": now - 10}),
        JWT_SECRET,
    );
    let wrong_key = sign_token(
        &json!({"id": claims["id"], "platform": "testCRM", "iat": now, "exp": now + 600}),
        "another-secret-another-secret-another",
    );
    // `alg: none`, unsigned.
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"id": claims["id"], "platform": "testCRM", "iat": now, "exp": now + 600}))
    );
    // A payload edited after signing: same signature, another user.
    let parts: Vec<&str> = token.split('.').collect();
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        b64(
            json!({"id": "someone-else-testCRM", "platform": "testCRM", "iat": now, "exp": now + 600})
        ),
        parts[2]
    );

    for bad in [
        String::new(),
        "garbage".into(),
        expired,
        wrong_key,
        none,
        edited,
    ] {
        assert_unauthenticated(&server.create(&bad, &body).await);
        assert_unauthenticated(&server.find(&bad, "auth-1", false).await);
    }
    assert_unauthenticated(&server.post("/callLog", &body).await);
    assert!(
        dirs.testcrm_records().await.is_empty(),
        "nothing was created"
    );

    // The same token works as `Authorization: Bearer`.
    let reply = server
        .client
        .post(format!("{}/callLog", server.base))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let reply: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(reply["successful"], true, "{reply}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorize_revokes_the_token() {
    let dirs = Dirs::with_adapters(&[artifacts::TESTCRM]);
    let server = TestServer::start(&dirs, &[]).await;
    let token = server.login("testCRM", "key-1").await;
    assert_eq!(server.find(&token, "s", false).await.status, 200);

    let out = server
        .post(&format!("/unAuthorize?jwtToken={token}"), &json!({}))
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["successful"], true);
    assert_unauthenticated(&server.find(&token, "s", false).await);
    assert_unauthenticated(
        &server
            .post(&format!("/unAuthorize?jwtToken={token}"), &json!({}))
            .await,
    );
    server.stop().await;
}
