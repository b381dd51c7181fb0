//! Runs adapters: one wasmtime `Engine` for the process, one compiled
//! `InstancePre` per adapter version, and a fresh `Store` and instance for
//! every operation, so nothing leaks between users or requests.
//!
//! Every call is bounded three ways:
//! - CPU: epoch interruption. A ticker thread advances the epoch every
//!   [`EPOCH_TICK`]; at each tick a running call yields to tokio, and it is
//!   stopped once the time it has spent running wasm (measured with call
//!   hooks, so time waiting in host calls does not count) exceeds its budget.
//! - Wall clock: `tokio::time::timeout` around the whole call, which covers
//!   time spent waiting on the CRM.
//! - Memory: a `ResourceLimiter` on linear memory growth.
//!
//! A trap, a timeout or an over-limit fails that one call with a
//! [`CallError`]; the engine and other calls are unaffected.

mod bindings;
pub mod cache;
pub mod egress;
mod host;
pub mod output;

pub use bindings::{
    AdapterError, AdapterManifest, AuthType, Call, CallLogCreated, CallLogDetails, CallLogUpdated,
    Contact, ContactRef, CreateCallLogRequest, CreateContactRequest, Credential, Direction,
    FindContactRequest, GetCallLogRequest, LoginRequest, OauthConfig, Party, RateLimit,
    UpdateCallLogRequest, UpsertCallDispositionRequest, UpstreamError, UserContext, UserInfo,
};
pub use host::{AdapterKv, MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES};

use crate::config::RuntimeConfig;
use crate::egress::{EgressClient, EgressLimits, HostPattern};
use bindings::{AdapterWorldPre, Guest};
use cache::{ArtifactCache, CacheOutcome};
use egress::EgressPolicy;
use host::{AdapterEnv, HostState};
use output::Output;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    CallHook, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
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
    /// The adapter's answer is larger than the host accepts.
    #[error("adapter answered with {0}")]
    OutputTooLarge(String),
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
    #[error("operator settings: {0}")]
    Settings(String),
}

/// Raised from the epoch callback when a call's CPU budget is gone.
#[derive(Debug, thiserror::Error)]
#[error("CPU budget exhausted")]
struct CpuExhausted;

/// Settings the operator gives one adapter (its `NAME.toml`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OperatorSettings {
    /// Values the adapter reads through the `config` import (secrets
    /// included, already resolved from the environment).
    pub config: BTreeMap<String, String>,
    pub limits: LimitOverrides,
    pub egress: EgressOverrides,
}

impl std::fmt::Debug for OperatorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Config values may be secrets: show the keys only.
        f.debug_struct("OperatorSettings")
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("limits", &self.limits)
            .field("egress", &self.egress)
            .finish()
    }
}

/// Per-adapter limits; unset ones take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub cpu: Option<Duration>,
    pub timeout: Option<Duration>,
    /// At most the server's `--adapter-memory-mib`.
    pub memory_mib: Option<u32>,
    /// Calls in progress at once; more are answered `ADAPTER_BUSY`.
    pub max_concurrent_calls: Option<u32>,
    /// Outbound HTTP requests one call may make.
    pub max_requests: Option<u32>,
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

/// Calls and failures of one adapter version since it was loaded.
#[derive(Debug, Default)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
}

