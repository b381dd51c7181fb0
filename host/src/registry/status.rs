//! The operator's view of each adapter file, as the admin API and
//! `switchboard adapters` show it.

use super::FileState;
use crate::clock::rfc3339;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::Ordering;

/// Where one file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Seen, and its first load has not finished yet.
    Loading,
    /// A version of it serves its platform.
    Serving,
    /// Its latest bytes (or operator file) were refused, and no version of
    /// it serves.
    Refused,
    /// It was removed.
    Unloaded,
}

/// The operator's view of one adapter file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterStatus {
    /// The file's path.
    pub file: String,
    /// Where it stands.
    pub status: FileStatus,
    /// The platform it serves, or claimed when it was refused as a duplicate.
    pub platform: Option<String>,
    /// The serving version's manifest version.
    pub version: Option<String>,
    /// The version of the `switchboard:adapter` contract the serving
    /// version was built against.
    pub wit_version: Option<String>,
    /// Hex sha256 of the serving bytes.
    pub sha256: Option<String>,
    /// RFC 3339.
    pub loaded_at: Option<String>,
    /// `hit` when the serving version came from the artifact cache,
    /// `compiled` when it was compiled.
    pub cache: Option<String>,
    /// How long the serving version took to load, in milliseconds.
    #[serde(default)]
    pub load_ms: Option<u64>,
    /// Why the latest bytes (or operator file) of this file were refused.
    pub last_error: Option<String>,
    /// Calls to the serving version.
    pub calls: u64,
    /// Failed calls to the serving version.
    pub errors: u64,
    /// Instances of the serving version kept between calls for their
    /// user's next one (`[runtime] reuse = "per-user"`; otherwise 0).
    #[serde(default)]
    pub kept_instances: u64,
}

/// How many adapter files stand where, for `/healthz`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCounts {
    /// Serving their platform.
    pub loaded: usize,
    /// Seen, and their first load has not finished.
    pub loading: usize,
    /// Refused, with no version of them serving.
    pub refused: usize,
}

impl FileCounts {
    /// Count `statuses`; removed files are not counted.
    pub fn of(statuses: impl IntoIterator<Item = FileStatus>) -> Self {
        let mut counts = Self::default();
        for status in statuses {
            match status {
                FileStatus::Serving => counts.loaded += 1,
                FileStatus::Loading => counts.loading += 1,
                FileStatus::Refused => counts.refused += 1,
                FileStatus::Unloaded => {}
            }
        }
        counts
    }
}

/// Where a file stands.
pub(super) fn status_of(state: &FileState) -> FileStatus {
    match (&state.serving, state.removed, &state.last_error) {
        (Some(_), _, _) => FileStatus::Serving,
        (None, true, _) => FileStatus::Unloaded,
        (None, false, Some(_)) => FileStatus::Refused,
        (None, false, None) => FileStatus::Loading,
    }
}

/// The status of the file at `path`.
pub(super) fn of(path: &Path, state: &FileState) -> AdapterStatus {
    let file = path.display().to_string();
    let status = status_of(state);
    let serving = state.serving.as_deref();
    let manifest = serving.map(|a| a.adapter.manifest());
    AdapterStatus {
        file,
        status,
        platform: manifest
            .map(|m| m.platform.clone())
            .or_else(|| state.claimed.clone()),
        version: manifest.map(|m| m.version.clone()),
        wit_version: serving.map(|a| a.adapter.wit_version().as_str().to_owned()),
        sha256: serving.map(|a| a.sha256.clone()),
        loaded_at: serving.map(|a| rfc3339(a.loaded_at)),
        cache: serving.map(|a| a.cache.as_str().to_owned()),
        load_ms: serving.map(|a| u64::try_from(a.load_time.as_millis()).unwrap_or(u64::MAX)),
        last_error: state.last_error.clone(),
        calls: serving.map_or(0, |a| a.adapter.stats().calls.load(Ordering::Relaxed)),
        errors: serving.map_or(0, |a| a.adapter.stats().errors.load(Ordering::Relaxed)),
        kept_instances: serving.map_or(0, |a| a.adapter.kept_instances() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_loading_until_it_serves_or_is_refused() {
        let path = Path::new("/p/x.wasm");
        let mut state = FileState::default();
        assert_eq!(of(path, &state).status, FileStatus::Loading);
        state.last_error = Some("bad".into());
        state.claimed = Some("testCRM".into());
        let refused = of(path, &state);
        assert_eq!(refused.status, FileStatus::Refused);
        assert_eq!(refused.platform.as_deref(), Some("testCRM"));
        assert_eq!(refused.wit_version, None);
        state.removed = true;
        assert_eq!(of(path, &state).status, FileStatus::Unloaded);
    }
}
