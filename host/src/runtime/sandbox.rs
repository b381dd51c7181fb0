//! One adapter call: a fresh `Store` and instance from the adapter's
//! `InstancePre` (or, when the operator opted in, the user's kept instance:
//! see `reuse`), run within the call's CPU, wall-clock and memory limits,
//! and its outcome classified as a [`CallError`] when it fails.

use super::CallError;
use super::bindings::AdapterError;
use super::guest_output::GuestOutput;
use super::host::{AdapterEnv, HostState};
use super::limits::Limits;
use super::output::Output;
use super::reuse::{KeptInstances, UserKey};
use super::settings::Reuse;
use super::world::{Exports, WorldInstance, WorldPre};
use crate::kv::KvWrites;
use crate::telemetry::AdapterMetrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument;
use wasmtime::{CallHook, Store, UpdateDeadline};

/// The log target of what a successful call wrote to stdout and stderr, at
/// `debug`: off by default, on with
/// `RUST_LOG=info,switchboard::adapter_output=debug`, or for one adapter
/// with `RUST_LOG='info,[adapter{platform=hubspot}]=debug'`, which is that
/// adapter's log level: each call runs in a span `adapter` with its
/// platform. A failed call's output is logged at `warn` whatever the level.
pub const ADAPTER_OUTPUT_TARGET: &str = "switchboard::adapter_output";

/// The span every adapter call runs in: every line the call logs is inside
/// it, so a filter can set one adapter's level, as
/// `RUST_LOG='info,[adapter{platform=hubspot}]=debug'` does.
fn call_span(platform: &str, operation: &'static str) -> tracing::Span {
    tracing::info_span!("adapter", platform = %platform, operation)
}

/// Raised from the epoch callback when a call's CPU budget is gone.
#[derive(Debug, thiserror::Error)]
#[error("CPU budget exhausted")]
struct CpuExhausted;

/// Calls and failures of one adapter version since it was loaded.
#[derive(Debug, Default)]
pub struct CallStats {
    /// Calls made.
    pub calls: AtomicU64,
    /// Calls that failed, for any reason.
    pub errors: AtomicU64,
}

/// A compiled adapter with its environment and limits: makes instances and
/// runs calls in them.
pub(super) struct Sandbox {
    pre: WorldPre,
    env: Arc<AdapterEnv>,
    limits: Limits,
    /// Bounds calls in progress when the operator set `max_concurrent_calls`.
    slots: Option<Arc<tokio::sync::Semaphore>>,
    /// Instances kept between calls, when the operator opted in.
    kept: Option<Arc<KeptInstances>>,
    pub(super) stats: CallStats,
    metrics: AdapterMetrics,
}

impl Sandbox {
    pub(super) fn new(pre: WorldPre, env: Arc<AdapterEnv>, limits: Limits, reuse: Reuse) -> Self {
        let slots = limits
            .max_concurrent_calls
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
        let kept = match reuse {
            Reuse::Never => None,
            Reuse::PerUser(bounds) => Some(KeptInstances::new(bounds)),
        };
        Self {
            metrics: AdapterMetrics::new(&env.platform),
            pre,
            env,
            limits,
            slots,
            kept,
            stats: CallStats::default(),
        }
    }

    fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(self.env.clone(), self.limits.memory_bytes, self.limits.cpu);
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
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

