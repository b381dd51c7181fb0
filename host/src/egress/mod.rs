//! Outbound HTTP from the host to CRMs: one pooled client for the whole
//! process, used by adapters (through the `wasi:http` hooks in
//! [`crate::runtime`]) and by the host's own OAuth token requests.
//!
//! - Connections are pooled and kept alive (hyper-util, rustls with the
//!   webpki roots), so a thousand calls to one CRM reuse a few connections.
//! - Unless the operator allows it, no request reaches a private, loopback,
//!   link-local or metadata address: literal addresses are checked here, and
//!   names after DNS resolution ([`guard`]).
//! - Operator rewrites ([`rewrite`]) send a host's requests elsewhere; a
//!   rewritten destination is the operator's choice and is not guarded.
//! - Connect, first-byte and between-bytes times are capped, and so is the
//!   size of a response body.
//!
//! Which hosts an adapter may ask for is the runtime's question (its
//! manifest and operator policy); this module sends what it is given.

pub mod guard;
mod host_pattern;
pub mod rewrite;

pub use host_pattern::{HostPattern, InvalidHost, normalize_host};
pub use rewrite::{EgressOverride, OverrideError};

use bytes::Bytes;
use guard::{DnsFailure, GuardedResolver, PrivateAddress, is_public};
use http::{HeaderValue, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body the client sends.
pub type OutgoingBody = UnsyncBoxBody<Bytes, BoxError>;

/// Limits on every outbound request.
#[derive(Debug, Clone, Copy)]
pub struct EgressLimits {
    /// For the TCP (and TLS) connection, DNS included.
    pub connect_timeout: Duration,
    /// For the response to start, and between two chunks of its body.
    pub response_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: u64,
}

/// The TLS settings of the host's clients: rustls on ring, the webpki
/// roots, no client certificate.
pub fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    })
    .with_no_client_auth();
    Ok(config)
}

/// Why an outbound request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The destination is not allowed (a private address, …).
    #[error("{0}")]
    Denied(String),
    /// The name did not resolve.
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    /// The connection failed.
    #[error("connecting failed: {0}")]
    Connect(String),
    /// The connection took longer than the connect timeout.
    #[error("connecting timed out")]
    ConnectTimeout,
    /// The response (or its next chunk) took longer than the response timeout.
    #[error("the response did not arrive in time")]
    ResponseTimeout,
    /// The response body is over the cap.
    #[error("the response body is larger than {0} bytes")]
    BodyTooLarge(u64),
    /// The TLS handshake failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The exchange broke off or the peer spoke bad HTTP.
    #[error("HTTP failed: {0}")]
    Protocol(String),
    /// The request cannot be sent as it is.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

type Pooled = Client<HttpsConnector<HttpConnector<GuardedResolver>>, OutgoingBody>;

/// The process-wide outbound HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct EgressClient {
    /// For requests as adapters make them: the SSRF guard applies.
    guarded: Pooled,
    /// For operator-rewritten destinations: any address.
    trusted: Pooled,
    overrides: Arc<[EgressOverride]>,
    allow_private: bool,
    limits: EgressLimits,
}

impl std::fmt::Debug for EgressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressClient")
            .field("overrides", &self.overrides)
            .field("allow_private", &self.allow_private)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl EgressClient {
    /// The client, with its rewrites, its SSRF guard (off with
    /// `allow_private`) and its limits.
    pub fn new(
        overrides: Vec<EgressOverride>,
        allow_private: bool,
        limits: EgressLimits,
    ) -> anyhow::Result<Self> {
        let tls = tls_config()?;
        let pooled = |allow_private: bool| -> Pooled {
            let mut http = HttpConnector::new_with_resolver(GuardedResolver {
                allow_private,
                timeout: limits.connect_timeout,
            });
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(limits.connect_timeout));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(64)
                .build(https)
        };
        Ok(Self {
            guarded: pooled(allow_private),
            trusted: pooled(true),
            overrides: overrides.into(),
            allow_private,
            limits,
        })
    }

    /// The limits every request is sent with.
    pub fn limits(&self) -> EgressLimits {
        self.limits
    }

    /// The operator's rewrite for `host`, if any.
    fn override_for(&self, host: &str) -> Option<&EgressOverride> {
        self.overrides.iter().find(|o| o.host.matches(host))
    }

    /// Send a request and return the response with a capped, timed body.
    /// `response_timeout` may only shorten the configured one.
    pub async fn send(
        &self,
        mut request: Request<OutgoingBody>,
        response_timeout: Option<Duration>,
    ) -> Result<Response<ResponseBody>, EgressError> {
        let timeout = response_timeout.map_or(self.limits.response_timeout, |t| {
            t.min(self.limits.response_timeout)
        });
        let host = normalize_host(request.uri().host().unwrap_or_default());
        let sent = match self.override_for(&host) {
            Some(rule) => {
                let original = request.uri().authority().map(|a| a.to_string());
                *request.uri_mut() = rule
                    .rewrite(request.uri())
                    .map_err(|e| EgressError::InvalidRequest(e.to_string()))?;
                let headers = request.headers_mut();
                if let Ok(value) = HeaderValue::from_str(rule.authority().as_str()) {
                    headers.insert(header::HOST, value);
                }
                if let Some(value) = original.and_then(|o| HeaderValue::from_str(&o).ok()) {
                    headers.insert("x-forwarded-host", value);
                }
                tokio::time::timeout(timeout, self.trusted.request(request)).await
            }
            None => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                if !self.allow_private
                    && let Ok(ip) = bare.parse::<IpAddr>()
                    && !is_public(ip)
                {
                    return Err(EgressError::Denied(format!(
                        "{host} is a private, loopback or link-local address"
                    )));
                }
                tokio::time::timeout(timeout, self.guarded.request(request)).await
            }
        };
        let response = sent
            .map_err(|_| EgressError::ResponseTimeout)?
            .map_err(classify)?;
        let limit = self.limits.max_response_bytes;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(EgressError::BodyTooLarge(limit));
        }
        Ok(response.map(|incoming| ResponseBody {
            inner: incoming,
            limit,
            seen: 0,
            between_bytes: timeout,
            idle: Box::pin(tokio::time::sleep(timeout)),
        }))
    }
}

