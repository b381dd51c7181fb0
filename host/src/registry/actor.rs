//! The task that owns every change to the registry: it starts loads (each
//! in one of a bounded number of slots; at start-up in file-name order), and
//! applies their results (by the rules in `rules`) in order, so two changes
//! never race. Results that arrive together apply with one swap of the
//! serving map.

use super::load::load_file;
use super::rules::{self, Decision};
use super::{Event, FileState, LoadFailure, LoadedAdapter, Registry};
use crate::runtime::Runtime;
use crate::runtime::cache::CacheOutcome;
use crate::telemetry::{self, LoadResult};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, mpsc};

impl Registry {
    /// Load `initial` (each with the generation `start` gave it), apply
    /// the results in start-up order, then apply events until shutdown.
    pub(super) async fn run(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<Event>,
        initial: Vec<(PathBuf, u64)>,
        load_slots: Arc<Semaphore>,
    ) {
        // Start-up: load everything, and apply each result as soon as the
        // duplicate-platform rule can no longer depend on which compiled
        // first (`rules::applicable_at_startup`), so a platform serves while
        // slower files still compile.
        let mut loading: BTreeSet<PathBuf> = initial.iter().map(|(f, _)| f.clone()).collect();
        let mut done: BTreeMap<PathBuf, Result<Box<LoadedAdapter>, LoadFailure>> = BTreeMap::new();
        let mut deferred = Vec::new();
        // Slots are taken in file-name order, so the first files by name
        // serve first.
        let (runtime, sender, slots) = (
            self.runtime.clone(),
            self.events.clone(),
            load_slots.clone(),
        );
        tokio::spawn(async move {
            for (file, generation) in initial {
                let slot = slots.clone().acquire_owned().await;
                tokio::spawn(load_in_slot(
                    runtime.clone(),
                    sender.clone(),
                    file,
                    generation,
                    slot,
                ));
            }
        });
        while !loading.is_empty() || !done.is_empty() {
            if !loading.is_empty() {
                // Every result that has arrived, so that one map swap
                // applies them together.
                let Some(first) = events.recv().await else {
                    return;
                };
                let mut arrived = vec![first];
                while let Ok(event) = events.try_recv() {
                    arrived.push(event);
                }
                for event in arrived {
                    match event {
                        Event::Loaded { file, result, .. } if loading.contains(&file) => {
                            loading.remove(&file);
                            done.insert(file, result);
                        }
                        Event::Shutdown => return,
                        event => deferred.push(event),
                    }
                }
            }
            let applicable: Vec<_> = rules::applicable_at_startup(&done, &loading)
                .into_iter()
                .filter_map(|file| {
                    let result = done.remove(&file)?;
                    let generation = self.generation(&file);
                    Some((file, generation, result))
                })
                .collect();
            self.apply(applicable);
        }
        self.ready.store(true, Ordering::Release);
        let functions = self.runtime.function_cache();
        tracing::info!(
            adapters = self.serving.load().len(),
            compiled = self.runtime.compilations(),
            function_cache_hits = functions.map(|f| f.hits),
            function_cache_misses = functions.map(|f| f.misses),
            function_cache_mib = functions.map(|f| f.bytes.div_ceil(1 << 20)),
            "adapters loaded"
        );

        for event in deferred {
            self.handle(event, &load_slots);
        }
        while let Some(event) = events.recv().await {
            if let Event::Shutdown = event {
                return;
            }
            self.handle(event, &load_slots);
        }
    }

    fn generation(&self, file: &Path) -> u64 {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.get(file).map_or(0, |f| f.generation)
    }

    fn handle(&self, event: Event, load_slots: &Arc<Semaphore>) {
        match event {
            Event::Changed(path) => {
                // An operator file change reloads its adapter.
                let wasm = path.with_extension("wasm");
                if wasm.is_file() {
                    self.begin_load(wasm, load_slots);
                } else if path.extension().is_some_and(|e| e == "wasm") {
                    self.unload(&wasm, load_slots);
                }
            }
            Event::Loaded {
                file,
                generation,
                result,
            } => {
                self.apply(vec![(file, generation, result)]);
            }
            Event::Shutdown => {}
        }
    }

    /// Bump `file`'s generation, so that loads of earlier ones are dropped;
    /// the new one.
    pub(super) fn next_generation(&self, file: &Path) -> u64 {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let state = files.entry(file.to_owned()).or_default();
        state.generation += 1;
        state.generation
    }

    fn begin_load(&self, file: PathBuf, load_slots: &Arc<Semaphore>) {
        let generation = self.next_generation(&file);
        let (runtime, events, slots) = (
            self.runtime.clone(),
            self.events.clone(),
            load_slots.clone(),
        );
        tokio::spawn(async move {
            let slot = slots.acquire_owned().await;
            load_in_slot(runtime, events, file, generation, slot).await;
        });
    }

