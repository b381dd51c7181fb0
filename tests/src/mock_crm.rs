//! A mock CRM that answers everything and counts requests; requests under
//! `/slow` wait until the test releases them.

use crate::poll::{DEADLINE, wait_until};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// A mock CRM: answers every request with `{"ok": true}` and counts them.
/// Requests to paths under `/slow` wait until [`MockCrm::release`].
#[derive(Debug, Clone)]
pub struct MockCrm {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    hits: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl MockCrm {
    /// Listen on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (counter, waiting) = (hits.clone(), gate.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (counter, waiting) = (counter.clone(), waiting.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if uri.path().starts_with("/slow") {
                    waiting.acquire().await.unwrap().forget();
                }
                axum::Json(json!({ "ok": true }))
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits, gate }
    }

    /// Let `n` waiting `/slow` requests answer.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Wait (with a deadline) until the mock has received `n` requests.
    pub async fn wait_for_hits(&self, n: usize) {
        wait_until(DEADLINE, async || match self.hits() {
            seen if seen >= n => Ok(()),
            seen => Err(format!("mock CRM to get {n} requests; got {seen}")),
        })
        .await;
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
