//! Compiling components, the part of loading that costs: how many compile
//! at once, and what one compile can take from another.
//!
//! - [`CompileBudget`]: compiles running together stay within
//!   `--compile-memory-mib`. Each is reckoned from its component's size
//!   (a compile's peak grows with it) and waits until that much is free.
//!   How many loads run at once is the registry's bound; this one keeps a
//!   few large components from compiling side by side.
//! - [`FunctionCache`]: Cranelift's per-function cache (wasmtime's
//!   `incremental-cache`), held in memory. A function whose Cranelift IR
//!   and compiler settings match one compiled before in this process takes
//!   that one's machine code instead of compiling again: a copy of an
//!   adapter under another platform name, a new version of the same
//!   adapter, or the runtime every adapter of one SDK carries.

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::CacheStore;

/// What a compile is reckoned to take besides its component's size
/// (measured: testCRM's 0.3 MB compiles in 78 MiB above an idle server).
const BASE_MIB: u64 = 64;

/// A compile's peak over its component's size (measured: jsTestCRM's
/// 13.8 MB peaks 556 MiB above an idle server, pyTestCRM's 18.5 MB 510 MiB).
const PEAK_PER_BYTE: u64 = 40;

/// The memory the compiles running at once may take together.
#[derive(Debug)]
pub(super) struct CompileBudget {
    mib: Semaphore,
    total_mib: u32,
}

impl CompileBudget {
    pub(super) fn new(total_mib: u32) -> Self {
        Self {
            mib: Semaphore::new(total_mib as usize),
            total_mib,
        }
    }

    /// What a compile of `component_bytes` is reckoned to take, in MiB,
    /// at most the whole budget (so one larger than it runs alone).
    fn reckon(&self, component_bytes: usize) -> u32 {
        let mib = BASE_MIB + (component_bytes as u64 * PEAK_PER_BYTE).div_ceil(1 << 20);
        u32::try_from(mib).unwrap_or(u32::MAX).min(self.total_mib)
    }

    /// Wait until a compile of `component_bytes` fits; it may run for as
    /// long as the permit lives.
    pub(super) async fn admit(&self, component_bytes: usize) -> SemaphorePermit<'_> {
        self.mib
            .acquire_many(self.reckon(component_bytes))
            .await
            .expect("the budget's semaphore is never closed")
    }
}

/// Weighs an entry by its bytes.
#[derive(Debug, Clone, Copy)]
struct Bytes;

impl Weighter<Vec<u8>, Arc<[u8]>> for Bytes {
    fn weight(&self, key: &Vec<u8>, code: &Arc<[u8]>) -> u64 {
        (key.len() + code.len()) as u64
    }
}

/// Compiled functions, at most `max_bytes` of them; the least recently
/// used go first.
#[derive(Debug)]
pub(super) struct FunctionCache {
    functions: Cache<Vec<u8>, Arc<[u8]>, Bytes>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How much a [`FunctionCache`] has spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionCacheStats {
    /// Functions taken from the cache.
    pub hits: u64,
    /// Functions compiled.
    pub misses: u64,
    /// What the cache holds now.
    pub bytes: u64,
}

impl FunctionCache {
    pub(super) fn new(max_bytes: u64) -> Self {
        // The table is sized from an estimate of the entries: a compiled
        // function is a few KiB.
        let estimated = usize::try_from(max_bytes / 4096)
            .unwrap_or(usize::MAX)
            .max(16);
        Self {
            functions: Cache::with_weighter(estimated, max_bytes, Bytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(super) fn stats(&self) -> FunctionCacheStats {
        FunctionCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.functions.weight(),
        }
    }
}

impl CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.functions.get(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|code| Cow::Owned(code.to_vec()))
    }

    fn insert(&self, key: &[u8], code: Vec<u8>) -> bool {
        self.functions.insert(key.to_vec(), Arc::from(code));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn compiles_wait_for_their_memory_and_one_too_large_runs_alone() {
        let budget = CompileBudget::new(1024);
        let js = 14_000_000;
        assert_eq!(budget.reckon(js), 64 + 535);
        assert_eq!(budget.reckon(300_000), 64 + 12);
        assert_eq!(budget.reckon(100 << 20), 1024, "capped at the budget");

        let first = budget.admit(js).now_or_never().expect("fits");
        assert!(budget.admit(js).now_or_never().is_none(), "two do not fit");
        assert!(
            budget.admit(300_000).now_or_never().is_some(),
            "a small one does"
        );
        drop(first);
        let alone = budget.admit(100 << 20).now_or_never().expect("fits alone");
        assert!(
            budget.admit(1).now_or_never().is_none(),
            "nothing beside it"
        );
        drop(alone);
    }
}
