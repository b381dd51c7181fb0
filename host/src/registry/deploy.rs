//! Adapters deployed through the admin API (`switchboard deploy`): an
//! upload is checked as `switchboard check` checks a file, by the server's
//! own runtime and limits ([`Registry::check_upload`]), and only then
//! written into the plugins directory, atomically (a temp file, then a
//! rename: [`install`]), where the watcher loads it like any other change.
//! A refused upload changes nothing. [`uninstall`] removes one the same
//! way. Replicas of a fleet install what another accepted (the service's
//! `deploys`).

use super::Registry;
use super::operator_file::{self, OperatorFileError};
use crate::runtime::LoadError;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Why an upload or a removal was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The name cannot be a file name in the plugins directory.
    #[error("{0:?} is not an adapter name: use letters, digits, '-' and '_' (the file's stem)")]
    BadName(String),
    /// The uploaded operator file (or the one beside the component) cannot apply.
    #[error("operator file: {0}")]
    OperatorFile(#[from] OperatorFileError),
    /// The runtime refused the component.
    #[error("{0}")]
    Refused(#[from] LoadError),
    /// Another file serves the platform the component claims.
    #[error(
        "platform {platform} is served by {file}: upload under that name to replace it, or remove it first"
    )]
    Claimed {
        /// The platform.
        platform: String,
        /// The file serving it.
        file: String,
    },
    /// There is no such adapter file.
    #[error("no adapter file {0}.wasm")]
    NotFound(String),
    /// Writing or removing the file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        error: std::io::Error,
    },
}

/// What an accepted upload is.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The file written, `NAME.wasm`.
    pub file: String,
    /// The platform its manifest names.
    pub platform: String,
    /// Its manifest's version.
    pub version: String,
    /// Hex sha256 of the component, as the admin API shows it once serving.
    pub sha256: String,
}

/// `name` as a file stem, or why not.
fn check_name(name: &str) -> Result<(), DeployError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(DeployError::BadName(name.to_owned()))
    }
}

impl Registry {
    /// Check `component` (with `config` as its operator file, or else the
    /// one already beside it) as it would load here as `<name>.wasm`: what
    /// it is, or why it would be refused. Nothing is written.
    pub async fn check_upload(
        &self,
        name: &str,
        component: &[u8],
        config: Option<&str>,
    ) -> Result<Deployed, DeployError> {
        check_name(name)?;
        let file = self.dir.join(format!("{name}.wasm"));
        let settings = match config {
            Some(text) => operator_file::parse(text, |var| std::env::var(var).ok(), &self.dir)?,
            None => operator_file::read(&file.with_extension("toml")).await?,
        };
        let sha256 = hex::encode(Sha256::digest(component));
        // The load the watcher will make, made now: same runtime, limits and
        // settings; its compiled artifact is cached for that load.
        let (adapter, _) = self
            .runtime
            .load(component.to_vec(), &sha256, settings.runtime)
            .await?;
        let manifest = adapter.manifest();
        if let Some(holder) = self.get(&manifest.platform)
            && holder.file != file
        {
            return Err(DeployError::Claimed {
                platform: manifest.platform.clone(),
                file: file_name(&holder.file),
            });
        }
        Ok(Deployed {
            file: file_name(&file),
            platform: manifest.platform.clone(),
            version: manifest.version.clone(),
            sha256,
        })
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Write `component` to `<dir>/<name>.wasm`, and `config` (when given) to
/// `<name>.toml`: each through a temp file beside it (a name the watcher
/// ignores) and a rename, the operator file first, so that the load the
/// component's rename starts reads both new.
pub fn install(
    dir: &Path,
    name: &str,
    component: &[u8],
    config: Option<&str>,
) -> Result<(), DeployError> {
    check_name(name)?;
    let file = dir.join(format!("{name}.wasm"));
    if let Some(text) = config {
        write_atomically(&file.with_extension("toml"), text.as_bytes())?;
    }
    write_atomically(&file, component)?;
    tracing::info!(file = %file.display(), sha256 = %hex::encode(Sha256::digest(component)), "adapter deployed");
    Ok(())
}

/// Remove `<dir>/<name>.wasm` and its operator file; the watcher unloads
/// it. [`DeployError::NotFound`] when there is no such file.
pub fn uninstall(dir: &Path, name: &str) -> Result<(), DeployError> {
    check_name(name)?;
    let file = dir.join(format!("{name}.wasm"));
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DeployError::NotFound(name.to_owned()));
        }
        Err(error) => return Err(io_error(&file, error)),
    }
    let operator_file = file.with_extension("toml");
    match std::fs::remove_file(&operator_file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %operator_file.display(), error = %e, "removing an operator file");
        }
        _ => {}
    }
    tracing::info!(file = %file.display(), "adapter removed");
    Ok(())
}

/// What `<dir>/<name>.wasm` and its operator file hold now: the
/// component's hex sha256 and the operator file's text (`None` for a file
/// that is not there).
pub fn installed(dir: &Path, name: &str) -> (Option<String>, Option<String>) {
    let file = dir.join(format!("{name}.wasm"));
    let sha256 = std::fs::read(&file)
        .ok()
        .map(|bytes| hex::encode(Sha256::digest(bytes)));
    let config = std::fs::read_to_string(file.with_extension("toml")).ok();
    (sha256, config)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn io_error(path: &Path, error: std::io::Error) -> DeployError {
    DeployError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Write `bytes` to `path` through a temp file beside it (a name the
/// watcher ignores), synced, then renamed over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let temp: PathBuf = path.with_file_name(format!(
        ".{}.{:016x}.upload",
        file_name(path),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut out = std::fs::File::create(&temp)?;
        out.write_all(bytes)?;
        out.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(path, error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_stems_and_nothing_else() {
        for good in ["testcrm", "hub-spot_2", "v1.2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "../etc", "a/b", "a b", "x\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
