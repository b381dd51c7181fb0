//! Which adapter version serves each platform, and how that changes.
//!
//! The map from platform to [`LoadedAdapter`] sits behind an `ArcSwap`:
//! requests take a snapshot without locking, and a swap replaces the whole
//! map, so a request holding an `Arc<LoadedAdapter>` finishes on the version
//! it started with while the next request gets the new one.
//!
//! One task owns every change. File events (from the watcher in [`watch`])
//! start loads; a load reads the file and its operator file, compiles on the
//! blocking pool (a bounded number at once, through the artifact cache),
//! reads the manifest, and reports back. The owner applies the result only if
//! it is the newest load of that file, so a burst of writes ends on the last
//! bytes. A file that fails to load is refused and the version it replaced
//! keeps serving.
//!
//! Which file serves a platform claimed by two files is deterministic: the
//! file already serving it keeps it. At start-up a file named for the
//! platform (`testcrm.wasm` for `testCRM`, case ignored) wins, then the
//! first by file name, so a file whose manifest lies about its platform
//! cannot take it over by sorting first. When the serving file is removed,
//! the first refused claimant by file name is loaded again.

mod operator_file;
pub mod watch;

pub use operator_file::AdapterSettings;

use crate::runtime::cache::CacheOutcome;
use crate::runtime::{Adapter, Runtime};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::{Semaphore, mpsc};

/// The WIT package version every adapter is served through.
pub const WIT_VERSION: &str = "0.1.0";

/// An adapter version that is serving, with where it came from.
#[derive(Debug)]
pub struct LoadedAdapter {
    pub adapter: Adapter,
    pub file: PathBuf,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    pub loaded_at: SystemTime,
    /// Whether this load compiled or came from the artifact cache.
    pub cache: CacheOutcome,
    /// The operator file's settings it was loaded with.
    pub settings: AdapterSettings,
}

/// Where one file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Seen, and its first load has not finished yet.
    Loading,
    Serving,
    Refused,
    Unloaded,
}

/// The operator's view of one adapter file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterStatus {
    pub file: String,
    pub status: FileStatus,
    pub platform: Option<String>,
    pub version: Option<String>,
    pub wit_version: String,
    pub sha256: Option<String>,
    /// RFC 3339.
    pub loaded_at: Option<String>,
    /// `hit` when the serving version came from the artifact cache.
    pub cache: Option<String>,
    /// Why the latest bytes (or operator file) of this file were refused.
    pub last_error: Option<String>,
    pub calls: u64,
    pub errors: u64,
}

#[derive(Debug, Default)]
struct FileState {
    serving: Option<Arc<LoadedAdapter>>,
    last_error: Option<String>,
    /// The platform this file claimed when it was refused as a duplicate.
    claimed: Option<String>,
    /// Bumped by every change event; only the newest load is applied.
    generation: u64,
    removed: bool,
}

enum Event {
    /// Something happened to this adapter file (or its operator file).
    Changed(PathBuf),
    /// Stop applying changes; the task ends (and drops the engine with it).
    Shutdown,
    Loaded {
        file: PathBuf,
        generation: u64,
        result: Result<Box<LoadedAdapter>, String>,
    },
}

/// The serving adapters and the state of every file.
#[derive(Debug)]
pub struct Registry {
    runtime: Arc<Runtime>,
    serving: ArcSwap<HashMap<String, Arc<LoadedAdapter>>>,
    files: Mutex<BTreeMap<PathBuf, FileState>>,
    ready: AtomicBool,
    events: mpsc::UnboundedSender<Event>,
}

