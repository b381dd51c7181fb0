//! What an adapter's manifest must say before the host serves it.

use super::bindings::{AdapterManifest, AuthType};
use crate::egress::{HostPattern, InvalidHost, normalize_host};

/// A manifest the host will not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The platform name is not 1-64 ASCII letters, digits or `_`.
    #[error("platform {0:?} must be 1-64 ASCII letters, digits or '_'")]
    Platform(String),
    /// The version is empty.
    #[error("version is empty")]
    Version,
    /// An `allowed-hosts` entry is not a host pattern.
    #[error(transparent)]
    Host(#[from] InvalidHost),
    /// An OAuth URL is not an absolute `https://` URL.
    #[error("oauth {what} {url:?} must be an https:// URL")]
    OAuthUrl {
        /// `authorize-url` or `token-url`.
        what: &'static str,
        /// The URL as written.
        url: String,
    },
    /// The token URL's host is not among the declared hosts.
    #[error("oauth token-url host {0} is not among allowed-hosts")]
    TokenHost(String),
}

/// Check a manifest; the hosts it declares, parsed.
pub(super) fn validate(manifest: &AdapterManifest) -> Result<Vec<HostPattern>, ManifestError> {
    let platform = &manifest.platform;
    if platform.is_empty()
        || platform.len() > 64
        || !platform
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        // No '-': App Connect user ids are `<crm id>-<platform>`, which is
        // unambiguous only while platforms cannot contain the separator.
        return Err(ManifestError::Platform(platform.clone()));
    }
    if manifest.version.trim().is_empty() {
        return Err(ManifestError::Version);
    }
    let hosts: Vec<HostPattern> = manifest
        .allowed_hosts
        .iter()
        .map(|h| HostPattern::parse(h))
        .collect::<Result<_, _>>()?;
    if let AuthType::Oauth(oauth) = &manifest.auth {
        let mut token_host = None;
        for (what, url) in [
            ("authorize-url", &oauth.authorize_url),
            ("token-url", &oauth.token_url),
        ] {
            let host = url
                .parse::<http::Uri>()
                .ok()
                .filter(|uri| uri.scheme_str() == Some("https"))
                .and_then(|uri| uri.host().map(normalize_host))
                .ok_or_else(|| ManifestError::OAuthUrl {
                    what,
                    url: url.clone(),
                })?;
            token_host = Some(host);
        }
        // The host posts the operator's client secret to the token URL:
        // only to a host the adapter declared.
        let token_host = token_host.unwrap_or_default();
        if !hosts.iter().any(|h| h.matches(&token_host)) {
            return Err(ManifestError::TokenHost(token_host));
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::OauthConfig;

    fn manifest(platform: &str, hosts: &[&str]) -> AdapterManifest {
        AdapterManifest {
            platform: platform.into(),
            display_name: "X".into(),
            version: "1.0.0".into(),
            auth: AuthType::ApiKey,
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            implements: Vec::new(),
        }
    }

    #[test]
    fn manifests_are_checked_before_serving() {
        assert!(validate(&manifest("testCRM", &["*.example.com"])).is_ok());
        for bad in ["", "has-dash", "has space", "ünicode", &"x".repeat(65)] {
            let err = validate(&manifest(bad, &[])).expect_err(bad);
            assert!(err.to_string().contains("platform"), "{err}");
        }
        let err = validate(&manifest("ok", &["bad host"])).expect_err("bad host");
        assert!(err.to_string().contains("bad host"), "{err}");
        let mut no_version = manifest("ok", &[]);
        no_version.version = " ".into();
        assert_eq!(validate(&no_version), Err(ManifestError::Version));
    }

    #[test]
    fn oauth_token_urls_stay_on_declared_https_hosts() {
        let oauth = |token_url: &str| {
            let mut m = manifest("pipedrive", &["*.pipedrive.com"]);
            m.auth = AuthType::Oauth(OauthConfig {
                authorize_url: "https://oauth.pipedrive.com/oauth/authorize".into(),
                token_url: token_url.into(),
                scopes: Vec::new(),
            });
            validate(&m)
        };
        assert!(oauth("https://oauth.pipedrive.com/oauth/token").is_ok());
        let err = oauth("https://collector.example/token").expect_err("undeclared host");
        assert!(err.to_string().contains("not among allowed-hosts"), "{err}");
        let err = oauth("http://oauth.pipedrive.com/oauth/token").expect_err("plain http");
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
