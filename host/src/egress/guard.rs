//! The SSRF guard: which IP addresses outbound requests may reach, checked on
//! literal addresses and again after DNS resolution, so a public name that
//! resolves to a private address is refused too. The connector connects only
//! to the addresses the guard let through, so a second lookup cannot swap
//! in another (DNS rebinding).

use hyper_util::client::legacy::connect::dns::Name;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Whether an address is on the public internet: not loopback, private,
/// link-local (which holds cloud metadata, `169.254.169.254`), CGNAT,
/// unspecified, broadcast, documentation or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
                || (a == 198 && (b & 0xfe) == 18)) // benchmarking 198.18/15
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.is_multicast())
        }
    }
}

/// A destination the guard refused. Found again in the client's error chain
/// to answer `http-request-denied` rather than a connection error.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, a private, loopback or link-local address")]
pub struct PrivateAddress {
    /// The name looked up.
    pub host: String,
    /// The first address it resolved to.
    pub addr: IpAddr,
}

/// A name that could not be resolved. Found again in the client's error
/// chain to answer a DNS error rather than a connection error.
#[derive(Debug, thiserror::Error)]
pub enum DnsFailure {
    /// The lookup took longer than the connect timeout.
    #[error("DNS lookup of {0} timed out")]
    TimedOut(String),
    /// The resolver failed.
    #[error("DNS lookup of {host} failed: {source}")]
    Lookup {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
}

/// A DNS resolver that drops non-public addresses (unless `allow_private`)
/// and bounds the lookup in time.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    /// Let private, loopback and link-local addresses through.
    pub allow_private: bool,
    /// How long a lookup may take.
    pub timeout: Duration,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let lookup = tokio::net::lookup_host((host.as_str(), 0));
            let addrs: Vec<SocketAddr> = tokio::time::timeout(this.timeout, lookup)
                .await
                .map_err(|_| DnsFailure::TimedOut(host.clone()))?
                .map_err(|source| DnsFailure::Lookup {
                    host: host.clone(),
                    source,
                })?
                .collect();
            if this.allow_private {
                return Ok(addrs.into_iter());
            }
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            match (public.is_empty(), addrs.first()) {
                (true, Some(first)) => Err(Box::new(PrivateAddress {
                    host,
                    addr: first.ip(),
                }) as BoxError),
                _ => Ok(public.into_iter()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private} must not be public");
        }
        for public in ["8.8.8.8", "2606:4700::1111", "185.60.216.35"] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[tokio::test]
    async fn names_that_resolve_privately_are_refused() {
        use tower_service::Service;
        let mut guarded = GuardedResolver {
            allow_private: false,
            timeout: Duration::from_secs(5),
        };
        let name: Name = "localhost".parse().expect("name");
        let err = guarded
            .call(name.clone())
            .await
            .expect_err("localhost is private");
        assert!(err.downcast_ref::<PrivateAddress>().is_some(), "{err}");
        let mut open = GuardedResolver {
            allow_private: true,
            timeout: Duration::from_secs(5),
        };
        assert!(open.call(name).await.expect("resolves").next().is_some());
    }
}
