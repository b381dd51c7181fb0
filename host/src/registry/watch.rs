//! Watches the plugins directory and tells the registry which adapter files
//! changed.
//!
//! Events pass through a debouncer (notify-debouncer-full), so a burst of
//! writes, or a copy then rename, arrives as one change. Only `NAME.wasm`
//! and `NAME.toml` count: temp names (a leading `.`, or any other extension,
//! such as `NAME.wasm.tmp`) are ignored, so operators can copy to a temp
//! name and rename into place.

use super::Registry;
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Whether a path names an adapter (`NAME.wasm`) or its operator file
/// (`NAME.toml`).
pub fn is_adapter_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden && path.extension().is_some_and(|e| e == "wasm" || e == "toml")
}

/// The running watch; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

impl Watcher {
    pub(super) fn start(
        dir: &Path,
        debounce: Duration,
        registry: Arc<Registry>,
    ) -> anyhow::Result<Self> {
        let mut debouncer =
            new_debouncer(
                debounce,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        let paths: BTreeSet<_> = events
                            .iter()
                            .flat_map(|event| event.paths.iter())
                            .filter(|path| is_adapter_file(path))
                            .cloned()
                            .collect();
                        for path in paths {
                            registry.changed(path);
                        }
                    }
                    Err(errors) => {
                        for error in errors {
                            tracing::warn!(%error, "plugins directory watch error");
                        }
                    }
                },
            )?;
        debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(Self {
            _debouncer: debouncer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_adapter_and_operator_files_count() {
        for yes in ["/p/testcrm.wasm", "/p/testcrm.toml"] {
            assert!(is_adapter_file(Path::new(yes)), "{yes}");
        }
        for no in [
            "/p/.testcrm.wasm",
            "/p/testcrm.wasm.tmp",
            "/p/notes.txt",
            "/p/.x.toml",
            "/p/wasm",
        ] {
            assert!(!is_adapter_file(Path::new(no)), "{no}");
        }
    }
}
