//! The adapter side of egress: which outbound HTTP requests one adapter may
//! make, as `WasiHttpHooks` for its instances.
//!
//! A request goes out only when its host matches one of the adapter's
//! allowed hosts (its manifest's `allowed-hosts` narrowed or extended by the
//! operator). It is then sent through the process-wide [`EgressClient`],
//! which applies the SSRF guard, operator rewrites and the caps. Anything
//! refused fails with `error-code::http-request-denied`, is logged with the
//! adapter, host and path (never the query), and is remembered so the host
//! can answer `EGRESS_DENIED` for that call.

use crate::egress::{EgressClient, EgressError, HostPattern, normalize_host};
use crate::telemetry::{self, traces};
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// What one adapter may reach. Shared by every instance of that adapter.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    platform: String,
    allowed: Vec<HostPattern>,
    client: EgressClient,
    /// Requests one call may make.
    max_requests: u32,
}

impl EgressPolicy {
    /// The policy of `platform`'s adapter: it may reach `allowed`, through
    /// `client`, at most `max_requests` times per call.
    pub fn new(
        platform: String,
        allowed: Vec<HostPattern>,
        client: EgressClient,
        max_requests: u32,
    ) -> Self {
        Self {
            platform,
            allowed,
            client,
            max_requests,
        }
    }

    /// The allowed host pattern that lets a request to `host` go (a
    /// bounded name for it, for metrics), or why it is refused.
    pub fn check(&self, host: &str) -> Result<&HostPattern, String> {
        let host = normalize_host(host);
        self.allowed
            .iter()
            .find(|p| p.matches(&host))
            .ok_or_else(|| format!("{host} is not in the adapter's allowed hosts"))
    }
}

/// The `WasiHttpHooks` of one instance: applies the policy and remembers
/// what it refused.
pub struct EgressHooks {
    policy: Arc<EgressPolicy>,
    denied: Arc<Mutex<Vec<String>>>,
    /// Requests sent by this call so far.
    sent: u32,
}

impl std::fmt::Debug for EgressHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressHooks")
            .field("denied", &self.denied())
            .finish_non_exhaustive()
    }
}

impl EgressHooks {
    /// Hooks for one instance of an adapter with `policy`.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self {
            policy,
            denied: Arc::default(),
            sent: 0,
        }
    }

    /// The requests refused so far, each with its reason.
    pub fn denied(&self) -> Vec<String> {
        self.denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The `host` label of a request to a host the adapter may not reach: the
/// host itself is the adapter's choice, so unbounded.
const NOT_ALLOWED_HOST: &str = "(not allowed)";

/// Record and log a refusal.
fn deny(denied: &Mutex<Vec<String>>, platform: &str, uri: &http::Uri, reason: String) {
    tracing::warn!(
        adapter = platform,
        host = uri.host().unwrap_or_default(),
        path = uri.path(),
        %reason,
        "outbound request denied"
    );
    denied
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(reason);
}

fn to_wasi(error: EgressError) -> HttpError {
    match error {
        EgressError::Denied(_) => HttpError::HttpRequestDenied,
        EgressError::Dns(_) => HttpError::DnsError {
            rcode: None,
            info_code: None,
        },
        EgressError::Connect(_) => HttpError::ConnectionRefused,
        EgressError::ConnectTimeout => HttpError::ConnectionTimeout,
        EgressError::ResponseTimeout => HttpError::ConnectionReadTimeout,
        EgressError::BodyTooLarge(limit) => HttpError::HttpResponseBodySize(Some(limit)),
        EgressError::Tls(_) => HttpError::TlsProtocolError,
        EgressError::Protocol(m) | EgressError::InvalidRequest(m) => {
            HttpError::InternalError(Some(m))
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        let policy = self.policy.clone();
        let uri = request.uri().clone();
        let allowed = policy
            .check(uri.host().unwrap_or_default())
            .and_then(|pattern| {
                if self.sent >= policy.max_requests {
                    return Err(format!(
                        "more than {} outbound requests in one call",
                        policy.max_requests
                    ));
                }
                Ok(pattern.to_string())
            });
        let host = match allowed {
            Ok(pattern) => pattern,
            Err(reason) => {
                telemetry::egress_request(&policy.platform, NOT_ALLOWED_HOST, "denied");
                deny(&self.denied, &policy.platform, &uri, reason);
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        self.sent += 1;
        let denied = self.denied.clone();
        let asked = options.and_then(|o| o.first_byte_timeout);
        // A child of the adapter call's span; the CRM receives its context
        // as `traceparent`. The path is left out: it may hold a token.
        let span = tracing::info_span!(
            "egress",
            http.request.method = %request.method(),
            server.address = uri.host().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
        );
        let mut request = request;
        traces::inject(&span, request.headers_mut());
        let sending = async move {
            let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
            let sent = policy.client.send(request, asked).await;
            let status = match &sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    tracing::Span::current().record("http.response.status_code", status);
                    status.to_string()
                }
                Err(EgressError::Denied(_)) => "denied".to_owned(),
                Err(_) => "error".to_owned(),
            };
            telemetry::egress_request(&policy.platform, &host, &status);
            match sent {
                Ok(response) => Ok((
                    response.map(|body| body.map_err(to_wasi).boxed_unsync()),
                    Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
                )),
                Err(EgressError::Denied(reason)) => {
                    deny(&denied, &policy.platform, &uri, reason);
                    Err(HttpError::HttpRequestDenied)
                }
                Err(error) => {
                    tracing::debug!(adapter = %policy.platform, host = uri.host().unwrap_or_default(), path = uri.path(), %error, "outbound request failed");
                    Err(to_wasi(error))
                }
            }
        };
        Box::new(sending.instrument(span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::EgressLimits;
    use std::time::Duration;

    fn policy(hosts: &[&str]) -> EgressPolicy {
        let allowed = hosts
            .iter()
            .map(|h| HostPattern::parse(h).expect("valid"))
            .collect();
        let limits = EgressLimits {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            max_response_bytes: 1024,
        };
        let client = EgressClient::new(Vec::new(), false, limits).expect("client");
        EgressPolicy::new("p".into(), allowed, client, 10)
    }

    #[tokio::test]
    async fn only_declared_hosts_pass() {
        let p = policy(&["*.pipedrive.com", "oauth.example.com"]);
        let pattern = |host| p.check(host).map(ToString::to_string);
        assert_eq!(
            pattern("api.pipedrive.com").as_deref(),
            Ok("*.pipedrive.com")
        );
        assert_eq!(
            pattern("API.Pipedrive.COM.").as_deref(),
            Ok("*.pipedrive.com")
        );
        assert_eq!(
            pattern("oauth.example.com").as_deref(),
            Ok("oauth.example.com")
        );
        assert!(p.check("pipedrive.com").is_err(), "apex is not a subdomain");
        assert!(p.check("evilpipedrive.com").is_err());
        assert!(p.check("example.com").is_err());
        assert!(policy(&[]).check("anything.com").is_err());
    }
}
