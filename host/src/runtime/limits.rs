//! The bounds every call runs within: the server's, checked once at start,
//! and each adapter's, resolved from its operator file against the server's.

use super::LoadError;
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
    if config.compile_memory_mib == 0 {
        return bad("--compile-memory-mib must be at least 1");
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

/// What one instance of a component takes: its core instances, the
/// memories and tables its core modules define, and the largest memory's
/// initial size. Read from the bytes before they are compiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceNeeds {
    /// Core module instances per component instance.
    pub core_instances: u32,
    /// Linear memories defined.
    pub memories: u32,
    /// Tables defined.
    pub tables: u32,
    /// The largest memory's initial size.
    pub initial_memory_bytes: u64,
}

impl InstanceNeeds {
    /// The needs of `component`'s bytes (what parses of them; the compiler
    /// explains bytes that do not parse).
    pub fn of(component: &[u8]) -> Self {
        use wasmparser::Payload;
        let mut needs = Self::default();
        for payload in wasmparser::Parser::new(0).parse_all(component) {
            match payload {
                Ok(Payload::InstanceSection(instances)) => {
                    // Bundles of exports are not instances of their own.
                    let instantiated = instances
                        .into_iter()
                        .flatten()
                        .filter(|i| matches!(i, wasmparser::Instance::Instantiate { .. }));
                    needs.core_instances += instantiated.count() as u32;
                }
                Ok(Payload::TableSection(tables)) => needs.tables += tables.count(),
                Ok(Payload::MemorySection(memories)) => {
                    needs.memories += memories.count();
                    for memory in memories.into_iter().flatten() {
                        let page = memory.page_size_log2.map_or(65_536, |log2| 1u64 << log2);
                        needs.initial_memory_bytes = needs
                            .initial_memory_bytes
                            .max(memory.initial.saturating_mul(page));
                    }
                }
                _ => {}
            }
        }
        needs
    }

    /// Refuse a component that cannot be instantiated under the server's
    /// limits, naming the figures and the flag, before it is compiled (the
    /// pooling allocator would refuse it later in its own words).
    pub(super) fn check(&self, config: &SandboxConfig) -> Result<(), LoadError> {
        if self.initial_memory_bytes > config.memory_bytes() as u64 {
            return Err(LoadError::MemoryNeeds {
                needs_mib: self.initial_memory_bytes.div_ceil(1024 * 1024),
                limit_mib: config.adapter_memory_mib,
            });
        }
        let per_instance = [
            (
                "core instances",
                self.core_instances,
                CORE_INSTANCES_PER_INSTANCE,
            ),
            ("memories", self.memories, MEMORIES_PER_INSTANCE),
            ("tables", self.tables, TABLES_PER_INSTANCE),
        ];
        for (what, needs, most) in per_instance {
            if needs > most {
                return Err(LoadError::InstanceNeeds(format!(
                    "an instance of it needs {needs} {what}; the host gives each at most {most}"
                )));
            }
        }
        Ok(())
    }
}

/// Core instances the pool holds per `--max-instances`: a Rust adapter
/// takes 3, a JS one 4, a Python one 14. The pool only counts them, so a
/// generous bound costs nothing.
pub(super) const CORE_INSTANCES_PER_INSTANCE: u32 = 32;
/// Memories the pool holds per `--max-instances` (each slot reserves
/// address space up front). The adapters here define 1.
pub(super) const MEMORIES_PER_INSTANCE: u32 = 2;
/// Tables the pool holds per `--max-instances` (each slot reserves address
/// space up front). The adapters here define 2.
pub(super) const TABLES_PER_INSTANCE: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> SandboxConfig {
        SandboxConfig::parse(args)
    }

    #[test]
    fn server_limits_are_checked() {
        assert_eq!(check(&parse(&[])), Ok(()));
        let err = check(&parse(&["--adapter-cpu", "1ms"])).expect_err("tiny cpu");
        assert!(err.to_string().contains("--adapter-cpu"), "{err}");
        let err = check(&parse(&["--adapter-memory-mib", "0"])).expect_err("no memory");
        assert!(err.to_string().contains("--adapter-memory-mib"), "{err}");
        let err = check(&parse(&["--compile-memory-mib", "0"])).expect_err("no compiles");
        assert!(err.to_string().contains("--compile-memory-mib"), "{err}");
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
