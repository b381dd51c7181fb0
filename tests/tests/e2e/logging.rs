//! Nothing secret reaches a log line, even at `trace` level.

use serde_json::json;
use std::sync::{Arc, Mutex, OnceLock};
use switchboard_tests::{Dirs, TestServer, artifacts, create_body};

/// Everything every test in this binary logs, at `trace` level.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
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
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature), "the jwtToken reached a log");
}
