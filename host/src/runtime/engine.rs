//! The process-wide engine (pooling allocator, epoch interruption), the
//! linker with every host interface, the epoch ticker, and loading a
//! component into an [`Adapter`].

use super::adapter::Adapter;
use super::bindings::{self, AdapterError};
use super::cache::{ArtifactCache, CacheOutcome};
use super::compat;
use super::compile::{CompileBudget, FunctionCache, FunctionCacheStats};
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
    functions: Option<Arc<FunctionCache>>,
    budget: CompileBudget,
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
        let functions = (config.compile_cache_mib > 0).then(|| {
            Arc::new(FunctionCache::new(
                u64::from(config.compile_cache_mib) << 20,
            ))
        });
        if let Some(functions) = &functions {
            wasm.enable_incremental_compilation(functions.clone())
                .map_err(|e| anyhow::anyhow!("compile cache: {e}"))?;
        }
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
            functions,
            budget: CompileBudget::new(config.compile_memory_mib),
            compilations: AtomicU64::new(0),
        })
    }

    /// Components compiled (not taken from the cache) since start.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// What the in-memory function cache has spared; `None` when it is off.
    pub fn function_cache(&self) -> Option<FunctionCacheStats> {
        self.functions.as_ref().map(|f| f.stats())
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
        let (engine, cache, config) =
            (self.engine.clone(), self.cache.clone(), self.config.clone());
        let sha = sha256.to_owned();
        // Reading the needs walks every section of the bytes: off the async
        // runtime too, before the compile it may spare.
        let (bytes, needs, hit) = tokio::task::spawn_blocking(move || {
            let needs = InstanceNeeds::of(&bytes);
            needs.check(&config)?;
            let hit = cache.and_then(|cache| cache.cached(&engine, &sha));
            Ok::<_, LoadError>((bytes, needs, hit))
        })
        .await??;
        let (component, outcome, artifact) = match hit {
            Some((component, pin)) => (component, CacheOutcome::Hit, Some(pin)),
            None => {
                let _memory = self.budget.admit(bytes.len()).await;
                let (engine, cache, sha) =
                    (self.engine.clone(), self.cache.clone(), sha256.to_owned());
                let (component, pin) = tokio::task::spawn_blocking(move || match cache {
                    Some(cache) => cache.compile(&engine, &bytes, &sha),
                    None => Component::from_binary(&engine, &bytes).map(|c| (c, None)),
                })
                .await?
                .map_err(LoadError::Compile)?;
                (component, CacheOutcome::Compiled, pin)
            }
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::NoKv;

    /// A component with one core module of a few functions, `step` in
    /// their code and `name` in its data; not an adapter, so its load is
    /// refused after it compiles.
    fn component(name: &str, step: i32) -> Vec<u8> {
        let functions: String = (0..8)
            .map(|n| {
                format!(
                    "(func (export \"f{n}\") (param i32) (result i32)
                       local.get 0 i32.const {step} i32.add i32.const {n} i32.mul)"
                )
            })
            .collect();
        wat::parse_str(format!(
            "(component (core module (memory 1) (data (i32.const 0) \"{name}\") {functions}))"
        ))
        .expect("valid")
    }

    #[tokio::test]
    async fn loads_share_compiled_functions_unless_the_cache_is_off() {
        for mib in ["256", "0"] {
            let sandbox = SandboxConfig::parse(&["--compile-cache-mib", mib]);
            let egress = sandbox.egress_client().expect("egress");
            let runtime = Runtime::new(&sandbox, Arc::new(NoKv), egress, None).expect("runtime");
            let mut stats = Vec::new();
            // testCRM, a copy under another name, then other code.
            for (name, step) in [("testCRM", 1), ("t000001", 1), ("t000002", 2)] {
                let refused = runtime
                    .load(component(name, step), name, OperatorSettings::default())
                    .await;
                // Compiled, then refused: no adapter interface.
                assert!(
                    matches!(refused, Err(LoadError::WitVersion(_))),
                    "{name}: {:?}",
                    refused.err()
                );
                stats.push(runtime.function_cache());
            }
            let [Some(first), Some(copy), Some(other)] = stats[..] else {
                assert_eq!((mib, &stats[..]), ("0", &[None, None, None][..]));
                continue;
            };
            // Each function, and a trampoline per signature.
            assert!(first.misses >= 8 && first.bytes > 0, "{first:?}");
            // The copy took nearly all of it from the first: a key can
            // differ between two compiles of one function (1 or 2 of these
            // in some runs), which costs only that function's compile.
            let (hits, misses) = (copy.hits - first.hits, copy.misses - first.misses);
            assert!(hits >= 8 && misses <= 2, "{first:?} then {copy:?}");
            assert!(
                other.misses >= copy.misses + 8,
                "new code compiles: {other:?}"
            );
        }
    }
}
