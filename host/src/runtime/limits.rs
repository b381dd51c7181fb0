//! The bounds every call runs within: the server's, checked once at start,
//! and each adapter's, resolved from its operator file against the server's.

use super::engine::EPOCH_TICK;
use super::settings::{LimitOverrides, SettingsError};
use crate::config::SandboxConfig;
use std::time::Duration;

/// A server-wide sandbox setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct LimitError(String);

/// Check the server's sandbox flags before anything runs (`Runtime::new`
/// checks them too).
pub fn check(config: &SandboxConfig) -> Result<(), LimitError> {
    let bad = |msg: &str| Err(LimitError(msg.to_owned()));
    if config.adapter_cpu < EPOCH_TICK {
        // A budget below one tick cannot be enforced.
        return Err(LimitError(format!(
            "--adapter-cpu must be at least {EPOCH_TICK:?}"
        )));
    }
    if config.adapter_timeout.is_zero() {
        return bad("--adapter-timeout must be greater than 0");
    }
    if !(1..=4096).contains(&config.adapter_memory_mib) {
        return bad("--adapter-memory-mib must be between 1 and 4096");
    }
    if config.max_instances == 0 {
        return bad("--max-instances must be at least 1");
    }
    if config.adapter_max_requests == 0 {
        return bad("--adapter-max-requests must be at least 1");
    }
    if config.egress_max_response_mib == 0 {
        return bad("--egress-max-response-mib must be at least 1");
    }
    Ok(())
}

/// The limits one adapter's calls run with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) cpu: Duration,
    pub(super) wall: Duration,
    pub(super) memory_bytes: usize,
    pub(super) max_concurrent_calls: Option<u32>,
    pub(super) max_requests: u32,
}

impl Limits {
    /// The server's defaults with the operator's `overrides` applied; an
    /// override may narrow memory but never raise it past the server's.
    pub(super) fn resolve(
        server: &SandboxConfig,
        overrides: &LimitOverrides,
    ) -> Result<Self, SettingsError> {
        let cpu = overrides.cpu.unwrap_or(server.adapter_cpu);
        if cpu < EPOCH_TICK {
            return Err(SettingsError::Cpu(EPOCH_TICK));
        }
        let wall = overrides.timeout.unwrap_or(server.adapter_timeout);
        if wall.is_zero() {
            return Err(SettingsError::Timeout);
        }
        let max_mib = server.adapter_memory_mib;
        let memory_mib = overrides.memory_mib.unwrap_or(max_mib);
        if memory_mib == 0 || memory_mib > max_mib {
            return Err(SettingsError::Memory(max_mib));
        }
        if overrides.max_concurrent_calls == Some(0) {
            return Err(SettingsError::MaxConcurrentCalls);
        }
        if overrides.max_requests == Some(0) {
            return Err(SettingsError::MaxRequests);
        }
        Ok(Self {
            cpu,
            wall,
            memory_bytes: memory_mib as usize * 1024 * 1024,
            max_concurrent_calls: overrides.max_concurrent_calls,
            max_requests: overrides
                .max_requests
                .unwrap_or(server.adapter_max_requests),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxConfig,
    }

    fn parse(args: &[&str]) -> SandboxConfig {
        let mut all = vec!["switchboard"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parses").sandbox
    }

    #[test]
    fn server_limits_are_checked() {
        assert_eq!(check(&parse(&[])), Ok(()));
        let err = check(&parse(&["--adapter-cpu", "1ms"])).expect_err("tiny cpu");
        assert!(err.to_string().contains("--adapter-cpu"), "{err}");
        let err = check(&parse(&["--adapter-memory-mib", "0"])).expect_err("no memory");
        assert!(err.to_string().contains("--adapter-memory-mib"), "{err}");
    }

    #[test]
    fn overrides_stay_within_the_server() {
        let server = parse(&["--adapter-memory-mib", "64"]);
        let limits = Limits::resolve(&server, &LimitOverrides::default()).expect("defaults");
        assert_eq!(limits.memory_bytes, 64 << 20);
        let more = LimitOverrides {
            memory_mib: Some(65),
            ..LimitOverrides::default()
        };
        let err = Limits::resolve(&server, &more).expect_err("over the server's");
        assert!(err.to_string().contains("memory_mib"), "{err}");
        let tiny = LimitOverrides {
            cpu: Some(Duration::from_millis(1)),
            ..LimitOverrides::default()
        };
        assert!(Limits::resolve(&server, &tiny).is_err());
    }
}
