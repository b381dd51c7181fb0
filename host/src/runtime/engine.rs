//! The process-wide engine (pooling allocator, epoch interruption), the
//! linker with every host interface, the epoch ticker, and loading a
//! component into an [`Adapter`].

use super::adapter::Adapter;
use super::bindings::{self, AdapterError};
use super::cache::{ArtifactCache, CacheOutcome};
use super::compat;
use super::egress::EgressPolicy;
use super::host::{AdapterEnv, HostState};
use super::limits::{
    self, CORE_INSTANCES_PER_INSTANCE, InstanceNeeds, Limits, MEMORIES_PER_INSTANCE,
    TABLES_PER_INSTANCE,
};
use super::sandbox::Sandbox;
use super::settings::{LimitOverrides, OperatorSettings, Reuse};
use super::world::{Exports, WorldPre};
use super::{LoadError, manifest};
use crate::config::SandboxConfig;
use crate::egress::{EgressClient, HostPattern};
use crate::kv::AdapterKv;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of the CPU deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process-wide engine, linker and epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    config: SandboxConfig,
    kv: Arc<dyn AdapterKv>,
    egress: EgressClient,
    cache: Option<ArtifactCache>,
    compilations: AtomicU64,
    _ticker: Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The engine and linker have no `Debug`.
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Check the sandbox flags, build the engine (pooling allocator, epoch
    /// interruption) and the linker with every host interface, and start the
    /// epoch ticker. Adapters store through `kv` and reach CRMs through
    /// `egress`; `cache`, when given, keeps precompiled artifacts across
    /// loads and restarts.
    pub fn new(
        config: &SandboxConfig,
        kv: Arc<dyn AdapterKv>,
        egress: EgressClient,
        cache: Option<ArtifactCache>,
    ) -> anyhow::Result<Self> {
        limits::check(config)?;
        let instances = config.max_instances;
        let mut pool = PoolingAllocationConfig::new();
        // Sized for the largest component the host accepts (see
        // `InstanceNeeds::check`), so `--max-instances` calls of a Python
        // adapter fit as well as a Rust one's.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_INSTANCE))
            .total_memories(instances.saturating_mul(MEMORIES_PER_INSTANCE))
            .total_tables(instances.saturating_mul(TABLES_PER_INSTANCE))
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
        let linker = link(&engine).map_err(|e| anyhow::anyhow!("linking host interfaces: {e}"))?;
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
        let config = self.config.clone();
        let sha = sha256.to_owned();
        // Reading the needs walks every section of the bytes: off the async
        // runtime too, before the compile it may spare.
        let (component, outcome, artifact, needs) = tokio::task::spawn_blocking(move || {
            let needs = InstanceNeeds::of(&bytes);
            needs.check(&config)?;
            let (component, outcome, artifact) = match cache {
                Some(cache) => cache.component(&engine, &bytes, &sha),
                None => Component::from_binary(&engine, &bytes)
                    .map(|c| (c, CacheOutcome::Compiled, None)),
            }
            .map_err(LoadError::Compile)?;
            Ok::<_, LoadError>((component, outcome, artifact, needs))
        })
        .await??;
        if outcome == CacheOutcome::Compiled {
            self.compilations.fetch_add(1, Ordering::Relaxed);
        }
        let (pre, wit_version) = WorldPre::new(&self.engine, &self.linker, &component)?;

        // Read the manifest in a sandbox with no network and no config.
        let probe_limits = Limits::resolve(&self.config, &LimitOverrides::default())?;
        let probe = self.env("(loading)", "", BTreeMap::new(), Vec::new(), &probe_limits);
        let manifest = Sandbox::new(pre.clone(), probe, probe_limits, Reuse::Never)
            .call("manifest", None, async |guest, store| {
                Ok(Ok::<_, AdapterError>(match guest {
                    Exports::Current(guest) => guest.call_manifest(store).await?,
                    Exports::V0_1(guest) => compat::manifest(guest.call_manifest(store).await?),
                }))
            })
            .await
            // `manifest` must not use `kv`: what it wrote is never committed.
            .map(|(manifest, _writes)| manifest)
            .map_err(LoadError::Manifest)?;
        let declared = manifest::validate(&manifest)?;
        let allowed = settings.egress.apply(declared)?;
        let limits = Limits::resolve(&self.config, &settings.limits)?;
        if let Reuse::PerUser(bounds) = &settings.reuse {
            bounds.check()?;
        }
        let env = self.env(
            &manifest.platform,
            &manifest.version,
            settings.config,
            allowed,
            &limits,
        );
        Ok((
            Adapter {
                sandbox: Sandbox::new(pre, env, limits, settings.reuse),
                manifest,
                wit_version,
                needs,
                _artifact: artifact,
            },
            outcome,
        ))
    }

    /// What every instance of one adapter version shares.
    fn env(
        &self,
        platform: &str,
        version: &str,
        config: BTreeMap<String, secrecy::SecretString>,
        allowed: Vec<HostPattern>,
        limits: &Limits,
    ) -> Arc<AdapterEnv> {
        let egress = EgressPolicy::new(
            platform.to_owned(),
            allowed,
            self.egress.clone(),
            limits.max_requests,
        );
        Arc::new(AdapterEnv {
            platform: platform.to_owned(),
            version: version.to_owned(),
            config,
            egress: Arc::new(egress),
            kv: self.kv.clone(),
        })
    }
}

/// The linker with WASI (no files, sockets or environment: see `host`),
/// `wasi:http` and the `switchboard:adapter` imports.
fn link(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    use bindings::switchboard::adapter::{config, crm_types, kv, log};
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    log::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    kv::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    config::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    crm_types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    // Components built against 0.1.0 import its versions of the same.
    {
        use bindings::v0_1::imports::{config, kv, log, types};
        log::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        kv::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        config::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
        types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    }
    Ok(linker)
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
