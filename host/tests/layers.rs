//! The dependency rule of `ARCHITECTURE.md`, checked on the source: each
//! layer names only the layers below it, and no file grows past a size a
//! reader can hold.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `host/src/<dir>` (or the file `host/src/<dir>`).
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    let mut pending = vec![root];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("readable dir") {
                pending.push(entry.expect("dir entry").path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("readable source");
            out.push((path, text));
        }
    }
    out
}

/// Fail naming every file of `dir` that mentions one of `forbidden`.
fn assert_never_names(dir: &str, forbidden: &[&str]) {
    let mut found = Vec::new();
    for (path, text) in sources(dir) {
        for name in forbidden {
            if text.contains(name) {
                found.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{dir} breaks the dependency rule:\n{}",
        found.join("\n")
    );
}

#[test]
fn api_depends_on_the_service_only() {
    assert_never_names(
        "api",
        &[
            "runtime::",
            "bindings::",
            "crate::store",
            "crate::registry",
            "wasmtime",
        ],
    );
}

#[test]
fn service_knows_nothing_of_http() {
    assert_never_names("service", &["crate::api", "axum"]);
}

#[test]
fn store_and_registry_stay_below_the_service() {
    assert_never_names(
        "store",
        &[
            "crate::runtime",
            "crate::registry",
            "crate::service",
            "crate::auth",
        ],
    );
    assert_never_names(
        "registry",
        &[
            "crate::service",
            "crate::api",
            "crate::auth",
            "crate::store",
        ],
    );
}

#[test]
fn the_runtime_knows_no_layer_above_it() {
    assert_never_names(
        "runtime",
        &[
            "crate::store",
            "crate::registry",
            "crate::service",
            "crate::api",
            "crate::auth",
        ],
    );
}

#[test]
fn config_sits_below_everything() {
    assert_never_names("config.rs", &["runtime", "crate::store", "crate::service"]);
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = sources("")
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 600)
        .map(|(path, text)| format!("{}: {} lines", path.display(), text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}
