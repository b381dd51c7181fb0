//! The task that owns every change to the registry: it starts loads, and
//! applies their results (by the rules in `rules`) one at a time, so two
//! changes never race.

use super::load::load_file;
use super::rules::{self, Decision};
use super::{Event, FileState, LoadFailure, LoadedAdapter, Registry};
use crate::runtime::cache::CacheOutcome;
use crate::telemetry::{self, LoadResult};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Semaphore, mpsc};

impl Registry {
    /// Load `initial`, apply the results in start-up order, then apply
    /// events until shutdown.
    pub(super) async fn run(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<Event>,
        initial: Vec<PathBuf>,
        compile_slots: Arc<Semaphore>,
    ) {
        // Start-up: load everything, and apply each result as soon as the
        // duplicate-platform rule can no longer depend on which compiled
        // first (`rules::applicable_at_startup`), so a platform serves while
        // slower files still compile.
        let mut loading: BTreeSet<PathBuf> = initial.iter().cloned().collect();
        let mut done: BTreeMap<PathBuf, Result<Box<LoadedAdapter>, LoadFailure>> = BTreeMap::new();
        let mut deferred = Vec::new();
        for file in &initial {
            self.begin_load(file.clone(), &compile_slots);
        }
        while !loading.is_empty() || !done.is_empty() {
            if !loading.is_empty() {
                match events.recv().await {
                    Some(Event::Loaded { file, result, .. }) if loading.contains(&file) => {
                        loading.remove(&file);
                        done.insert(file, result);
                    }
                    Some(Event::Shutdown) | None => return,
                    Some(event) => deferred.push(event),
                }
            }
            for file in rules::applicable_at_startup(&done, &loading) {
                if let Some(result) = done.remove(&file) {
                    let generation = self.generation(&file);
                    self.apply(file, generation, result);
                }
            }
        }
        self.ready.store(true, Ordering::Release);
        tracing::info!(adapters = self.serving.load().len(), "adapters loaded");

        for event in deferred {
            self.handle(event, &compile_slots);
        }
        while let Some(event) = events.recv().await {
            if let Event::Shutdown = event {
                return;
            }
            self.handle(event, &compile_slots);
        }
    }

    fn generation(&self, file: &Path) -> u64 {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.get(file).map_or(0, |f| f.generation)
    }

    fn handle(&self, event: Event, compile_slots: &Arc<Semaphore>) {
        match event {
            Event::Changed(path) => {
                // An operator file change reloads its adapter.
                let wasm = path.with_extension("wasm");
                if wasm.is_file() {
                    self.begin_load(wasm, compile_slots);
                } else if path.extension().is_some_and(|e| e == "wasm") {
                    self.unload(&wasm, compile_slots);
                }
            }
            Event::Loaded {
                file,
                generation,
                result,
            } => {
                self.apply(file, generation, result);
            }
            Event::Shutdown => {}
        }
    }

    fn begin_load(&self, file: PathBuf, compile_slots: &Arc<Semaphore>) {
        let generation = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let state = files.entry(file.clone()).or_default();
            state.generation += 1;
            state.generation
        };
        let (runtime, events, slots) = (
            self.runtime.clone(),
            self.events.clone(),
            compile_slots.clone(),
        );
        tokio::spawn(async move {
            let result = match slots.acquire().await {
                Ok(_slot) => load_file(&runtime, &file).await.map(Box::new),
                Err(_) => Err(LoadFailure::ShuttingDown),
            };
            let _ = events.send(Event::Loaded {
                file,
                generation,
                result,
            });
        });
    }

    fn apply(
        &self,
        file: PathBuf,
        generation: u64,
        result: Result<Box<LoadedAdapter>, LoadFailure>,
    ) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = files.get_mut(&file) else {
            return;
        };
        let serving = self.serving.load();
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
                &file,
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
                let mut next = HashMap::clone(&serving);
                if let Some(retired) = retire {
                    next.remove(&retired);
                }
                let result = match loaded.cache {
                    CacheOutcome::Hit => LoadResult::Cached,
                    CacheOutcome::Compiled => LoadResult::Compiled,
                };
                telemetry::adapter_load(&platform, result);
                next.insert(platform, loaded.clone());
                telemetry::adapters_serving(next.len());
                self.serving.store(Arc::new(next));
                *state = FileState {
                    serving: Some(loaded),
                    generation,
                    ..FileState::default()
                };
            }
            (Decision::Serve { .. }, Err(_)) => unreachable!("a failed load is refused"),
        }
    }

    fn unload(&self, file: &Path, compile_slots: &Arc<Semaphore>) {
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
            self.begin_load(path, compile_slots);
        }
    }
}
