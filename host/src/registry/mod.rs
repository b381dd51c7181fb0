//! Which adapter version serves each platform.
//!
//! The map from platform to [`LoadedAdapter`] sits behind an `ArcSwap`:
//! readers take a snapshot without locking, and a swap replaces the whole
//! map, so a request that holds an `Arc<LoadedAdapter>` finishes on the
//! version it started with.
//!
//! At start-up every `*.wasm` in the plugins directory is loaded in parallel
//! (compiling on the blocking pool). Files are considered in name order: when
//! two files declare the same platform, the first name wins and the other is
//! refused. A file that fails to load is logged and skipped.

use crate::runtime::{Adapter, OperatorSettings, Runtime};
use arc_swap::ArcSwap;
use futures::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// An adapter version that is serving, with where it came from.
#[derive(Debug)]
pub struct LoadedAdapter {
    pub adapter: Adapter,
    pub file: PathBuf,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    pub loaded_at: SystemTime,
}

/// Why one file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum RefusedFile {
    #[error("{file}: cannot read: {error}")]
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}: {error}")]
    Load {
        file: PathBuf,
        error: crate::runtime::LoadError,
    },
    #[error("{file}: operator file {operator_file}: {error}")]
    OperatorFile {
        file: PathBuf,
        operator_file: PathBuf,
        error: String,
    },
    #[error("{file}: platform {platform:?} is already served by {served_by}")]
    DuplicatePlatform {
        file: PathBuf,
        platform: String,
        served_by: PathBuf,
    },
}

/// The operator file `NAME.toml` beside `NAME.wasm`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorFile {
    /// Values the adapter reads through the `config` import.
    #[serde(default)]
    config: BTreeMap<String, String>,
}

/// The serving adapters, keyed by platform.
#[derive(Debug)]
pub struct Registry {
    runtime: Runtime,
    adapters: ArcSwap<HashMap<String, Arc<LoadedAdapter>>>,
    ready: AtomicBool,
}

impl Registry {
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime,
            adapters: ArcSwap::default(),
            ready: AtomicBool::new(false),
        }
    }

    /// The adapter serving `platform` now.
    pub fn get(&self, platform: &str) -> Option<Arc<LoadedAdapter>> {
        self.adapters.load().get(platform).cloned()
    }

    /// Every serving adapter, sorted by platform.
    pub fn list(&self) -> Vec<Arc<LoadedAdapter>> {
        let mut all: Vec<_> = self.adapters.load().values().cloned().collect();
        all.sort_by(|a, b| {
            a.adapter
                .manifest()
                .platform
                .cmp(&b.adapter.manifest().platform)
        });
        all
    }

    /// Whether the start-up load has finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Load every `*.wasm` in `dir`, in parallel, and serve the ones that
    /// load. Returns the refusals (also logged at `warn`).
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<RefusedFile>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "wasm") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loaded: Vec<_> = futures::stream::iter(files)
            .map(|file| self.load_file(file))
            .buffered(parallel)
            .collect()
            .await;

        let mut refused = Vec::new();
        let mut map: HashMap<String, Arc<LoadedAdapter>> = HashMap::new();
        for result in loaded {
            match result {
                Ok(loaded) => {
                    let platform = loaded.adapter.manifest().platform.clone();
                    if let Some(first) = map.get(&platform) {
                        refused.push(RefusedFile::DuplicatePlatform {
                            file: loaded.file.clone(),
                            platform,
                            served_by: first.file.clone(),
                        });
                        continue;
                    }
                    let manifest = loaded.adapter.manifest();
                    tracing::info!(
                        platform = %manifest.platform,
                        version = %manifest.version,
                        file = %loaded.file.display(),
                        sha256 = %loaded.sha256,
                        "adapter loaded"
                    );
                    map.insert(platform, Arc::new(loaded));
                }
                Err(refusal) => refused.push(refusal),
            }
        }
        for refusal in &refused {
            tracing::warn!(reason = %refusal, "adapter refused");
        }
        self.adapters.store(Arc::new(map));
        self.ready.store(true, Ordering::Release);
        Ok(refused)
    }

    async fn load_file(&self, file: PathBuf) -> Result<LoadedAdapter, RefusedFile> {
        let bytes = match tokio::fs::read(&file).await {
            Ok(bytes) => bytes,
            Err(error) => return Err(RefusedFile::Io { file, error }),
        };
        let settings = match read_operator_file(&file.with_extension("toml")).await {
            Ok(settings) => settings,
            Err(error) => {
                let operator_file = file.with_extension("toml");
                return Err(RefusedFile::OperatorFile {
                    file,
                    operator_file,
                    error,
                });
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        match self.runtime.load(bytes, settings).await {
            Ok(adapter) => Ok(LoadedAdapter {
                adapter,
                file,
                sha256,
                loaded_at: SystemTime::now(),
            }),
            Err(error) => Err(RefusedFile::Load { file, error }),
        }
    }
}

async fn read_operator_file(path: &Path) -> Result<OperatorSettings, String> {
    let text = match tokio::fs::read_to_string(path).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(OperatorSettings::default());
        }
        Err(e) => return Err(e.to_string()),
    };
    let file: OperatorFile = toml::from_str(&text).map_err(|e| e.to_string())?;
    Ok(OperatorSettings {
        config: file.config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn operator_file_is_optional_and_strict() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.toml");
        let none = read_operator_file(&path).await.expect("missing is fine");
        assert!(none.config.is_empty());
        std::fs::write(&path, "[config]\nregion = \"eu\"\n").expect("writes");
        let some = read_operator_file(&path).await.expect("parses");
        assert_eq!(some.config.get("region").map(String::as_str), Some("eu"));
        std::fs::write(&path, "[confg]\nregion = \"eu\"\n").expect("writes");
        let err = read_operator_file(&path).await.expect_err("unknown key");
        assert!(err.contains("confg"), "names the key: {err}");
    }
}
