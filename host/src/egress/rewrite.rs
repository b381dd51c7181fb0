//! Operator rewrites (`--egress-override HOST=URL`): send one host's requests
//! somewhere else, such as a mock CRM on `http://127.0.0.1:PORT` in tests and
//! staging, without changing the adapter.

use super::host_pattern::HostPattern;
use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use std::str::FromStr;

/// One rewrite: requests whose host matches `host` go to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressOverride {
    pub host: HostPattern,
    scheme: Scheme,
    authority: Authority,
    /// Prepended to every rewritten path; empty or starting with `/`, no trailing `/`.
    path_prefix: String,
}

impl FromStr for EgressOverride {
    type Err = String;

    /// `HOST=URL`, e.g. `*.pipedrive.com=http://127.0.0.1:9000`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (host, url) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?} is not HOST=URL"))?;
        let host = HostPattern::parse(host)?;
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let scheme = uri
            .scheme()
            .filter(|s| **s == Scheme::HTTP || **s == Scheme::HTTPS)
            .cloned()
            .ok_or_else(|| format!("{url:?} must start with http:// or https://"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        if uri.query().is_some() {
            return Err(format!("{url:?} must not have a query"));
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
            assert!(err.contains(says), "{rule}: {err}");
        }
    }
}
