//! Runs adapters: one wasmtime `Engine` for the process, one compiled
//! `InstancePre` per adapter version, and a fresh `Store` and instance for
//! every operation, so nothing leaks between users or requests.
//!
//! Every call is bounded three ways:
//! - CPU: epoch interruption. A ticker thread advances the epoch every
//!   [`EPOCH_TICK`]; each tick the call yields to tokio and spends one tick of
//!   its budget, and it is stopped when the budget is gone.
//! - Wall clock: `tokio::time::timeout` around the whole call, which covers
//!   time spent waiting on the CRM.
//! - Memory: a `ResourceLimiter` on linear memory growth.
//!
//! A trap, a timeout or an over-limit fails that one call with a
//! [`CallError`]; the engine and other calls are unaffected.

mod bindings;
pub mod egress;
mod host;

pub use bindings::{
    AdapterError, AdapterManifest, AuthType, Call, CallLogCreated, CallLogDetails, CallLogUpdated,
    ContactRef, CreateCallLogRequest, Credential, Direction, GetCallLogRequest, LoginRequest,
    OauthConfig, Party, RateLimit, UpdateCallLogRequest, UpstreamError, UserContext, UserInfo,
};
pub use host::{AdapterKv, MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES};

use crate::config::RuntimeConfig;
use bindings::{AdapterWorldPre, Guest};
use egress::{EgressPolicy, HostPattern};
use host::{AdapterEnv, HostState};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

/// How often the epoch advances: the granularity of the CPU deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why an adapter call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The adapter ran and answered with an error.
    #[error("adapter error: {0:?}")]
    Adapter(AdapterError),
    /// The call used up its CPU budget.
    #[error("adapter used more than {0:?} of CPU")]
    CpuTimeout(Duration),
    /// The call took longer than its wall-clock limit.
    #[error("adapter took longer than {0:?}")]
    WallTimeout(Duration),
    /// The adapter tried to grow its memory past the limit.
    #[error("adapter exceeded its memory limit of {0} MiB")]
    MemoryLimit(usize),
    /// The adapter trapped (panic, `unreachable`, bad memory access, …).
    #[error("adapter crashed: {0}")]
    Trapped(String),
    /// The adapter made an outbound request the egress policy refused.
    #[error("outbound request denied: {0}")]
    EgressDenied(String),
    /// Too many adapter instances are running; try again.
    #[error("too many adapter calls in progress")]
    Busy,
}

/// Why a component could not be loaded as an adapter.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error("does not implement the switchboard:adapter world: {0}")]
    World(String),
    #[error("manifest could not be read: {0}")]
    Manifest(String),
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
}

/// Raised from the epoch callback when a call's CPU budget is gone.
#[derive(Debug, thiserror::Error)]
#[error("CPU budget exhausted")]
struct CpuExhausted;

/// Settings the operator gives one adapter (its `NAME.toml`).
#[derive(Debug, Clone, Default)]
pub struct OperatorSettings {
    /// Values the adapter reads through the `config` import.
    pub config: BTreeMap<String, String>,
}