impl Registry {
    /// Start the registry on `dir`: load every `*.wasm` in it (in parallel,
    /// at most `compile_parallelism` compiling at once), then keep applying
    /// file events. With `watch`, the directory is watched for changes.
    pub fn start(
        runtime: Runtime,
        dir: PathBuf,
        compile_parallelism: usize,
        watch: Option<std::time::Duration>,
    ) -> anyhow::Result<(Arc<Self>, Option<watch::Watcher>)> {
        let (events, receiver) = mpsc::unbounded_channel();
        let registry = Arc::new(Self {
            runtime: Arc::new(runtime),
            serving: ArcSwap::default(),
            files: Mutex::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
            events,
        });
        let watcher = match watch {
            Some(debounce) => Some(watch::Watcher::start(&dir, debounce, registry.clone())?),
            None => None,
        };
        let mut initial = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if watch::is_adapter_file(&path) && path.is_file() {
                initial.push(path);
            }
        }
        initial.sort();
        let owner = registry.clone();
        tokio::spawn(async move {
            owner
                .run(
                    receiver,
                    initial,
                    Arc::new(Semaphore::new(compile_parallelism.max(1))),
                )
                .await;
        });
        Ok((registry, watcher))
    }

    /// The adapter serving `platform` now.
    pub fn get(&self, platform: &str) -> Option<Arc<LoadedAdapter>> {
        self.serving.load().get(platform).cloned()
    }

    /// Every serving adapter, sorted by platform.
    pub fn list(&self) -> Vec<Arc<LoadedAdapter>> {
        let mut all: Vec<_> = self.serving.load().values().cloned().collect();
        all.sort_by(|a, b| {
            a.adapter
                .manifest()
                .platform
                .cmp(&b.adapter.manifest().platform)
        });
        all
    }

    /// The outbound HTTP client adapters use, for the host's own CRM requests.
    pub fn egress(&self) -> &crate::egress::EgressClient {
        self.runtime.egress()
    }

    /// Components compiled (not taken from the artifact cache) since start.
    pub fn compilations(&self) -> u64 {
        self.runtime.compilations()
    }

    /// Whether the start-up load has finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every file the registry has seen, by file name.
    pub fn statuses(&self) -> Vec<AdapterStatus> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files
            .iter()
            .map(|(path, state)| status(path, state))
            .collect()
    }

    /// Stop the task that applies changes. Serving adapters stay in place
    /// for requests still holding them.
    pub fn shutdown(&self) {
        let _ = self.events.send(Event::Shutdown);
    }

    /// Tell the registry a file changed (the watcher calls this).
    fn changed(&self, path: PathBuf) {
        let _ = self.events.send(Event::Changed(path));
    }

    async fn run(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<Event>,
        initial: Vec<PathBuf>,
        compile_slots: Arc<Semaphore>,
    ) {
        // Start-up: load everything, then apply in file-name order so the
        // duplicate-platform rule does not depend on which compiled first.
        let mut pending: BTreeMap<PathBuf, Result<Box<LoadedAdapter>, String>> = BTreeMap::new();
        let mut deferred = Vec::new();
        for file in &initial {
            self.begin_load(file.clone(), &compile_slots);
        }
        while pending.len() < initial.len() {
            match events.recv().await {
                Some(Event::Loaded { file, result, .. })
                    if initial.contains(&file) && !pending.contains_key(&file) =>
                {
                    pending.insert(file, result);
                }
                Some(Event::Shutdown) | None => return,
                Some(event) => deferred.push(event),
            }
        }
        let mut pending: Vec<_> = pending.into_iter().collect();
        pending.sort_by_key(|(file, result)| !named_for_its_platform(file, result));
        for (file, result) in pending {
            let generation = self.generation(&file);
            self.apply(file, generation, result);
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
                Err(_) => Err("registry is shutting down".into()),
            };
            let _ = events.send(Event::Loaded {
                file,
                generation,
                result,
            });
        });
    }

    fn apply(&self, file: PathBuf, generation: u64, result: Result<Box<LoadedAdapter>, String>) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = files.get_mut(&file) else {
            return;
        };
        if state.generation != generation {
            return; // A newer change of this file is loading.
        }
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::warn!(file = %file.display(), reason = %error, "adapter refused");
                state.last_error = Some(error);
                state.removed = false;
                return;
            }
        };
        if let Some(current) = &state.serving
            && current.sha256 == loaded.sha256
            && current.settings == loaded.settings
        {
            // The same bytes and settings again (a repeated event): keep the
            // serving version, its load time and its counts.
            state.last_error = None;
            return;
        }
        let platform = loaded.adapter.manifest().platform.clone();
        let mut serving = HashMap::clone(&self.serving.load());
        if let Some(other) = serving.get(&platform).filter(|a| a.file != file) {
            let error = format!(
                "platform {platform} is already served by {}",
                other.file.display()
            );
            tracing::warn!(file = %file.display(), reason = %error, "adapter refused");
            state.last_error = Some(error);
            state.claimed = Some(platform);
            state.removed = false;
            return;
        }
        // The file may have served another platform before.
        let previous = state
            .serving
            .as_ref()
            .map(|a| a.adapter.manifest().platform.clone());
        if let Some(previous) = previous.filter(|p| *p != platform) {
            serving.remove(&previous);
        }
        let loaded: Arc<LoadedAdapter> = Arc::from(loaded);
        tracing::info!(
            platform = %platform,
            version = %loaded.adapter.manifest().version,
            file = %file.display(),
            sha256 = %loaded.sha256,
            cache = loaded.cache.as_str(),
            "adapter serving"
        );
        serving.insert(platform, loaded.clone());
        self.serving.store(Arc::new(serving));
        *state = FileState {
            serving: Some(loaded),
            generation,
            ..FileState::default()
        };
    }

    fn unload(&self, file: &Path, compile_slots: &Arc<Semaphore>) {
        let retry: Vec<PathBuf> = {
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
            self.serving.store(Arc::new(serving));
            tracing::info!(platform = %platform, file = %file.display(), "adapter unloaded");
            // The first refused claimant by file name gets its turn.
            files
                .iter()
                .filter(|(_, s)| s.claimed.as_deref() == Some(platform.as_str()))
                .map(|(path, _)| path.clone())
                .take(1)
                .collect()
        };
        for path in retry {
            self.begin_load(path, compile_slots);
        }
    }
}

