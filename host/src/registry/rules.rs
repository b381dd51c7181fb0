//! The registry's decisions, apart from the task that carries them out, so
//! each rule can be checked on its own: which load result counts, when a
//! file is refused, when a platform changes hands, and who gets a platform
//! back when its file is removed.

use super::operator_file::AdapterSettings;
use super::{FileState, LoadFailure, LoadedAdapter};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// What identifies a loaded version for these rules.
#[derive(Debug, Clone, Copy)]
pub(super) struct Identity<'a> {
    pub(super) platform: &'a str,
    pub(super) sha256: &'a str,
    pub(super) settings: &'a AdapterSettings,
}

impl LoadedAdapter {
    pub(super) fn identity(&self) -> Identity<'_> {
        Identity {
            platform: &self.adapter.manifest().platform,
            sha256: &self.sha256,
            settings: &self.settings,
        }
    }
}

/// What to do with a finished load of one file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// A newer change of the file is loading: this result is dropped.
    Stale,
    /// The file is refused; whatever it served keeps serving. `claimed` is
    /// the platform it tried to take from another file.
    Refuse {
        reason: String,
        claimed: Option<String>,
    },
    /// The same bytes and settings as what serves (a repeated event): keep
    /// the serving version, its load time and its counts.
    Unchanged,
    /// Serve the new version; `retire` is the platform this file served
    /// until now, when it is another.
    Serve { retire: Option<String> },
}

/// Decide what a load of `file` means.
///
/// - `generation` is the change the load was for; `latest` the file's newest.
/// - `serving` is what the file serves now.
/// - `holder` is the file serving the loaded version's platform now, if any.
pub(super) fn decide(
    file: &Path,
    latest: u64,
    generation: u64,
    serving: Option<Identity<'_>>,
    loaded: Result<Identity<'_>, &dyn Display>,
    holder: Option<&Path>,
) -> Decision {
    if generation != latest {
        return Decision::Stale;
    }
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            return Decision::Refuse {
                reason: error.to_string(),
                claimed: None,
            };
        }
    };
    if let Some(current) = serving
        && current.sha256 == loaded.sha256
        && current.settings == loaded.settings
    {
        return Decision::Unchanged;
    }
    if let Some(other) = holder.filter(|other| *other != file) {
        return Decision::Refuse {
            reason: format!(
                "platform {} is already served by {}",
                loaded.platform,
                other.display()
            ),
            claimed: Some(loaded.platform.to_owned()),
        };
    }
    Decision::Serve {
        retire: serving
            .map(|current| current.platform)
            .filter(|previous| *previous != loaded.platform)
            .map(str::to_owned),
    }
}

/// Whether a file is named for the platform it claims (`testcrm.wasm` for
/// `testCRM`): at start-up such files are applied first, so they win a
/// platform that another file's manifest also claims.
pub(super) fn named_for(file: &Path, platform: &str) -> bool {
    file.file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|stem| platform.eq_ignore_ascii_case(stem))
}

/// Which start-up results may be applied now, in the order to apply them,
/// while the files in `loading` have not finished: the duplicate-platform
/// rule must come out as if every result were applied at once, files named
/// for their platform first, then by file name.
///
/// - A refused load claims nothing: it applies at once.
/// - A file named for its platform (`testcrm.wasm` for `testCRM`) applies
///   at once, unless a file before it by name, also named for that
///   platform (`TestCRM.wasm`), is still loading.
/// - Any other file waits for every file before it by name, and for any
///   file named for its platform: one of those may claim it first.
///
/// So a file named for its platform serves as soon as it loads, however
/// long the others take.
pub(super) fn applicable_at_startup(
    done: &BTreeMap<PathBuf, Result<Box<LoadedAdapter>, LoadFailure>>,
    loading: &BTreeSet<PathBuf>,
) -> Vec<PathBuf> {
    let mut ready: Vec<(bool, &PathBuf)> = done
        .iter()
        .filter_map(|(file, result)| {
            let Ok(loaded) = result else {
                return Some((false, file));
            };
            let platform = &loaded.adapter.manifest().platform;
            // Files load in name order, so few still loading sort before
            // this one: look at those first, and at the rest only for a file
            // not named for its platform.
            let named = named_for(file, platform);
            let before_file = (Bound::Unbounded, Bound::Excluded(file.as_path()));
            let mut before = loading.range::<Path, _>(before_file);
            let blocked = if named {
                before.any(|other| named_for(other, platform))
            } else {
                before.next().is_some() || loading.iter().any(|other| named_for(other, platform))
            };
            (!blocked).then_some((!named, file))
        })
        .collect();
    // Named for their platform first; then by name (the map's order; the
    // sort is stable).
    ready.sort_by_key(|(unnamed, _)| *unnamed);
    ready.into_iter().map(|(_, file)| file.clone()).collect()
}

