//! The state of one adapter instance (`Store<HostState>`) and the host
//! interfaces it imports: `log`, `kv`, `config`, plus WASI and `wasi:http`.

use super::bindings::switchboard::adapter::{config, kv, log};
use super::egress::{EgressHooks, EgressPolicy};
use super::guest_output::GuestOutput;
use crate::kv::{AdapterKv, KvWrites};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Longest key an adapter may use in `kv`.
pub const MAX_KV_KEY_BYTES: usize = 512;
/// Largest value an adapter may store in `kv`.
pub const MAX_KV_VALUE_BYTES: usize = 1024 * 1024;
/// Most bytes of `kv` writes a call holds before committing them early:
/// past it, the writes so far commit on their own, and the rest still
/// commit when the call ends.
const MAX_PENDING_KV_BYTES: usize = 4 * MAX_KV_VALUE_BYTES;

/// What every instance of one adapter version shares.
pub(super) struct AdapterEnv {
    pub(super) platform: String,
    pub(super) version: String,
    pub(super) config: BTreeMap<String, SecretString>,
    pub(super) egress: Arc<EgressPolicy>,
    pub(super) kv: Arc<dyn AdapterKv>,
}

/// Caps linear memory; remembers whether it refused a growth so a trap can
/// be reported as "memory limit" rather than a crash.
#[derive(Debug)]
pub(super) struct MemoryLimiter {
    max_bytes: usize,
    pub(super) refused: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_bytes;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Measures the time a call spends running wasm, excluding time it spends
/// in host calls (waiting on the CRM, on a clock, on storage), so that an
/// adapter waiting on a slow CRM is bounded by the wall-clock limit, not
/// charged CPU for it.
#[derive(Debug)]
pub(super) struct CpuMeter {
    budget: Duration,
    used: Duration,
    running_since: Option<Instant>,
}

impl CpuMeter {
    fn new(budget: Duration) -> Self {
        Self {
            budget,
            used: Duration::ZERO,
            running_since: None,
        }
    }

    /// Wasm starts or resumes running.
    pub(super) fn resume(&mut self) {
        self.running_since.get_or_insert_with(Instant::now);
    }

    /// Wasm stops running (it returned, or called into the host).
    pub(super) fn pause(&mut self) {
        if let Some(since) = self.running_since.take() {
            self.used += since.elapsed();
        }
    }

    /// Whether the call has used its budget.
    pub(super) fn exhausted(&self) -> bool {
        let running = self.running_since.map_or(Duration::ZERO, |s| s.elapsed());
        self.used + running >= self.budget
    }
}

/// The `T` of `Store<T>` for adapter instances.
pub(super) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(super) hooks: EgressHooks,
    pub(super) limiter: MemoryLimiter,
    /// Time this call has spent running wasm.
    pub(super) cpu: CpuMeter,
    /// The call's `kv` writes, not yet committed (see [`crate::kv`]).
    pub(super) writes: KvWrites,
    /// What the adapter wrote to stdout and stderr.
    pub(super) output: GuestOutput,
    /// When the instance was made.
    pub(super) made: Instant,
    /// Calls the instance has begun, the one it is made for included (more
    /// than one only when it is reused: see `reuse`).
    pub(super) calls: u32,
    env: Arc<AdapterEnv>,
}

impl HostState {
    pub(super) fn new(env: Arc<AdapterEnv>, max_memory: usize, cpu_budget: Duration) -> Self {
        // No preopened directories, no environment, no arguments, no sockets
        // and no name lookup: the adapter reaches the world only through
        // wasi:http and the egress hooks. Its stdout and stderr are kept
        // (bounded) for the log, should the call fail.
        let output = GuestOutput::default();
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: EgressHooks::new(env.egress.clone()),
            limiter: MemoryLimiter {
                max_bytes: max_memory,
                refused: false,
            },
            cpu: CpuMeter::new(cpu_budget),
            writes: KvWrites::new(env.platform.clone()),
            output,
            made: Instant::now(),
            calls: 1,
            env,
        }
    }

    /// Start another call in a kept instance (see `reuse`): its own CPU
    /// budget, egress count, memory verdict and output, whatever the last
    /// call used. (The last call's kv writes were taken when it ended.)
    pub(super) fn begin_next_call(&mut self) {
        self.calls += 1;
        self.cpu = CpuMeter::new(self.cpu.budget);
        self.hooks = EgressHooks::new(self.env.egress.clone());
        self.limiter.refused = false;
        self.output.clear();
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl super::bindings::switchboard::adapter::crm_types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let platform = self.env.platform.as_str();
        let version = self.env.version.as_str();
        match level {
            log::Level::Trace => tracing::trace!(adapter = platform, version, "{message}"),
            log::Level::Debug => tracing::debug!(adapter = platform, version, "{message}"),
            log::Level::Info => tracing::info!(adapter = platform, version, "{message}"),
            log::Level::Warn => tracing::warn!(adapter = platform, version, "{message}"),
            log::Level::Error => tracing::error!(adapter = platform, version, "{message}"),
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.env
            .config
            .get(&key)
            .map(|value| value.expose_secret().to_owned())
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
        return Err(format!("keys must be 1 to {MAX_KV_KEY_BYTES} bytes"));
    }
    // PostgreSQL text cannot hold NUL; refuse it on every store alike, now
    // rather than when the call's writes commit.
    if key.contains('\0') {
        return Err("keys must not contain NUL".to_owned());
    }
    Ok(())
}