/// The process-wide engine, linker and epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    kv: Arc<dyn AdapterKv>,
    egress: EgressClient,
    cache: Option<ArtifactCache>,
    compilations: AtomicU64,
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
    /// `cache`, when given, keeps precompiled artifacts across loads and restarts.
    pub fn new(
        config: &RuntimeConfig,
        kv: Arc<dyn AdapterKv>,
        cache: Option<ArtifactCache>,
    ) -> anyhow::Result<Self> {
        let instances = config.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(8))
            .total_stacks(instances)
            .max_memory_size(config.memory_bytes())
            .linear_memory_keep_resident(config.adapter_keep_resident_kib as usize * 1024)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
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

        let egress = EgressClient::new(
            config.egress_override.clone(),
            config.egress_allow_private,
            EgressLimits {
                connect_timeout: config.egress_connect_timeout,
                response_timeout: config.egress_response_timeout,
                max_response_bytes: config.egress_max_response_bytes(),
            },
        )?;
        Ok(Self {
            _ticker: Ticker::start(engine.clone()),
            engine,
            linker,
            config: config.clone(),
            kv,
            egress,
            cache,
            compilations: AtomicU64::new(0),
        })
    }

    /// The process-wide outbound HTTP client adapters send through; the
    /// host's own CRM requests (OAuth) use it too.
    pub fn egress(&self) -> &EgressClient {
        &self.egress
    }

    /// Components compiled (not taken from the cache) since start.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Compile (or take from the cache), link and read the manifest of a
    /// component, then apply the operator's settings. Compilation runs on
    /// the blocking pool, never on the async runtime.
    pub async fn load(
        &self,
        bytes: Vec<u8>,
        sha256: &str,
        settings: OperatorSettings,
    ) -> Result<(Adapter, CacheOutcome), LoadError> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let sha = sha256.to_owned();
        let (component, outcome) = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.component(&engine, &bytes, &sha),
            None => Component::from_binary(&engine, &bytes).map(|c| (c, CacheOutcome::Compiled)),
        })
        .await
        .map_err(|e| LoadError::Compile(format!("compiler task failed: {e}")))?
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if outcome == CacheOutcome::Compiled {
            self.compilations.fetch_add(1, Ordering::Relaxed);
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(AdapterWorldPre::new)
            .map_err(|e| LoadError::World(format!("{e:#}")))?;

        // Read the manifest in a sandbox with no network and no config.
        let probe_limits = self.limits(&LimitOverrides::default())?;
        let probe = Arc::new(AdapterEnv {
            platform: "(loading)".into(),
            version: String::new(),
            config: BTreeMap::new(),
            egress: Arc::new(self.egress_policy("(loading)", Vec::new(), &probe_limits)),
            kv: self.kv.clone(),
        });
        let manifest = Sandbox::new(pre.clone(), probe, probe_limits)
            .call("manifest", async |guest, store| {
                guest.call_manifest(store).await.map(Ok::<_, AdapterError>)
            })
            .await
            .map_err(|e| LoadError::Manifest(e.to_string()))?;
        let declared = validate_manifest(&manifest)?;
        let allowed = effective_hosts(declared, &settings.egress)?;
        let limits = self.limits(&settings.limits)?;
        let env = Arc::new(AdapterEnv {
            platform: manifest.platform.clone(),
            version: manifest.version.clone(),
            config: settings.config,
            egress: Arc::new(self.egress_policy(&manifest.platform, allowed, &limits)),
            kv: self.kv.clone(),
        });
        Ok((
            Adapter {
                sandbox: Sandbox::new(pre, env, limits),
                manifest,
            },
            outcome,
        ))
    }

    fn egress_policy(
        &self,
        platform: &str,
        allowed: Vec<HostPattern>,
        limits: &Limits,
    ) -> EgressPolicy {
        EgressPolicy::new(
            platform.to_owned(),
            allowed,
            self.egress.clone(),
            limits.max_requests,
        )
    }

    fn limits(&self, overrides: &LimitOverrides) -> Result<Limits, LoadError> {
        let invalid = |msg: String| Err(LoadError::Settings(msg));
        let cpu = overrides.cpu.unwrap_or(self.config.adapter_cpu);
        if cpu < EPOCH_TICK {
            return invalid(format!("limits.cpu must be at least {EPOCH_TICK:?}"));
        }
        let wall = overrides.timeout.unwrap_or(self.config.adapter_timeout);
        if wall.is_zero() {
            return invalid("limits.timeout must be greater than 0".into());
        }
        let max_mib = self.config.adapter_memory_mib;
        let memory_mib = overrides.memory_mib.unwrap_or(max_mib);
        if memory_mib == 0 || memory_mib > max_mib {
            return invalid(format!(
                "limits.memory_mib must be between 1 and the server's --adapter-memory-mib ({max_mib})"
            ));
        }
        if overrides.max_concurrent_calls == Some(0) {
            return invalid("limits.max_concurrent_calls must be at least 1".into());
        }
        if overrides.max_requests == Some(0) {
            return invalid("limits.max_requests must be at least 1".into());
        }
        Ok(Limits {
            cpu,
            wall,
            memory_bytes: memory_mib as usize * 1024 * 1024,
            max_concurrent_calls: overrides.max_concurrent_calls,
            max_requests: overrides
                .max_requests
                .unwrap_or(self.config.adapter_max_requests),
        })
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
    let hosts: Vec<HostPattern> = manifest
        .allowed_hosts
        .iter()
        .map(|h| HostPattern::parse(h).map_err(LoadError::InvalidManifest))
        .collect::<Result<_, _>>()?;
    if let AuthType::Oauth(oauth) = &manifest.auth {
        for (what, url) in [
            ("authorize-url", &oauth.authorize_url),
            ("token-url", &oauth.token_url),
        ] {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| LoadError::InvalidManifest(format!("oauth {what} {url:?}: {e}")))?;
            if uri.scheme_str() != Some("https") || uri.host().is_none() {
                return invalid(format!("oauth {what} {url:?} must be an https:// URL"));
            }
        }
        // The host posts the operator's client secret to the token URL:
        // only to a host the adapter declared.
        let token_host = oauth
            .token_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(crate::egress::normalize_host))
            .unwrap_or_default();
        if !hosts.iter().any(|h| h.matches(&token_host)) {
            return invalid(format!(
                "oauth token-url host {token_host} is not among allowed-hosts"
            ));
        }
    }
    Ok(hosts)
}

