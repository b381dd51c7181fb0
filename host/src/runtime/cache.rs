//! A disk cache of precompiled components, so a restart or a rollback to
//! bytes seen before loads in about a millisecond instead of recompiling.
//!
//! Each artifact is `<dir>/<key>.cwasm`, where the key is the sha256 of the
//! component bytes plus the engine's precompile-compatibility hash (so a new
//! wasmtime or different engine settings never load an old artifact). Beside
//! it, `<key>.sha256` holds the digest of the artifact itself, written when
//! the artifact was; an artifact whose digest does not match is corrupt, so
//! it is deleted and recompiled, never deserialized. Both are written to a
//! temp name and renamed into place. When the artifacts exceed the size cap,
//! the least recently used are deleted, but never one an adapter version
//! loaded in this process came from: each holds an [`ArtifactPin`] on its
//! artifact for as long as it lives (serving, or finishing the requests
//! that started on it). When the pinned artifacts alone exceed the cap,
//! nothing of theirs is deleted, and one warning says how much they need.
//! A pin's release marks its artifact used: a replaced version's artifact
//! is the most recently used of the rest, so the last eviction takes, and a
//! rollback to it stays a cache hit.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Why a cached artifact cannot be trusted (it is then deleted and the
/// component compiled again).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The artifact or its digest could not be read.
    #[error("reading the cached artifact: {0}")]
    Read(#[from] std::io::Error),
    /// The artifact is not what was written.
    #[error("artifact does not match its recorded sha256")]
    Digest,
    /// wasmtime refused the artifact.
    #[error("deserialize: {0}")]
    Deserialize(wasmtime::Error),
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a cached artifact: no compilation.
    Hit,
    /// Compiled (and, with a cache, stored for next time).
    Compiled,
}

impl CacheOutcome {
    /// `hit` or `compiled`, as the admin API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Compiled => "compiled",
        }
    }
}

/// The artifacts in use in this process, with how many versions use each.
type Pins = Arc<Mutex<HashMap<PathBuf, usize>>>;

/// Keeps one artifact from eviction for as long as it lives; the adapter
/// version loaded from the artifact holds it.
#[derive(Debug)]
pub struct ArtifactPin {
    pins: Pins,
    artifact: PathBuf,
}

impl ArtifactPin {
    fn new(pins: &Pins, artifact: &Path) -> Self {
        *pins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(artifact.to_owned())
            .or_default() += 1;
        Self {
            pins: pins.clone(),
            artifact: artifact.to_owned(),
        }
    }
}

impl Drop for ArtifactPin {
    /// The last use of an artifact marks it used now: the version just
    /// replaced is the last of the unused ones eviction takes.
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = pins.get_mut(&self.artifact) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.artifact);
                mark_used(&self.artifact);
            }
        }
    }
}

/// Set `artifact`'s modification time, which eviction orders by, to now.
fn mark_used(artifact: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(artifact) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// The artifact cache directory and its size cap.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
    pins: Pins,
    /// Whether the pinned artifacts alone were over the cap at the last
    /// eviction (warned once until they fit again).
    over: Arc<AtomicBool>,
    /// The artifacts' total size as of the last listing plus what this
    /// process stored since; `None` until the first listing.
    total: Arc<Mutex<Option<u64>>>,
}