/// Whether a loaded file is named for the platform it claims.
fn named_for_its_platform(file: &Path, result: &Result<Box<LoadedAdapter>, String>) -> bool {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    result
        .as_ref()
        .is_ok_and(|a| a.adapter.manifest().platform.eq_ignore_ascii_case(stem))
}

/// Read and check an operator file (`NAME.toml`); a missing file is the
/// defaults. For `switchboard check`.
pub async fn read_operator_file(path: &Path) -> Result<AdapterSettings, String> {
    operator_file::read(path).await
}

fn status(path: &Path, state: &FileState) -> AdapterStatus {
    let file = path.display().to_string();
    let status = match (&state.serving, state.removed, &state.last_error) {
        (Some(_), _, _) => FileStatus::Serving,
        (None, true, _) => FileStatus::Unloaded,
        (None, false, Some(_)) => FileStatus::Refused,
        (None, false, None) => FileStatus::Loading,
    };
    let serving = state.serving.as_deref();
    let manifest = serving.map(|a| a.adapter.manifest());
    AdapterStatus {
        file,
        status,
        platform: manifest
            .map(|m| m.platform.clone())
            .or_else(|| state.claimed.clone()),
        version: manifest.map(|m| m.version.clone()),
        wit_version: WIT_VERSION.to_owned(),
        sha256: serving.map(|a| a.sha256.clone()),
        loaded_at: serving.map(|a| rfc3339(a.loaded_at)),
        cache: serving.map(|a| a.cache.as_str().to_owned()),
        last_error: state.last_error.clone(),
        calls: serving.map_or(0, |a| a.adapter.stats().calls.load(Ordering::Relaxed)),
        errors: serving.map_or(0, |a| a.adapter.stats().errors.load(Ordering::Relaxed)),
    }
}

fn rfc3339(time: SystemTime) -> String {
    let time = time::OffsetDateTime::from(time);
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn load_file(runtime: &Runtime, file: &Path) -> Result<LoadedAdapter, String> {
    let bytes = tokio::fs::read(file)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    let operator_file = file.with_extension("toml");
    let settings = read_operator_file(&operator_file)
        .await
        .map_err(|e| format!("operator file {}: {e}", operator_file.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let (adapter, cache) = runtime
        .load(bytes, &sha256, settings.runtime.clone())
        .await
        .map_err(|e| e.to_string())?;
    Ok(LoadedAdapter {
        adapter,
        file: file.to_owned(),
        sha256,
        loaded_at: SystemTime::now(),
        cache,
        settings,
    })
}
