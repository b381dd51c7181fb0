//! What every mock CRM shares: its [`Journal`] of the requests it received,
//! and the answers a test scripts for the next matching request (an error
//! status with headers, a body that is not JSON, a stall, a slow drip, a
//! reset).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body as JSON, or as a JSON string when it was not JSON (forms).
    pub body: Value,
}

impl Recorded {
    /// Record a request as the mock's handler received it.
    pub fn new(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Self {
        Self {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers: headers.clone(),
            body: serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
        }
    }

    /// A header's value, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A form-body field, decoded.
    pub fn form(&self, name: &str) -> Option<String> {
        let text = self.body.as_str()?;
        form_urlencoded::parse(text.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How a mock misbehaves for one scripted request.
#[derive(Debug, Clone)]
pub enum Misbehaviour {
    /// Answer with this status, headers and JSON body.
    Answer {
        /// The status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The JSON body.
        body: Value,
    },
    /// Answer 200 with a body that is not JSON.
    NotJson,
    /// Never answer.
    Stall,
    /// Answer 200, then send the body one byte every 50 ms, forever.
    Slowloris,
    /// Answer 200, send part of the body, then break the connection.
    Reset,
}

impl Misbehaviour {
    /// An [`Misbehaviour::Answer`] from borrowed headers.
    pub fn answer(status: u16, headers: &[(&str, &str)], body: Value) -> Self {
        Self::Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        }
    }

    /// The response, as the misbehaving CRM sends it.
    pub async fn respond(self) -> Response {
        use futures::StreamExt;
        let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
        match self {
            Self::Answer {
                status,
                headers,
                body,
            } => {
                let mut response =
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(
                        axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                        value.parse().unwrap(),
                    );
                }
                response
            }
            Self::NotJson => (json, "<html><body>502 Bad Gateway</body></html>").into_response(),
            Self::Stall => futures::future::pending().await,
            Self::Slowloris => {
                let drip = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
                });
                let body =
                    futures::stream::once(async { Ok(Bytes::from_static(b"{\"success\": true")) })
                        .chain(drip);
                (json, axum::body::Body::from_stream(body)).into_response()
            }
            Self::Reset => {
                let body = futures::stream::iter([
                    Ok(Bytes::from_static(b"{\"success\": true, \"da")),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "reset",
                    )),
                ]);
                (json, axum::body::Body::from_stream(body)).into_response()
            }
        }
    }
}

/// A scripted answer for the next request that matches.
#[derive(Debug, Clone)]
struct Scripted {
    method: Method,
    path_prefix: String,
    /// Only a request whose body contains this matches.
    body_contains: Option<String>,
    misbehaviour: Misbehaviour,
}

/// An axum router that records every request in `journal`, answers it as
/// scripted when a script matches, and hands the rest to `handle`.
pub fn journaled<F, Fut>(journal: Journal, handle: F) -> axum::Router
where
    F: Fn(Recorded) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (journal, handle) = (journal.clone(), handle.clone());
            async move {
                let request = Recorded::new(&method, &uri, &headers, &body);
                match journal.record(&request) {
                    Some(how) => how.respond().await,
                    None => handle(request).await,
                }
            }
        },
    )
}

/// A mock's requests and its scripted answers. Clones share them; each mock
/// dereferences to its journal, so tests call `mock.requests_to(…)`.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Entries>>);

#[derive(Debug, Default)]
struct Entries {
    requests: Vec<Recorded>,
    /// First come first served.
    scripted: VecDeque<Scripted>,
}

impl Journal {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.0.lock().unwrap()
    }

    /// Record a request the mock received: the scripted answer for it, if
    /// one matches (it is used up).
    pub fn record(&self, request: &Recorded) -> Option<Misbehaviour> {
        let mut entries = self.lock();
        entries.requests.push(request.clone());
        let text = request.body.to_string();
        let at = entries.scripted.iter().position(|f| {
            f.method.as_str() == request.method
                && request.path.starts_with(&f.path_prefix)
                && f.body_contains
                    .as_ref()
                    .is_none_or(|m| text.contains(m.as_str()))
        })?;
        entries.scripted.remove(at).map(|s| s.misbehaviour)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests with this method and path.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Answer the next `method` request under `path_prefix` with this instead.
    pub fn fail_next(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        self.script(
            method,
            path_prefix,
            None,
            Misbehaviour::answer(status, headers, body),
        );
    }

    /// Misbehave for the next `method` request under `path_prefix` whose
    /// body contains `marker`.
    pub fn misbehave(&self, method: &str, path_prefix: &str, marker: &str, how: Misbehaviour) {
        self.script(method, path_prefix, Some(marker), how);
    }

    fn script(&self, method: &str, path_prefix: &str, marker: Option<&str>, how: Misbehaviour) {
        self.lock().scripted.push_back(Scripted {
            method: method.parse().unwrap(),
            path_prefix: path_prefix.into(),
            body_contains: marker.map(str::to_owned),
            misbehaviour: how,
        });
    }

    /// Wait (with a deadline) until `count` requests match.
    pub async fn wait_for(&self, what: &str, count: usize, matches: impl Fn(&Recorded) -> bool) {
        crate::wait_until(crate::DEADLINE, async || {
            match self.requests().iter().filter(|r| matches(r)).count() {
                seen if seen >= count => Ok(()),
                seen => Err(format!("the mock to see {count} {what}; saw {seen}")),
            }
        })
        .await;
    }
}
