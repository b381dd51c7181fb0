//! Loading one adapter file: its bytes, its operator file beside it, and
//! the runtime's load (compile or cache, link, manifest, settings).

use super::LoadedAdapter;
use super::operator_file::{self, OperatorFileError};
use crate::runtime::{LoadError, Runtime};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Why a file did not load; the file is refused with this reason.
#[derive(Debug, thiserror::Error)]
pub enum LoadFailure {
    /// The component file could not be read.
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// Its operator file cannot apply.
    #[error("operator file {path}: {source}")]
    OperatorFile {
        /// The operator file.
        path: PathBuf,
        /// What is wrong with it.
        source: OperatorFileError,
    },
    /// The runtime refused the component.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The registry stopped before the load could run.
    #[error("registry is shutting down")]
    ShuttingDown,
}

/// Read, configure and load the component at `file`.
pub(super) async fn load_file(
    runtime: &Runtime,
    file: &Path,
) -> Result<LoadedAdapter, LoadFailure> {
    let started = std::time::Instant::now();
    // Read and hashed on the blocking pool: a Python component is 18 MB.
    let owned = file.to_owned();
    let (bytes, sha256) = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(owned)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok((bytes, sha256))
    })
    .await
    .map_err(|e| LoadFailure::Read(std::io::Error::other(e)))?
    .map_err(LoadFailure::Read)?;
    let path = file.with_extension("toml");
    let settings =
        operator_file::read(&path)
            .await
            .map_err(|source| LoadFailure::OperatorFile {
                path: path.clone(),
                source,
            })?;
    let (adapter, cache) = runtime
        .load(bytes, &sha256, settings.runtime.clone())
        .await?;
    Ok(LoadedAdapter {
        adapter,
        file: file.to_owned(),
        sha256,
        loaded_at: SystemTime::now(),
        load_time: started.elapsed(),
        cache,
        settings,
    })
}