/// The operator's narrowing and extension of the manifest's hosts.
fn effective_hosts(
    declared: Vec<HostPattern>,
    overrides: &EgressOverrides,
) -> Result<Vec<HostPattern>, LoadError> {
    let parse = |h: &String| HostPattern::parse(h).map_err(LoadError::Settings);
    let mut allowed = match &overrides.only_hosts {
        None => declared,
        Some(only) => {
            let only: Vec<HostPattern> = only.iter().map(parse).collect::<Result<_, _>>()?;
            if let Some(extra) = only.iter().find(|o| !declared.iter().any(|d| d.covers(o))) {
                return Err(LoadError::Settings(format!(
                    "egress.only_hosts entry {extra} is not among the manifest's allowed hosts"
                )));
            }
            only
        }
    };
    for host in &overrides.allow_hosts {
        allowed.push(parse(host)?);
    }
    Ok(allowed)
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    cpu: Duration,
    wall: Duration,
    memory_bytes: usize,
    max_concurrent_calls: Option<u32>,
    max_requests: u32,
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

    /// Calls and failures since load.
    pub fn stats(&self) -> &CallStats {
        &self.sandbox.stats
    }

    /// Make an instance and call nothing: the fixed cost every call pays
    /// before the adapter runs (the dispatch benchmark measures it).
    pub async fn instantiate(&self) -> Result<(), CallError> {
        self.sandbox
            .call("instantiate", async |_guest, _store| Ok(Ok(())))
            .await
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

    pub async fn upsert_call_disposition(
        &self,
        request: UpsertCallDispositionRequest,
    ) -> Result<(), CallError> {
        self.sandbox
            .call("upsert-call-disposition", async |guest, store| {
                guest.call_upsert_call_disposition(store, &request).await
            })
            .await
    }

    pub async fn find_contact(
        &self,
        request: FindContactRequest,
    ) -> Result<Vec<Contact>, CallError> {
        self.sandbox
            .call("find-contact", async |guest, store| {
                guest.call_find_contact(store, &request).await
            })
            .await
    }

    pub async fn create_contact(
        &self,
        request: CreateContactRequest,
    ) -> Result<Contact, CallError> {
        self.sandbox
            .call("create-contact", async |guest, store| {
                guest.call_create_contact(store, &request).await
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
    /// Bounds calls in progress when the operator set `max_concurrent_calls`.
    slots: Option<Arc<tokio::sync::Semaphore>>,
    stats: CallStats,
}

impl Sandbox {
    fn new(pre: AdapterWorldPre<HostState>, env: Arc<AdapterEnv>, limits: Limits) -> Self {
        let slots = limits
            .max_concurrent_calls
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
        Self {
            pre,
            env,
            limits,
            slots,
            stats: CallStats::default(),
        }
    }

    fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(self.env.clone(), self.limits.memory_bytes, self.limits.cpu);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.call_hook(|mut ctx, hook| {
            let cpu = &mut ctx.data_mut().cpu;
            match hook {
                CallHook::CallingWasm | CallHook::ReturningFromHost => cpu.resume(),
                CallHook::ReturningFromWasm | CallHook::CallingHost => cpu.pause(),
            }
            Ok(())
        });
        store.epoch_deadline_callback(|ctx| {
            if ctx.data().cpu.exhausted() {
                return Err(wasmtime::Error::new(CpuExhausted));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Run one export in a fresh instance, within the call's limits.
    async fn call<R: Output>(
        &self,
        operation: &'static str,
        export: impl AsyncFnOnce(
            &Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<R, CallError> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = self.call_within_limits(operation, export).await;
        if result.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn call_within_limits<R: Output>(
        &self,
        operation: &'static str,
        export: impl AsyncFnOnce(
            &Guest,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<R, CallError> {
        let _slot = match &self.slots {
            Some(slots) => Some(
                slots
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| CallError::Busy)?,
            ),
            None => None,
        };
        let mut store = self.new_store();
        let outcome = tokio::time::timeout(self.limits.wall, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            export(instance.switchboard_adapter_adapter(), &mut store).await
        })
        .await;
        let state = store.data();
        let result = match outcome {
            Ok(Ok(Ok(value))) => match value.oversize() {
                None => return Ok(value),
                Some(why) => CallError::OutputTooLarge(why),
            },
            Ok(Ok(Err(error))) => CallError::Adapter(error),
            Ok(Err(error)) => self.classify(&error, state),
            Err(_elapsed) => CallError::WallTimeout(self.limits.wall),
        };
        // An adapter that was refused a request usually fails because of it;
        // say so rather than passing on its own account of the failure.
        let result = match (result, state.hooks.denied().into_iter().next()) {
            (CallError::Adapter(_) | CallError::Trapped(_), Some(reason)) => {
                CallError::EgressDenied(reason)
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

    #[test]
    fn oauth_token_urls_stay_on_declared_https_hosts() {
        let oauth = |token_url: &str| {
            let mut m = manifest("pipedrive", &["*.pipedrive.com"]);
            m.auth = AuthType::Oauth(OauthConfig {
                authorize_url: "https://oauth.pipedrive.com/oauth/authorize".into(),
                token_url: token_url.into(),
                scopes: Vec::new(),
            });
            validate_manifest(&m)
        };
        assert!(oauth("https://oauth.pipedrive.com/oauth/token").is_ok());
        let err = oauth("https://collector.example/token").expect_err("undeclared host");
        assert!(err.to_string().contains("not among allowed-hosts"), "{err}");
        let err = oauth("http://oauth.pipedrive.com/oauth/token").expect_err("plain http");
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