    /// Apply finished loads in order, and publish the serving map once.
    fn apply(&self, results: Vec<(PathBuf, u64, Result<Box<LoadedAdapter>, LoadFailure>)>) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let mut serving: Option<HashMap<String, Arc<LoadedAdapter>>> = None;
        for (file, generation, result) in results {
            let Some(state) = files.get_mut(&file) else {
                continue;
            };
            let next = serving.get_or_insert_with(|| HashMap::clone(&self.serving.load()));
            apply_one(&file, state, generation, result, next);
        }
        if let Some(next) = serving {
            telemetry::adapters_serving(next.len());
            self.serving.store(Arc::new(next));
        }
    }

    fn unload(&self, file: &Path, load_slots: &Arc<Semaphore>) {
        let retry = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let Some(state) = files.get_mut(file) else {
                return;
            };
            state.generation += 1; // Discard loads still in flight.
            state.removed = true;
            state.last_error = None;
            state.claimed = None;
            let Some(gone) = state.serving.take() else {
                return;
            };
            let platform = gone.adapter.manifest().platform.clone();
            let mut serving = HashMap::clone(&self.serving.load());
            serving.remove(&platform);
            telemetry::adapters_serving(serving.len());
            self.serving.store(Arc::new(serving));
            tracing::info!(platform = %platform, file = %file.display(), "adapter unloaded");
            rules::next_claimant(&files, &platform)
        };
        if let Some(path) = retry {
            self.begin_load(path, load_slots);
        }
    }
}

/// Load `file` in the load slot given (none when the registry is shutting
/// down), and report the result to the owner.
async fn load_in_slot(
    runtime: Arc<Runtime>,
    events: mpsc::UnboundedSender<Event>,
    file: PathBuf,
    generation: u64,
    slot: Result<OwnedSemaphorePermit, AcquireError>,
) {
    let result = match slot {
        Ok(_slot) => load_file(&runtime, &file).await.map(Box::new),
        Err(_) => Err(LoadFailure::ShuttingDown),
    };
    let _ = events.send(Event::Loaded {
        file,
        generation,
        result,
    });
}

/// Apply one finished load of `file` to its state and to `serving`, the
/// serving map being built.
fn apply_one(
    file: &Path,
    state: &mut FileState,
    generation: u64,
    result: Result<Box<LoadedAdapter>, LoadFailure>,
    serving: &mut HashMap<String, Arc<LoadedAdapter>>,
) {
    let decision = {
        let loaded = match &result {
            Ok(loaded) => Ok(loaded.identity()),
            Err(error) => Err(error as &dyn std::fmt::Display),
        };
        let holder = loaded
            .as_ref()
            .ok()
            .and_then(|l| serving.get(l.platform))
            .map(|a| a.file.as_path());
        rules::decide(
            file,
            state.generation,
            generation,
            state.serving.as_ref().map(|a| a.identity()),
            loaded,
            holder,
        )
    };
    match (decision, result) {
        (Decision::Stale, _) => {}
        (Decision::Unchanged, _) => state.last_error = None,
        (Decision::Refuse { reason, claimed }, result) => {
            tracing::warn!(file = %file.display(), %reason, "adapter refused");
            let platform = match &result {
                Ok(loaded) => Some(loaded.adapter.manifest().platform.as_str()),
                Err(_) => claimed.as_deref().or(state.claimed.as_deref()),
            };
            telemetry::adapter_load(platform.unwrap_or("unknown"), LoadResult::Refused);
            state.last_error = Some(reason);
            state.claimed = claimed.or(state.claimed.take());
            state.removed = false;
        }
        (Decision::Serve { retire }, Ok(loaded)) => {
            let loaded: Arc<LoadedAdapter> = Arc::from(loaded);
            let platform = loaded.adapter.manifest().platform.clone();
            tracing::info!(
                platform = %platform,
                version = %loaded.adapter.manifest().version,
                file = %file.display(),
                sha256 = %loaded.sha256,
                cache = loaded.cache.as_str(),
                "adapter serving"
            );
            if let Some(retired) = retire {
                serving.remove(&retired);
            }
            let result = match loaded.cache {
                CacheOutcome::Hit => LoadResult::Cached,
                CacheOutcome::Compiled => LoadResult::Compiled,
            };
            telemetry::adapter_load(&platform, result);
            serving.insert(platform, loaded.clone());
            *state = FileState {
                serving: Some(loaded),
                generation,
                ..FileState::default()
            };
        }
        (Decision::Serve { .. }, Err(_)) => unreachable!("a failed load is refused"),
    }
}