/// A storage failure as the adapter sees it: no internals, just that it failed.
fn storage_failed(platform: &str, err: anyhow::Error) -> String {
    tracing::error!(adapter = platform, error = %format!("{err:#}"), "adapter kv operation failed");
    "storage unavailable".to_owned()
}

impl HostState {
    /// Commit the call's writes so far.
    async fn commit_writes(&mut self) -> Result<(), String> {
        let writes = self.writes.take();
        let env = &self.env;
        env.kv
            .apply(&writes)
            .await
            .map_err(|e| storage_failed(&env.platform, e))
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        if let Some(pending) = self.writes.get(&key) {
            return Ok(pending.map(<[u8]>::to_vec));
        }
        let env = &self.env;
        env.kv
            .get(&env.platform, &key)
            .await
            .map_err(|e| storage_failed(&env.platform, e))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_KV_VALUE_BYTES {
            return Err(format!("values must be at most {MAX_KV_VALUE_BYTES} bytes"));
        }
        self.writes.set(key, value);
        if self.writes.bytes() > MAX_PENDING_KV_BYTES {
            self.commit_writes().await?;
        }
        Ok(())
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.writes.delete(key);
        Ok(())
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, String> {
        check_key(&key)?;
        // The counter starts from what the call wrote to it, so that write
        // commits first.
        if self.writes.get(&key).is_some() {
            self.commit_writes().await?;
        }
        let env = &self.env;
        env.kv
            .increment(&env.platform, &key, delta)
            .await
            .map_err(|e| storage_failed(&env.platform, e))
    }
}

/// 0.1.0's imports: the same functions under that version's names.
mod v0_1 {
    use super::HostState;
    use crate::runtime::bindings::switchboard::adapter as current;
    use crate::runtime::bindings::v0_1::imports::{config, kv, log, types};

    impl types::Host for HostState {}

    impl log::Host for HostState {
        fn log(&mut self, level: log::Level, message: String) {
            let level = match level {
                log::Level::Trace => current::log::Level::Trace,
                log::Level::Debug => current::log::Level::Debug,
                log::Level::Info => current::log::Level::Info,
                log::Level::Warn => current::log::Level::Warn,
                log::Level::Error => current::log::Level::Error,
            };
            current::log::Host::log(self, level, message);
        }
    }

    impl config::Host for HostState {
        fn get(&mut self, key: String) -> Option<String> {
            current::config::Host::get(self, key)
        }
    }

    impl kv::Host for HostState {
        async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
            current::kv::Host::get(self, key).await
        }
        async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
            current::kv::Host::set(self, key, value).await
        }
        async fn delete(&mut self, key: String) -> Result<(), String> {
            current::kv::Host::delete(self, key).await
        }
        async fn increment(&mut self, key: String, delta: i64) -> Result<i64, String> {
            current::kv::Host::increment(self, key, delta).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CpuMeter;
    use std::time::Duration;

    #[test]
    fn time_in_host_calls_is_not_charged() {
        let mut meter = CpuMeter::new(Duration::from_millis(20));
        meter.resume();
        meter.pause();
        // Waiting (paused) for longer than the budget costs nothing.
        std::thread::sleep(Duration::from_millis(30));
        assert!(!meter.exhausted());
        meter.resume();
        meter.resume(); // nested resumes keep the first start
        std::thread::sleep(Duration::from_millis(25));
        assert!(meter.exhausted(), "running time is charged");
    }
}