/// The process-wide engine, linker and epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    kv: Arc<dyn AdapterKv>,
    _ticker: Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption), the linker
    /// with every host interface, and start the epoch ticker.
    pub fn new(config: &RuntimeConfig, kv: Arc<dyn AdapterKv>) -> anyhow::Result<Self> {
        let instances = config.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(8))
            .total_stacks(instances)
            .max_memory_size(config.memory_bytes());
        let mut wasm = wasmtime::Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| anyhow::anyhow!("wasm engine: {e}"))?;

        let mut linker = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| {
            r.map_err(|e| anyhow::anyhow!("linking host interfaces: {e}"))
        };
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut linker,
        ))?;
        use bindings::switchboard::adapter::{config as cfg, kv, log, types};
        link(log::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        link(kv::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        link(cfg::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;
        link(types::add_to_linker::<_, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        ))?;

        Ok(Self {
            _ticker: Ticker::start(engine.clone()),
            engine,
            linker,
            config: config.clone(),
            kv,
        })
    }

    /// Compile, link and read the manifest of a component. Compilation runs
    /// on the blocking pool, never on the async runtime.
    pub async fn load(
        &self,
        bytes: Vec<u8>,
        settings: OperatorSettings,
    ) -> Result<Adapter, LoadError> {
        let engine = self.engine.clone();
        let component =
            tokio::task::spawn_blocking(move || Component::from_binary(&engine, &bytes))
                .await
                .map_err(|e| LoadError::Compile(format!("compiler task failed: {e}")))?
                .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(AdapterWorldPre::new)
            .map_err(|e| LoadError::World(format!("{e:#}")))?;

        // Read the manifest in a sandbox with no network and no config.
        let probe = Arc::new(AdapterEnv {
            platform: "(loading)".into(),
            version: String::new(),
            config: BTreeMap::new(),
            egress: Arc::new(self.egress_policy(Vec::new())),
            kv: self.kv.clone(),
        });
        let limits = self.limits();
        let manifest = Sandbox {
            pre: pre.clone(),
            env: probe,
            limits,
        }
        .call("manifest", async |guest, store| {
            guest.call_manifest(store).await.map(Ok::<_, AdapterError>)
        })
        .await
        .map_err(|e| LoadError::Manifest(e.to_string()))?;
        let allowed = validate_manifest(&manifest)?;
        let env = Arc::new(AdapterEnv {
            platform: manifest.platform.clone(),
            version: manifest.version.clone(),
            config: settings.config,
            egress: Arc::new(self.egress_policy(allowed)),
            kv: self.kv.clone(),
        });
        Ok(Adapter {
            sandbox: Sandbox { pre, env, limits },
            manifest,
        })
    }

    fn egress_policy(&self, allowed: Vec<HostPattern>) -> EgressPolicy {
        EgressPolicy::new(
            allowed,
            self.config.egress_allow_private,
            self.config.egress_connect_timeout,
            self.config.egress_response_timeout,
        )
    }

    fn limits(&self) -> Limits {
        Limits {
            cpu_ticks: (self.config.adapter_cpu.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64,
            cpu: self.config.adapter_cpu,
            wall: self.config.adapter_timeout,
            memory_bytes: self.config.memory_bytes(),
        }
    }
}

fn validate_manifest(manifest: &AdapterManifest) -> Result<Vec<HostPattern>, LoadError> {
    let invalid = |msg: String| Err(LoadError::InvalidManifest(msg));
    let platform = &manifest.platform;
    if platform.is_empty()
        || platform.len() > 64
        || !platform
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        // No '-': App Connect user ids are `<crm id>-<platform>`, which is
        // unambiguous only while platforms cannot contain the separator.
        return invalid(format!(
            "platform {platform:?} must be 1-64 ASCII letters, digits or '_'"
        ));
    }
    if manifest.version.trim().is_empty() {
        return invalid("version is empty".into());
    }
    manifest
        .allowed_hosts
        .iter()
        .map(|h| HostPattern::parse(h).map_err(LoadError::InvalidManifest))
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    cpu_ticks: u64,
    cpu: Duration,
    wall: Duration,
    memory_bytes: usize,
}

/// One loaded adapter version, ready to serve. Share it behind an `Arc`;
/// every call makes its own instance.
pub struct Adapter {
    sandbox: Sandbox,
    manifest: AdapterManifest,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// The manifest read at load.
    pub fn manifest(&self) -> &AdapterManifest {
        &self.manifest
    }

    pub async fn get_user_info(&self, request: LoginRequest) -> Result<UserInfo, CallError> {
        self.sandbox
            .call("get-user-info", async |guest, store| {
                guest.call_get_user_info(store, &request).await
            })
            .await
    }

    pub async fn create_call_log(
        &self,
        request: CreateCallLogRequest,
    ) -> Result<CallLogCreated, CallError> {
        self.sandbox
            .call("create-call-log", async |guest, store| {
                guest.call_create_call_log(store, &request).await
            })
            .await
    }

