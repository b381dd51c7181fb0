//! Host names as operators and manifests write them: an exact host or
//! `*.suffix` for any subdomain.

/// An entry that is not a host name or `*.suffix`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host {0:?}")]
pub struct InvalidHost(pub String);

/// One entry of `allowed-hosts` (or of an override): an exact host or `*.suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this host.
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
    /// Parse an entry. Case is ignored.
    pub fn parse(entry: &str) -> Result<Self, InvalidHost> {
        let entry = entry.trim().to_ascii_lowercase();
        let valid = |h: &str| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        };
        match entry.strip_prefix("*.") {
            Some(suffix) if valid(suffix) => Ok(Self::Subdomains(suffix.to_owned())),
            None if valid(&entry) => Ok(Self::Exact(entry)),
            _ => Err(InvalidHost(entry)),
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

    /// Whether `host` (lower case, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(exact) => host == exact,
            Self::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
        }
    }
}

/// A host as it is compared: lower case, without a trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = HostPattern::parse("*.Pipedrive.com").expect("valid");
        assert!(p.matches("api.pipedrive.com"));
        assert!(p.matches("a.b.pipedrive.com"));
        assert!(!p.matches("pipedrive.com"));
        assert!(!p.matches("evilpipedrive.com"));
        assert!(!p.matches("pipedrive.com.evil.net"));
        let exact = HostPattern::parse("oauth.pipedrive.com").expect("valid");
        assert!(p.covers(&exact));
        assert!(!exact.covers(&p));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in ["*.", "", "a b", "ho/st"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
