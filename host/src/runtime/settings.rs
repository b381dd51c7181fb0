//! What the operator sets for one adapter (from its `NAME.toml`): config
//! values, limit overrides and egress changes, and the rules that check them
//! against the server and the manifest.

use crate::egress::{HostPattern, InvalidHost};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::time::Duration;

/// Settings the operator gives one adapter (its `NAME.toml`).
#[derive(Debug, Clone, Default)]
pub struct OperatorSettings {
    /// Values the adapter reads through the `config` import (secrets
    /// included, already resolved from the environment).
    pub config: BTreeMap<String, SecretString>,
    /// Limits that replace the server's defaults for this adapter.
    pub limits: LimitOverrides,
    /// Changes to the hosts the manifest allows.
    pub egress: EgressOverrides,
    /// Whether an instance may serve more than one call.
    pub reuse: Reuse,
}

impl PartialEq for OperatorSettings {
    /// Equal when a reload would change nothing (secrets compared by value).
    fn eq(&self, other: &Self) -> bool {
        self.limits == other.limits
            && self.egress == other.egress
            && self.reuse == other.reuse
            && self.config.len() == other.config.len()
            && self
                .config
                .iter()
                .zip(&other.config)
                .all(|((k, v), (ok, ov))| k == ok && v.expose_secret() == ov.expose_secret())
    }
}

impl Eq for OperatorSettings {}

/// Per-adapter limits; unset ones take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// CPU time one call may use.
    pub cpu: Option<Duration>,
    /// Wall-clock time one call may take.
    pub timeout: Option<Duration>,
    /// At most the server's `--adapter-memory-mib`.
    pub memory_mib: Option<u32>,
    /// Calls in progress at once; more are answered `ADAPTER_BUSY`.
    pub max_concurrent_calls: Option<u32>,
    /// Outbound HTTP requests one call may make.
    pub max_requests: Option<u32>,
}

/// Whether an adapter's instances serve one call each (the default) or are
/// kept for more calls of the same user (`[runtime] reuse = "per-user"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reuse {
    /// A fresh instance for every call.
    #[default]
    Never,
    /// An instance is kept after a successful call for the next call of the
    /// same user, within these bounds (see `runtime::reuse`).
    PerUser(ReuseBounds),
}

/// How long a kept instance lives, and how many are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReuseBounds {
    /// Calls one instance serves before it is dropped.
    pub max_calls: u32,
    /// Time from an instance's creation until it is dropped.
    pub max_age: Duration,
    /// Instances kept between calls, over all users of the adapter.
    pub max_idle: u32,
}

impl Default for ReuseBounds {
    fn default() -> Self {
        Self {
            max_calls: 1000,
            max_age: Duration::from_secs(60),
            max_idle: 16,
        }
    }
}

impl ReuseBounds {
    /// Check the bounds: each must be above zero.
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        let zeros = [
            ("runtime.reuse_max_calls", self.max_calls == 0),
            ("runtime.reuse_max_age", self.max_age.is_zero()),
            ("runtime.reuse_max_idle", self.max_idle == 0),
        ];
        match zeros.into_iter().find(|(_, zero)| *zero) {
            Some((key, _)) => Err(SettingsError::ReuseBound(key)),
            None => Ok(()),
        }
    }
}

/// The operator's changes to the manifest's `allowed-hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressOverrides {
    /// Hosts allowed on top of the manifest's.
    pub allow_hosts: Vec<String>,
    /// When set, only these of the manifest's hosts are allowed; each must
    /// be covered by the manifest.
    pub only_hosts: Option<Vec<String>>,
}

/// Operator settings that cannot apply to this adapter on this server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `limits.cpu` is below what the epoch ticker can enforce.
    #[error("limits.cpu must be at least {0:?}")]
    Cpu(Duration),
    /// `limits.timeout` is zero.
    #[error("limits.timeout must be greater than 0")]
    Timeout,
    /// `limits.memory_mib` is zero or above the server's cap.
    #[error("limits.memory_mib must be between 1 and the server's --adapter-memory-mib ({0})")]
    Memory(u32),
    /// `limits.max_concurrent_calls` is zero.
    #[error("limits.max_concurrent_calls must be at least 1")]
    MaxConcurrentCalls,
    /// `limits.max_requests` is zero.
    #[error("limits.max_requests must be at least 1")]
    MaxRequests,
    /// A `[runtime]` reuse bound is zero.
    #[error("{0} must be greater than 0")]
    ReuseBound(&'static str),
    /// An egress entry is not a host pattern.
    #[error(transparent)]
    Host(#[from] InvalidHost),
    /// `egress.only_hosts` names a host the manifest does not allow.
    #[error("egress.only_hosts entry {0} is not among the manifest's allowed hosts")]
    NotDeclared(HostPattern),
}

impl EgressOverrides {
    /// The hosts an adapter that declared `declared` may reach.
    pub(super) fn apply(
        &self,
        declared: Vec<HostPattern>,
    ) -> Result<Vec<HostPattern>, SettingsError> {
        let parse = |h: &String| HostPattern::parse(h).map_err(SettingsError::from);
        let mut allowed = match &self.only_hosts {
            None => declared,
            Some(only) => {
                let only: Vec<HostPattern> = only.iter().map(parse).collect::<Result<_, _>>()?;
                if let Some(extra) = only.iter().find(|o| !declared.iter().any(|d| d.covers(o))) {
                    return Err(SettingsError::NotDeclared(extra.clone()));
                }
                only
            }
        };
        for host in &self.allow_hosts {
            allowed.push(parse(host)?);
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_narrows_within_the_manifest_and_extends() {
        let declared = vec![HostPattern::parse("*.pipedrive.com").expect("valid")];
        let narrow = EgressOverrides {
            allow_hosts: vec!["files.example.com".into()],
            only_hosts: Some(vec!["api.pipedrive.com".into()]),
        };
        let allowed = narrow.apply(declared.clone()).expect("applies");
        let shown: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["api.pipedrive.com", "files.example.com"]);
        let wider = EgressOverrides {
            only_hosts: Some(vec!["evil.example.com".into()]),
            ..EgressOverrides::default()
        };
        assert!(matches!(
            wider.apply(declared),
            Err(SettingsError::NotDeclared(_))
        ));
    }

    #[test]
    fn secrets_compare_by_value_and_never_print() {
        let with = |value: &str| OperatorSettings {
            config: BTreeMap::from([("token".to_owned(), SecretString::from(value))]),
            ..OperatorSettings::default()
        };
        assert_eq!(with("a"), with("a"));
        assert_ne!(with("a"), with("b"));
        assert!(!format!("{:?}", with("hunter2")).contains("hunter2"));
    }
}