    /// Run one export for `user` in a fresh instance (or the user's kept
    /// one), within the call's limits. On success, the call's uncommitted
    /// `kv` writes come back with the answer for the caller to commit; a
    /// failed call's writes are committed here.
    pub(super) async fn call<R: Output>(
        &self,
        operation: &'static str,
        user: Option<UserKey>,
        export: impl AsyncFnOnce(
            Exports<'_>,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<(R, KvWrites), CallError> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let in_flight = self.metrics.start();
        let result = self
            .call_within_limits(operation, user, export)
            .instrument(call_span(&self.env.platform, operation))
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                error.code()
            }
        };
        in_flight.finish(operation, outcome);
        result
    }

    /// Instances kept between calls.
    pub(super) fn kept_instances(&self) -> usize {
        self.kept.as_ref().map_or(0, |kept| kept.idle())
    }

    /// Commit writes of a call: a failure is the call's failure.
    pub(super) async fn commit(&self, writes: KvWrites) -> Result<(), CallError> {
        self.env.kv.apply(&writes).await.map_err(|e| {
            let (platform, version) = (&self.env.platform, &self.env.version);
            tracing::error!(adapter = %platform, %version, error = %format!("{e:#}"), "committing an adapter call's kv writes");
            CallError::Storage(e.to_string())
        })
    }

    async fn call_within_limits<R: Output>(
        &self,
        operation: &'static str,
        user: Option<UserKey>,
        export: impl AsyncFnOnce(
            Exports<'_>,
            &mut Store<HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<(R, KvWrites), CallError> {
        let _slot = match &self.slots {
            Some(slots) => Some(
                slots
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| CallError::Busy)?,
            ),
            None => None,
        };
        let kept = match (&self.kept, &user) {
            (Some(kept), Some(user)) => kept.take(user),
            _ => None,
        };
        let (mut store, mut instance) = match kept {
            Some(mut idle) => {
                idle.store.data_mut().begin_next_call();
                (idle.store, Some(idle.instance))
            }
            None => (self.new_store(), None),
        };
        store.set_epoch_deadline(1);
        let outcome = tokio::time::timeout(self.limits.wall, async {
            let instance = match &mut instance {
                Some(instance) => instance,
                None => instance.insert(self.pre.instantiate(&mut store).await?),
            };
            export(instance.exports(), &mut store).await
        })
        .await;
        let writes = store.data_mut().writes.take();
        let state = store.data();
        let result = match outcome {
            Ok(Ok(Ok(value))) => match value.oversize() {
                None => {
                    self.log_output_of_success(operation, &state.output);
                    self.keep(user, store, instance);
                    return Ok((value, writes));
                }
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
        // A JS or Python adapter prints its traceback before it traps or
        // answers `internal`: that is for the operator, never the client.
        if let CallError::Trapped(_) | CallError::Adapter(AdapterError::Internal(_)) = result
            && let Some(output) = state.output.text()
        {
            tracing::warn!(adapter = %platform, %version, operation, ?output, "the failed call's stdout and stderr");
        }
        if let CallError::Adapter(_) = result {
            // The adapter ran and answered; a business outcome, not a fault.
            tracing::info!(adapter = %platform, %version, operation, error = %result, "adapter call failed");
        } else {
            tracing::warn!(adapter = %platform, %version, operation, error = %result, "adapter call failed");
        }
        // What the adapter wrote before failing stays written, as each write
        // would have been had it committed on its own.
        Err(match self.commit(writes).await {
            Ok(()) => result,
            Err(storage) => storage,
        })
    }

    /// After a successful call, keep its instance for the user's next one,
    /// when the operator opted in.
    fn keep(
        &self,
        user: Option<UserKey>,
        store: Store<HostState>,
        instance: Option<WorldInstance>,
    ) {
        if let (Some(kept), Some(user), Some(instance)) = (&self.kept, user, instance) {
            kept.keep(user, store, instance);
        }
    }

    /// A successful call's stdout and stderr, when the operator asked for
    /// them ([`ADAPTER_OUTPUT_TARGET`] at `debug`); nothing is read otherwise.
    fn log_output_of_success(&self, operation: &'static str, output: &GuestOutput) {
        if tracing::enabled!(target: ADAPTER_OUTPUT_TARGET, tracing::Level::DEBUG)
            && let Some(output) = output.text()
        {
            let (platform, version) = (&self.env.platform, &self.env.version);
            tracing::debug!(target: ADAPTER_OUTPUT_TARGET, adapter = %platform, %version, operation, ?output, "the call's stdout and stderr");
        }
    }

    fn classify(&self, error: &wasmtime::Error, state: &HostState) -> CallError {
        if error.is::<CpuExhausted>() {
            CallError::CpuTimeout(self.limits.cpu)
        } else if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            // Idle kept instances hold pool slots: give them back.
            if let Some(kept) = &self.kept {
                kept.clear();
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tracing_subscriber::layer::{Context, SubscriberExt};

    /// Counts the events that pass the filter.
    struct Count(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(&self, _event: &tracing::Event<'_>, _cx: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_filter_can_set_one_adapters_level() {
        let seen = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(
                "info,[adapter{platform=hubspot}]=debug",
            ))
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            for platform in ["hubspot", "pipedrive"] {
                let _call = call_span(platform, "create-call-log").entered();
                tracing::debug!(target: ADAPTER_OUTPUT_TARGET, "the call's stdout and stderr");
            }
        });
        assert_eq!(seen.load(Ordering::Relaxed), 1, "hubspot's line alone");
    }
}
