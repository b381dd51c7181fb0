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
//! the least recently used are deleted.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
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

/// The artifact cache directory and its size cap.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl ArtifactCache {
    /// The cache in `dir` (created if missing), holding at most `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, max_bytes })
    }

    fn key(engine: &Engine, component_sha256: &str) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{component_sha256}-{:016x}", hasher.finish())
    }

    /// The component for `bytes`: from the cache when a sound artifact is
    /// there, else compiled and stored. Blocking: call it off the async runtime.
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        component_sha256: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = Self::key(engine, component_sha256);
        let artifact = self.dir.join(format!("{key}.cwasm"));
        let digest = self.dir.join(format!("{key}.sha256"));
        match self.load(engine, &artifact, &digest) {
            Ok(Some(component)) => return Ok((component, CacheOutcome::Hit)),
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(artifact = %artifact.display(), %reason, "discarding a bad cached artifact");
                let _ = std::fs::remove_file(&artifact);
                let _ = std::fs::remove_file(&digest);
            }
        }
        let compiled = engine.precompile_component(bytes)?;
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
                self.evict();
                match mapped {
                    Ok(component) => return Ok((component, CacheOutcome::Compiled)),
                    Err(error) => {
                        tracing::warn!(artifact = %artifact.display(), error = %format!("{error:#}"), "cannot map the artifact just cached");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(artifact = %artifact.display(), %error, "cannot write to the artifact cache");
            }
        }
        // SAFETY: the bytes were produced by `precompile_component` on this
        // very engine a moment ago.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, CacheOutcome::Compiled))
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
        // Mark it recently used, for eviction.
        if let Ok(file) = std::fs::File::options().append(true).open(artifact) {
            let _ = file.set_modified(SystemTime::now());
        }
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

    /// Delete least recently used artifacts until the total fits the cap.
    fn evict(&self) {
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
        for (_, len, path) in artifacts {
            if total <= self.max_bytes {
                break;
            }
            tracing::info!(artifact = %path.display(), "evicting cached artifact");
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("sha256"));
            total -= len;
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
        let (component, outcome) = cache
            .component(&engine, EMPTY_COMPONENT, "empty")
            .expect("compiles");
        assert_eq!(outcome, CacheOutcome::Compiled);
        // Mapped from the artifact, not a private copy of the compiled bytes.
        assert!(mapped_from(&dir), "the artifact is not mapped");
        drop(component);
        let (_again, outcome) = cache
            .component(&engine, EMPTY_COMPONENT, "empty")
            .expect("loads");
        assert_eq!(outcome, CacheOutcome::Hit);
    }
}