/// Turn a client error into what went wrong, finding the guard's refusal
/// in its chain of causes.
fn classify(error: hyper_util::client::legacy::Error) -> EgressError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<PrivateAddress>() {
            return EgressError::Denied(refused.to_string());
        }
        if let Some(dns) = cause.downcast_ref::<DnsFailure>() {
            return EgressError::Dns(dns.to_string());
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return EgressError::ConnectTimeout;
            }
            if let Some(inner) = io.get_ref()
                && inner.is::<rustls::Error>()
            {
                return EgressError::Tls(inner.to_string());
            }
        }
        source = cause.source();
    }
    let chain = error_chain(&error);
    if error.is_connect() {
        return EgressError::Connect(chain);
    }
    EgressError::Protocol(chain)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A response body that fails when it grows past the size cap or stalls
/// longer than the response timeout between two chunks.
pub struct ResponseBody {
    inner: hyper::body::Incoming,
    limit: u64,
    seen: u64,
    between_bytes: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = EgressError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, EgressError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(EgressError::BodyTooLarge(this.limit))));
                    }
                }
                let next = tokio::time::Instant::now() + this.between_bytes;
                this.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(EgressError::Protocol(error_chain(&e)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(EgressError::ResponseTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A whole body from bytes, as the client sends it.
pub fn full_body(bytes: impl Into<Bytes>) -> OutgoingBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// A local server: `/big` answers 2 MiB, `/stall` never finishes its
    /// body, anything else echoes the `Host` and `X-Forwarded-Host` it got.
    async fn server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .route("/big", get(|| async { vec![b'x'; 2 * 1024 * 1024] }))
            .route(
                "/stall",
                get(|| async {
                    let chunks = futures::stream::once(async {
                        Ok::<_, std::io::Error>(Bytes::from_static(b"start"))
                    })
                    .chain(futures::stream::pending());
                    axum::body::Body::from_stream(chunks)
                }),
            )
            .fallback(|headers: http::HeaderMap| async move {
                let host = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                format!("{} {}", host("host"), host("x-forwarded-host"))
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn client(overrides: Vec<EgressOverride>, allow_private: bool) -> EgressClient {
        let limits = EgressLimits {
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(300),
            max_response_bytes: 1024 * 1024,
        };
        EgressClient::new(overrides, allow_private, limits).expect("client")
    }

    async fn fetch(client: &EgressClient, url: &str) -> Result<Bytes, EgressError> {
        let request = Request::get(url)
            .body(full_body(Bytes::new()))
            .expect("request");
        let response = client.send(request, None).await?;
        use http_body_util::BodyExt;
        Ok(response.into_body().collect().await?.to_bytes())
    }

    use futures::StreamExt;

    #[tokio::test]
    async fn private_literals_are_refused_unless_allowed() {
        let url = server().await;
        let guarded = client(Vec::new(), false);
        let err = fetch(&guarded, &format!("{url}/x"))
            .await
            .expect_err("loopback");
        assert!(matches!(err, EgressError::Denied(_)), "{err}");
        for target in [
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://10.0.0.1/",
        ] {
            let err = fetch(&guarded, target).await.expect_err(target);
            assert!(matches!(err, EgressError::Denied(_)), "{target}: {err}");
        }
        let open = client(Vec::new(), true);
        assert!(fetch(&open, &format!("{url}/x")).await.is_ok());
    }

    #[tokio::test]
    async fn rewrites_reach_the_operators_destination() {
        let url = server().await;
        let rule: EgressOverride = format!("*.pipedrive.com={url}").parse().expect("rule");
        let guarded = client(vec![rule], false);
        let body = fetch(&guarded, "https://acme.pipedrive.com/v1/users/me")
            .await
            .expect("rewritten request is allowed");
        let authority = url.trim_start_matches("http://");
        assert_eq!(body, format!("{authority} acme.pipedrive.com").as_bytes());
    }

    #[tokio::test]
    async fn bodies_are_capped_in_size_and_time() {
        let url = server().await;
        let open = client(Vec::new(), true);
        let err = fetch(&open, &format!("{url}/big"))
            .await
            .expect_err("too big");
        assert_eq!(err, EgressError::BodyTooLarge(1024 * 1024));
        let err = fetch(&open, &format!("{url}/stall"))
            .await
            .expect_err("stalls");
        assert_eq!(err, EgressError::ResponseTimeout);
    }
}
