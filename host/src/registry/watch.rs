//! Watches the plugins directory and tells the registry which adapter files
//! changed.
//!
//! Events pass through a debouncer (notify-debouncer-full), so a burst of
//! writes, or a copy then rename, arrives as one change. Only `NAME.wasm`
//! and `NAME.toml` count: temp names (a leading `.`, or any other extension,
//! such as `NAME.wasm.tmp`) are ignored, so operators can copy to a temp
//! name and rename into place.

use super::Registry;
use notify_debouncer_full::notify::event::{EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Whether a path names an adapter (`NAME.wasm`) or its operator file
/// (`NAME.toml`): the files whose changes reload an adapter.
pub fn is_adapter_file(path: &Path) -> bool {
    !is_hidden(path) && path.extension().is_some_and(|e| e == "wasm" || e == "toml")
}

/// Whether a path names an adapter component (`NAME.wasm`): the files that
/// are loaded.
pub fn is_component(path: &Path) -> bool {
    !is_hidden(path) && path.extension().is_some_and(|e| e == "wasm")
}

/// Dot files are temp names (copy to `.NAME.tmp`, then rename into place).
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// Whether an event changes a file's content or existence. Access events
/// are not changes: counting them would make every load (which reads the
/// file) trigger the next one. Metadata changes (mode, times) are not either.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Any
        | EventKind::Create(_)
        | EventKind::Modify(_)
        | EventKind::Remove(_)
        | EventKind::Other => true,
    }
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
                            .filter(|event| is_change(&event.kind))
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
    use notify_debouncer_full::notify::event::{AccessKind, CreateKind, MetadataKind, RemoveKind};

    #[test]
    fn reads_and_metadata_are_not_changes() {
        assert!(!is_change(&EventKind::Access(AccessKind::Any)));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::Any
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
    }

    #[test]
    fn only_components_load() {
        assert!(is_component(Path::new("/p/testcrm.wasm")));
        for no in ["/p/testcrm.toml", "/p/.testcrm.wasm", "/p/testcrm.wasm.tmp"] {
            assert!(!is_component(Path::new(no)), "{no}");
        }
    }

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