/// The file that gets `platform` back when its serving file is removed: the
/// first, by file name, that was refused for claiming it.
pub(super) fn next_claimant(
    files: &BTreeMap<PathBuf, FileState>,
    platform: &str,
) -> Option<PathBuf> {
    files
        .iter()
        .find(|(_, state)| state.claimed.as_deref() == Some(platform))
        .map(|(path, _)| path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity<'a>(
        platform: &'a str,
        sha256: &'a str,
        settings: &'a AdapterSettings,
    ) -> Identity<'a> {
        Identity {
            platform,
            sha256,
            settings,
        }
    }

    #[test]
    fn only_the_newest_load_of_a_file_counts() {
        let settings = AdapterSettings::default();
        let file = Path::new("/p/a.wasm");
        let new = identity("a", "2", &settings);
        assert_eq!(decide(file, 3, 2, None, Ok(new), None), Decision::Stale);
        assert_eq!(
            decide(file, 3, 3, None, Ok(new), None),
            Decision::Serve { retire: None }
        );
    }

    #[test]
    fn a_refused_load_leaves_the_serving_version_in_place() {
        let settings = AdapterSettings::default();
        let file = Path::new("/p/a.wasm");
        let serving = identity("a", "1", &settings);
        let failure = LoadFailure::ShuttingDown;
        let decision = decide(file, 1, 1, Some(serving), Err(&failure), Some(file));
        assert_eq!(
            decision,
            Decision::Refuse {
                reason: "registry is shutting down".into(),
                claimed: None
            }
        );
    }

    #[test]
    fn a_platform_stays_with_the_file_serving_it() {
        let settings = AdapterSettings::default();
        let (first, second) = (Path::new("/p/a.wasm"), Path::new("/p/b.wasm"));
        let claim = identity("a", "9", &settings);
        let Decision::Refuse { reason, claimed } =
            decide(second, 1, 1, None, Ok(claim), Some(first))
        else {
            panic!("a second file cannot take a served platform");
        };
        assert_eq!(claimed.as_deref(), Some("a"));
        assert!(reason.contains("already served by /p/a.wasm"), "{reason}");
        // The serving file itself may replace its version.
        let serving = identity("a", "1", &settings);
        assert_eq!(
            decide(first, 1, 1, Some(serving), Ok(claim), Some(first)),
            Decision::Serve { retire: None }
        );
    }

    #[test]
    fn the_same_bytes_and_settings_change_nothing() {
        let settings = AdapterSettings::default();
        let file = Path::new("/p/a.wasm");
        let serving = identity("a", "1", &settings);
        assert_eq!(
            decide(file, 1, 1, Some(serving), Ok(serving), Some(file)),
            Decision::Unchanged
        );
        let mut other = AdapterSettings::default();
        other.runtime.limits.max_requests = Some(5);
        assert_eq!(
            decide(
                file,
                1,
                1,
                Some(serving),
                Ok(identity("a", "1", &other)),
                Some(file)
            ),
            Decision::Serve { retire: None },
            "new settings reload"
        );
    }

    #[test]
    fn a_file_that_changes_platform_retires_the_old_one() {
        let settings = AdapterSettings::default();
        let file = Path::new("/p/a.wasm");
        let serving = identity("old", "1", &settings);
        assert_eq!(
            decide(
                file,
                1,
                1,
                Some(serving),
                Ok(identity("new", "2", &settings)),
                None
            ),
            Decision::Serve {
                retire: Some("old".into())
            }
        );
    }

    #[test]
    fn files_named_for_their_platform_come_first_and_claimants_wait_in_name_order() {
        assert!(named_for(Path::new("/p/testcrm.wasm"), "testCRM"));
        assert!(!named_for(Path::new("/p/liar.wasm"), "testCRM"));
        let mut files = BTreeMap::new();
        for (name, claimed) in [
            ("c.wasm", Some("x")),
            ("b.wasm", Some("x")),
            ("a.wasm", None),
        ] {
            files.insert(
                PathBuf::from(name),
                FileState {
                    claimed: claimed.map(str::to_owned),
                    ..FileState::default()
                },
            );
        }
        assert_eq!(next_claimant(&files, "x"), Some(PathBuf::from("b.wasm")));
        assert_eq!(next_claimant(&files, "y"), None);
    }
}