    pub async fn get_call_log(
        &self,
        request: GetCallLogRequest,
    ) -> Result<CallLogDetails, CallError> {
        self.sandbox
            .call("get-call-log", async |guest, store| {
                guest.call_get_call_log(store, &request).await
            })
            .await
    }

    pub async fn update_call_log(
        &self,
        request: UpdateCallLogRequest,
    ) -> Result<CallLogUpdated, CallError> {
        self.sandbox
            .call("update-call-log", async |guest, store| {
                guest.call_update_call_log(store, &request).await
            })
            .await
    }
}

/// A compiled adapter with its environment and limits: makes instances and
/// runs calls in them.
struct Sandbox {
    pre: AdapterWorldPre<HostState>,
    env: Arc<AdapterEnv>,
    limits: Limits,
}

impl Sandbox {
    fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(
            self.env.clone(),
            self.limits.memory_bytes,
            self.limits.cpu_ticks,
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.cpu_ticks_left == 0 {
                return Err(wasmtime::Error::new(CpuExhausted));
            }
            state.cpu_ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Run one export in a fresh instance, within the call's limits.
    async fn call<R>(
        &self,
        operation: &'static str,
        export: impl AsyncFnOnce(
            &Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<R, CallError> {
        let mut store = self.new_store();
        let outcome = tokio::time::timeout(self.limits.wall, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            export(instance.switchboard_adapter_adapter(), &mut store).await
        })
        .await;
        let state = store.data();
        let result = match outcome {
            Ok(Ok(Ok(value))) => return Ok(value),
            Ok(Ok(Err(error))) => CallError::Adapter(error),
            Ok(Err(error)) => self.classify(&error, state),
            Err(_elapsed) => CallError::WallTimeout(self.limits.wall),
        };
        // An adapter that was refused a request usually fails because of it;
        // say so rather than passing on its own account of the failure.
        let result = match (result, state.hooks.denied().first()) {
            (CallError::Adapter(_) | CallError::Trapped(_), Some(reason)) => {
                CallError::EgressDenied(reason.clone())
            }
            (result, _) => result,
        };
        let (platform, version) = (&self.env.platform, &self.env.version);
        if let CallError::Adapter(_) = result {
            // The adapter ran and answered; a business outcome, not a fault.
            tracing::info!(adapter = %platform, %version, operation, error = %result, "adapter call failed");
        } else {
            tracing::warn!(adapter = %platform, %version, operation, error = %result, "adapter call failed");
        }
        Err(result)
    }

    fn classify(&self, error: &wasmtime::Error, state: &HostState) -> CallError {
        if error.is::<CpuExhausted>() {
            CallError::CpuTimeout(self.limits.cpu)
        } else if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            CallError::Busy
        } else if state.limiter.refused {
            CallError::MemoryLimit(self.limits.memory_bytes / (1024 * 1024))
        } else if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            CallError::Trapped(trap.to_string())
        } else {
            CallError::Trapped(error.to_string())
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("switchboard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch ticker thread");
        Self { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(platform: &str, hosts: &[&str]) -> AdapterManifest {
        AdapterManifest {
            platform: platform.into(),
            display_name: "X".into(),
            version: "1.0.0".into(),
            auth: AuthType::ApiKey,
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    #[test]
    fn manifests_are_checked_before_serving() {
        assert!(validate_manifest(&manifest("testCRM", &["*.example.com"])).is_ok());
        for bad in ["", "has-dash", "has space", "ünicode", &"x".repeat(65)] {
            let err = validate_manifest(&manifest(bad, &[])).expect_err(bad);
            assert!(err.to_string().contains("platform"), "{err}");
        }
        let err = validate_manifest(&manifest("ok", &["bad host"])).expect_err("bad host");
        assert!(err.to_string().contains("bad host"), "{err}");
        let mut no_version = manifest("ok", &[]);
        no_version.version = " ".into();
        assert!(validate_manifest(&no_version).is_err());
    }
}