impl ArtifactCache {
    /// The cache in `dir` (created if missing), holding at most `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            max_bytes,
            pins: Pins::default(),
            over: Arc::default(),
            total: Arc::default(),
        })
    }

    fn key(engine: &Engine, component_sha256: &str) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{component_sha256}-{:016x}", hasher.finish())
    }

    fn paths(&self, engine: &Engine, component_sha256: &str) -> (PathBuf, PathBuf) {
        let key = Self::key(engine, component_sha256);
        (
            self.dir.join(format!("{key}.cwasm")),
            self.dir.join(format!("{key}.sha256")),
        )
    }

    /// The cached component of `component_sha256`, with the pin that keeps
    /// its artifact while the component is in use; `None` when no sound
    /// artifact is cached (a bad one is deleted). Blocking: call it off the
    /// async runtime.
    pub fn cached(
        &self,
        engine: &Engine,
        component_sha256: &str,
    ) -> Option<(Component, ArtifactPin)> {
        let (artifact, digest) = self.paths(engine, component_sha256);
        match self.load(engine, &artifact, &digest) {
            Ok(Some(component)) => Some((component, ArtifactPin::new(&self.pins, &artifact))),
            Ok(None) => None,
            Err(reason) => {
                tracing::warn!(artifact = %artifact.display(), %reason, "discarding a bad cached artifact");
                let _ = std::fs::remove_file(&artifact);
                let _ = std::fs::remove_file(&digest);
                None
            }
        }
    }

    /// Compile `bytes` and store the artifact; with the pin that keeps it
    /// while the component is in use (none when it could not be stored).
    /// Blocking: call it off the async runtime.
    pub fn compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256: &str,
    ) -> wasmtime::Result<(Component, Option<ArtifactPin>)> {
        let (artifact, digest) = self.paths(engine, component_sha256);
        let compiled = engine.precompile_component(bytes)?;
        // Pinned before it is written, so that another load's eviction never
        // sees it unpinned.
        let pin = ArtifactPin::new(&self.pins, &artifact);
        match self.store(&artifact, &digest, &compiled) {
            Ok(()) => {
                // Served from the file just written, as a hit is: its code
                // is then mapped from the file (page cache the kernel can
                // reclaim), not a private copy held for the adapter's life.
                // Mapped before eviction, which may remove the file (a
                // mapping outlives its name).
                // SAFETY: the file is in the host's private cache directory
                // and holds `precompile_component`'s output on this engine,
                // written a moment ago.
                #[allow(unsafe_code)]
                let mapped = unsafe { Component::deserialize_file(engine, &artifact) };
                self.evict(compiled.len() as u64);
                match mapped {
                    Ok(component) => return Ok((component, Some(pin))),
                    Err(error) => {
                        tracing::warn!(artifact = %artifact.display(), error = %format!("{error:#}"), "cannot map the artifact just cached");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(artifact = %artifact.display(), %error, "cannot write to the artifact cache");
            }
        }
        drop(pin);
        // SAFETY: the bytes were produced by `precompile_component` on this
        // very engine a moment ago.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, None))
    }

    /// A cached component, `None` when there is none, or why the cached one
    /// cannot be trusted.
    fn load(
        &self,
        engine: &Engine,
        artifact: &Path,
        digest: &Path,
    ) -> Result<Option<Component>, CacheError> {
        let bytes = match std::fs::read(artifact) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let expected = std::fs::read_to_string(digest)?;
        if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
            return Err(CacheError::Digest);
        }
        mark_used(artifact);
        // SAFETY: the file is in the host's private cache directory, was
        // written by `precompile_component` for an engine with the same
        // compatibility hash (part of the key), and its contents were just
        // checked against the digest recorded when it was written.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(engine, artifact) };
        component.map(Some).map_err(CacheError::Deserialize)
    }

    fn store(&self, artifact: &Path, digest: &Path, compiled: &[u8]) -> std::io::Result<()> {
        let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
            let temp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&temp, bytes)?;
            std::fs::rename(&temp, path)
        };
        write(artifact, compiled)?;
        write(digest, hex::encode(Sha256::digest(compiled)).as_bytes())
    }

    /// After an artifact of `added` bytes was stored: when the cache may be
    /// over its cap, delete least recently used artifacts no adapter here
    /// uses until the total fits. The directory is listed only then, not on
    /// every compile: the total is kept from the last listing (artifacts
    /// other processes write into a shared `--cache-dir` are counted at the
    /// next one).
    fn evict(&self, added: u64) {
        {
            let mut total = self.total.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(total) = total.as_mut() {
                *total += added;
                if *total <= self.max_bytes {
                    return;
                }
            }
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut artifacts: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
        artifacts.sort();
        let pinned = self
            .pins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (_, len, path) in artifacts {
            if total <= self.max_bytes {
                break;
            }
            if pinned.contains_key(&path) {
                continue;
            }
            tracing::info!(artifact = %path.display(), "evicting cached artifact");
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("sha256"));
            total -= len;
        }
        *self.total.lock().unwrap_or_else(PoisonError::into_inner) = Some(total);
        let over = total > self.max_bytes;
        if over && !self.over.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                needed_mib = total.div_ceil(1 << 20),
                limit_mib = self.max_bytes >> 20,
                "the loaded adapters' compiled artifacts alone exceed --cache-max-mib; none of them is evicted, so the cache holds more than its limit: raise it to at least the size needed"
            );
        } else if !over {
            self.over.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The smallest component: the preamble, version 0x0d, layer 1.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    /// Whether a file under `dir` is mapped into this process.
    fn mapped_from(dir: &Path) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("readable");
        let dir = dir.display().to_string();
        maps.lines().any(|line| line.contains(&dir))
    }

    #[test]
    fn a_component_compiled_now_is_served_from_its_cached_file() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("cache");
        let cache = ArtifactCache::new(dir.clone(), 1 << 30).expect("cache");
        let engine = Engine::default();
        assert!(
            cache.cached(&engine, "empty").is_none(),
            "nothing cached yet"
        );
        let (component, pin) = cache
            .compile(&engine, EMPTY_COMPONENT, "empty")
            .expect("compiles");
        assert!(pin.is_some(), "stored, so pinned");
        // Mapped from the artifact, not a private copy of the compiled bytes.
        assert!(mapped_from(&dir), "the artifact is not mapped");
        drop(component);
        assert!(cache.cached(&engine, "empty").is_some(), "a hit");
    }

    #[test]
    fn eviction_passes_over_what_is_in_use() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("cache");
        // A cap no artifact fits under: only pins keep one.
        let cache = ArtifactCache::new(dir.clone(), 0).expect("cache");
        let engine = Engine::default();
        let cached = || {
            std::fs::read_dir(&dir)
                .expect("dir")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                })
                .count()
        };
        let (_a, pin_a) = cache.compile(&engine, EMPTY_COMPONENT, "a").expect("a");
        let (_b, pin_b) = cache.compile(&engine, EMPTY_COMPONENT, "b").expect("b");
        assert_eq!(cached(), 2, "both in use, so both kept");
        drop(pin_a);
        let (_c, _pin_c) = cache.compile(&engine, EMPTY_COMPONENT, "c").expect("c");
        assert_eq!(cached(), 2, "a's evicted once unused; b and c kept");
        assert!(pin_b.is_some());
        assert!(cache.cached(&engine, "b").is_some(), "b is still a hit");
        assert!(cache.cached(&engine, "a").is_none(), "a is gone");
    }
}
