//! Which adapter version serves each platform, and how that changes.
//!
//! The map from platform to [`LoadedAdapter`] sits behind an `ArcSwap`:
//! requests take a snapshot without locking, and a swap replaces the whole
//! map, so a request holding an `Arc<LoadedAdapter>` finishes on the version
//! it started with while the next request gets the new one.
//!
//! One task owns every change (`actor`). File events (from the watcher in
//! [`watch`]) start loads; a load (`load`) reads the file and its operator
//! file ([`read_operator_file`]), compiles on the blocking pool (a bounded
//! number at once, in file-name order, through the artifact cache), reads the manifest, and
//! reports back. The owner applies the result by the rules in `rules`:
//! only the newest load of a file counts, so a burst of writes ends on the
//! last bytes; a file that fails to load is refused and the version it
//! replaced keeps serving; a platform claimed by two files stays with the
//! file serving it. At start-up a file named for its platform
//! (`testcrm.wasm` for `testCRM`, case ignored) wins, then the first by file
//! name, so a file whose manifest lies about its platform cannot take it over
//! by sorting first. A platform serves as soon as the rule is settled for
//! it (at once for a file named for its platform), while slower files still
//! compile. When the serving file is removed, the first refused claimant by
//! file name is loaded again.
//!
//! What the operator sees of each file is [`AdapterStatus`] (`status`).
//! Files uploaded through the admin API are checked and written into the
//! directory (`deploy`); from there they load like any other.

mod actor;
mod deploy;
mod load;
mod operator_file;
mod rules;
mod status;
pub mod watch;

pub use deploy::{DeployError, Deployed, install, installed, uninstall};
pub use load::LoadFailure;
pub use operator_file::{
    AdapterSettings, OAuthApp, OperatorFileError, TokenEndpointAuth, read as read_operator_file,
};
pub use status::{AdapterStatus, FileCounts, FileStatus};

use crate::runtime::cache::CacheOutcome;
use crate::runtime::{Adapter, Runtime};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::{Semaphore, mpsc};

/// An adapter version that is serving, with where it came from.
#[derive(Debug)]
pub struct LoadedAdapter {
    /// The loaded component.
    pub adapter: Adapter,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// How long its load took: reading, compiling or taking it from the
    /// cache, instantiating the manifest reader. Waiting for a load slot is
    /// not counted; waiting for compile memory (`--compile-memory-mib`) is.
    pub load_time: std::time::Duration,
    /// Whether this load compiled or came from the artifact cache.
    pub cache: CacheOutcome,
    /// The operator file's settings it was loaded with.
    pub settings: AdapterSettings,
}

/// What the registry knows of one file.
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

/// What the owner task is told.
enum Event {
    /// Something happened to this adapter file (or its operator file).
    Changed(PathBuf),
    /// Stop applying changes; the task ends (and drops the engine with it).
    Shutdown,
    /// A load finished.
    Loaded {
        file: PathBuf,
        generation: u64,
        result: Result<Box<LoadedAdapter>, LoadFailure>,
    },
}

/// The serving adapters and the state of every file.
#[derive(Debug)]
pub struct Registry {
    runtime: Arc<Runtime>,
    /// The plugins directory.
    dir: PathBuf,
    serving: ArcSwap<HashMap<String, Arc<LoadedAdapter>>>,
    files: Mutex<BTreeMap<PathBuf, FileState>>,
    ready: AtomicBool,
    events: mpsc::UnboundedSender<Event>,
}

impl Registry {
    /// Start the registry on `dir`: load every `*.wasm` in it (in parallel,
    /// at most `load_parallelism` at once, in file-name order), then keep
    /// applying file events. With `watch`, the directory is watched for
    /// changes.
    pub fn start(
        runtime: Runtime,
        dir: PathBuf,
        load_parallelism: usize,
        watch: Option<std::time::Duration>,
    ) -> anyhow::Result<(Arc<Self>, Option<watch::Watcher>)> {
        let (events, receiver) = mpsc::unbounded_channel();
        let registry = Arc::new(Self {
            runtime: Arc::new(runtime),
            dir: dir.clone(),
            serving: ArcSwap::default(),
            files: Mutex::new(BTreeMap::new()),
            ready: AtomicBool::new(false),
            events,
        });
        let watcher = match watch {
            Some(debounce) => Some(watch::Watcher::start(&dir, debounce, registry.clone())?),
            None => None,
        };
        // Components only: an operator file present at start-up configures
        // its component, it is not one.
        let mut initial = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if watch::is_component(&path) && path.is_file() {
                initial.push(path);
            }
        }
        initial.sort();
        // Known as loading before the first request can ask.
        let initial = initial
            .into_iter()
            .map(|file| {
                let generation = registry.next_generation(&file);
                (file, generation)
            })
            .collect();
        let owner = registry.clone();
        tokio::spawn(async move {
            owner
                .run(
                    receiver,
                    initial,
                    Arc::new(Semaphore::new(load_parallelism.max(1))),
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
            .map(|(path, state)| status::of(path, state))
            .collect()
    }

    /// How many files serve, are loading, and were refused.
    pub fn file_counts(&self) -> FileCounts {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        FileCounts::of(files.values().map(status::status_of))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::kv::NoKv;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn every_file_counts_as_loading_before_the_first_request_can_ask() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a", "b", "c"] {
            let file = dir.path().join(format!("{name}.wasm"));
            std::fs::write(file, b"not a component").expect("written");
        }
        let sandbox = SandboxConfig::parse(&[]);
        let egress = sandbox.egress_client().expect("egress");
        let runtime = Runtime::new(&sandbox, Arc::new(NoKv), egress, None).expect("runtime");
        let (registry, _) =
            Registry::start(runtime, dir.path().to_owned(), 1, None).expect("start");
        // This test's runtime has one thread, and it has not yielded since
        // `start`: the owner task has not run yet, as when a request arrives
        // at once.
        let loading = FileCounts {
            loaded: 0,
            loading: 3,
            refused: 0,
        };
        assert_eq!(registry.file_counts(), loading);

        let deadline = Instant::now() + Duration::from_secs(30);
        while registry.file_counts().refused < 3 {
            assert!(Instant::now() < deadline, "{:?}", registry.file_counts());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(registry.is_ready());
    }
}
