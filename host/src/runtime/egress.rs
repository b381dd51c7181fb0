//! The egress policy: which outbound HTTP requests an adapter may make.
//!
//! Every `wasi:http/outgoing-handler` request goes through [`EgressHooks`]
//! (our `WasiHttpHooks`). A request is sent only when its host matches one of
//! the manifest's `allowed-hosts`, and, unless the operator allows it, does
//! not name a private, loopback or link-local IP address. Anything else fails
//! with `error-code::http-request-denied` and is recorded, so the host can
//! answer `EGRESS_DENIED` for that call.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// One entry of `allowed-hosts`: an exact host or `*.suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`: any subdomain of `example.com` (not the apex).
    Subdomains(String),
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(host) => f.write_str(host),
            Self::Subdomains(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

impl HostPattern {
    /// Parse a manifest entry. Case is ignored.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim().to_ascii_lowercase();
        let valid = |h: &str| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        };
        match entry.strip_prefix("*.") {
            Some(suffix) if valid(suffix) => Ok(Self::Subdomains(suffix.to_owned())),
            None if valid(&entry) => Ok(Self::Exact(entry)),
            _ => Err(format!("invalid allowed host {entry:?}")),
        }
    }

    /// Whether every host `other` matches is matched by `self` too.
    pub fn covers(&self, other: &HostPattern) -> bool {
        match other {
            Self::Exact(host) => self.matches(host),
            Self::Subdomains(suffix) => match self {
                Self::Subdomains(mine) => {
                    suffix == mine
                        || suffix
                            .strip_suffix(mine.as_str())
                            .is_some_and(|p| p.ends_with('.'))
                }
                Self::Exact(_) => false,
            },
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(exact) => host == exact,
            Self::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        }
    }
}

/// What one adapter may reach. Shared by every instance of that adapter.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allowed: Vec<HostPattern>,
    allow_private: bool,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl EgressPolicy {
    pub fn new(
        allowed: Vec<HostPattern>,
        allow_private: bool,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        Self {
            allowed,
            allow_private,
            connect_timeout,
            response_timeout,
        }
    }

    /// Why a request to `host` is refused, or `None` when it may go.
    pub fn check(&self, host: &str) -> Option<String> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !self.allowed.iter().any(|p| p.matches(&host)) {
            return Some(format!("{host} is not in the adapter's allowed hosts"));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allow_private
            && let Ok(ip) = bare.parse::<IpAddr>()
            && !is_public(ip)
        {
            return Some(format!(
                "{host} is a private, loopback or link-local address"
            ));
        }
        None
    }

    fn options(&self, requested: Option<RequestOptions>) -> RequestOptions {
        let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
        let requested = requested.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(requested.connect_timeout, self.connect_timeout),
            first_byte_timeout: cap(requested.first_byte_timeout, self.response_timeout),
            between_bytes_timeout: cap(requested.between_bytes_timeout, self.response_timeout),
        }
    }
}

/// Whether an address is on the public internet.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) // CGNAT 100.64/10
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local())
        }
    }
}

/// The `WasiHttpHooks` of one instance: applies the policy and remembers
/// what it refused.
pub struct EgressHooks {
    policy: Arc<EgressPolicy>,
    denied: Vec<String>,
}

impl std::fmt::Debug for EgressHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressHooks")
            .field("denied", &self.denied)
            .finish_non_exhaustive()
    }
}

impl EgressHooks {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self {
            policy,
            denied: Vec::new(),
        }
    }

    /// The requests refused so far, each with its reason.
    pub fn denied(&self) -> &[String] {
        &self.denied
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
        let host = request.uri().host().unwrap_or_default().to_owned();
        if let Some(reason) = self.policy.check(&host) {
            self.denied.push(reason);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = self.policy.options(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], allow_private: bool) -> EgressPolicy {
        let allowed = hosts
            .iter()
            .map(|h| HostPattern::parse(h).expect("valid"))
            .collect();
        EgressPolicy::new(
            allowed,
            allow_private,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn only_declared_hosts_pass() {
        let p = policy(&["*.pipedrive.com", "oauth.example.com"], false);
        assert_eq!(p.check("api.pipedrive.com"), None);
        assert_eq!(p.check("API.Pipedrive.COM."), None);
        assert_eq!(p.check("oauth.example.com"), None);
        assert!(
            p.check("pipedrive.com").is_some(),
            "apex is not a subdomain"
        );
        assert!(p.check("evilpipedrive.com").is_some());
        assert!(p.check("pipedrive.com.evil.net").is_some());
        assert!(p.check("example.com").is_some());
        assert!(policy(&[], false).check("anything.com").is_some());
    }

    #[test]
    fn private_addresses_need_the_operator() {
        let p = policy(
            &[
                "127.0.0.1",
                "169.254.169.254",
                "10.0.0.1",
                "[::1]",
                "8.8.8.8",
            ],
            false,
        );
        for host in ["127.0.0.1", "169.254.169.254", "10.0.0.1", "[::1]"] {
            assert!(p.check(host).is_some(), "{host} must be refused");
        }
        assert_eq!(p.check("8.8.8.8"), None);
        let open = policy(&["127.0.0.1"], true);
        assert_eq!(open.check("127.0.0.1"), None);
    }

    #[test]
    fn rejects_malformed_patterns() {
        assert!(HostPattern::parse("*.").is_err());
        assert!(HostPattern::parse("").is_err());
        assert!(HostPattern::parse("a b").is_err());
        assert!(HostPattern::parse("ho/st").is_err());
    }
}
