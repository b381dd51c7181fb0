//! Operator rewrites (`--egress-override HOST=URL`): send one host's requests
//! somewhere else, such as a mock CRM on `http://127.0.0.1:PORT` in tests and
//! staging, without changing the adapter.

use super::host_pattern::{HostPattern, InvalidHost};
use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use std::str::FromStr;

/// Why an `--egress-override` value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// No `=` between the host and the URL.
    #[error("{0:?} is not HOST=URL")]
    NotHostEqualsUrl(String),
    /// The host part is not a host pattern.
    #[error(transparent)]
    Host(#[from] InvalidHost),
    /// The URL part is not a URL.
    #[error("{url:?} is not a URL: {reason}")]
    NotAUrl {
        /// What was given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The URL is not `http://` or `https://`.
    #[error("{0:?} must start with http:// or https://")]
    Scheme(String),
    /// The URL has no host.
    #[error("{0:?} has no host")]
    NoHost(String),
    /// The URL has a query.
    #[error("{0:?} must not have a query")]
    Query(String),
}

/// One rewrite: requests whose host matches `host` go to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressOverride {
    /// The hosts whose requests are rewritten.
    pub host: HostPattern,
    scheme: Scheme,
    authority: Authority,
    /// Prepended to every rewritten path; empty or starting with `/`, no trailing `/`.
    path_prefix: String,
}

impl FromStr for EgressOverride {
    type Err = OverrideError;

    /// `HOST=URL`, e.g. `*.pipedrive.com=http://127.0.0.1:9000`.
    fn from_str(text: &str) -> Result<Self, OverrideError> {
        let (host, url) = text
            .split_once('=')
            .ok_or_else(|| OverrideError::NotHostEqualsUrl(text.to_owned()))?;
        let host = HostPattern::parse(host)?;
        let uri: Uri =
            url.trim()
                .parse()
                .map_err(|e: http::uri::InvalidUri| OverrideError::NotAUrl {
                    url: url.to_owned(),
                    reason: e.to_string(),
                })?;
        let scheme = uri
            .scheme()
            .filter(|s| **s == Scheme::HTTP || **s == Scheme::HTTPS)
            .cloned()
            .ok_or_else(|| OverrideError::Scheme(url.to_owned()))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| OverrideError::NoHost(url.to_owned()))?;
        if uri.query().is_some() {
            return Err(OverrideError::Query(url.to_owned()));
        }
        Ok(Self {
            host,
            scheme,
            authority,
            path_prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

impl EgressOverride {
    /// The URI a request to `uri` is sent to instead.
    pub fn rewrite(&self, uri: &Uri) -> Result<Uri, http::Error> {
        let path = uri.path_and_query().map_or("/", PathAndQuery::as_str);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path}", self.path_prefix))
            .build()
    }

    /// The new destination's authority, for the `Host` header.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_scheme_host_and_prefix() {
        let rule: EgressOverride = "*.pipedrive.com=http://127.0.0.1:9000/mock/"
            .parse()
            .expect("parses");
        assert!(rule.host.matches("acme.pipedrive.com"));
        let to = rule
            .rewrite(
                &"https://acme.pipedrive.com/v1/users/me?x=1"
                    .parse()
                    .expect("uri"),
            )
            .expect("rewrites");
        assert_eq!(to.to_string(), "http://127.0.0.1:9000/mock/v1/users/me?x=1");
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, says) in [
            ("nohost", "HOST=URL"),
            ("a.com=ftp://x", "http://"),
            ("a.com=http://x/?q=1", "query"),
            ("bad host=http://x", "invalid host"),
        ] {
            let err = rule.parse::<EgressOverride>().expect_err(rule);
            assert!(err.to_string().contains(says), "{rule}: {err}");
        }
    }
}
