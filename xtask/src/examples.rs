//! The adapters in other languages (`examples/`) and the SDKs they are
//! written with (`sdk/js`, `sdk/python`): `cargo xtask build --examples`.
//!
//! - **JS/TS:** `npm ci` in `sdk/js` (its `prepare` generates the WIT's
//!   TypeScript types with jco and compiles the SDK) and its unit tests;
//!   then, per example, `npm ci`, a type check (`npm run check`), its unit
//!   tests when it has a `test/` directory (`npm test`), and the SDK's
//!   `switchboard-adapter build` (esbuild, then componentize-js).
//! - **Python:** a virtualenv under `target/python-sdk` with the SDK and
//!   componentize-py from PyPI, the SDK's unit tests against the WIT's
//!   bindings, then the SDK's `switchboard-adapter build` per example.
//!
//! Each component lands at `target/plugins/<name>.wasm`, beside the Rust
//! adapters, written to a temp name and renamed. An example whose output
//! is newer than its sources and its SDK's is not built again.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// (name, directory under `examples/`, entry) of each TypeScript example.
const JS_EXAMPLES: &[(&str, &str)] = &[
    ("jstestcrm", "src/adapter.ts"),
    ("hubspot", "src/adapter.ts"),
];
/// (name, directory, entry module, output directory) of each Python
/// adapter: the examples, and a test fixture written in Python (kept out
/// of `target/plugins`, which `cargo xtask run` serves).
const PYTHON_EXAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "pytestcrm",
        "examples/pytestcrm",
        "app.py",
        "target/plugins",
    ),
    (
        "pynap",
        "tests/fixtures/pynap",
        "app.py",
        "target/test-plugins",
    ),
];

/// Build every example into `target/plugins/`.
pub(crate) fn build(root: &Path) -> Result<()> {
    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    build_js(root, &out)?;
    build_python(root)
}

fn require(program: &str, why: &str) -> Result<()> {
    match Command::new(program).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => bail!(
            "`{program}` is missing: {why}. On Debian: apt-get install nodejs npm python3 python3-venv"
        ),
    }
}

fn build_js(root: &Path, out: &Path) -> Result<()> {
    let why = "the TypeScript and JavaScript examples are built with node and npm";
    require("node", why)?;
    require("npm", why)?;
    let sdk = root.join("sdk/js");
    npm_ci(&sdk)?;
    crate::run(npm(&sdk).arg("test"))?;
    for (name, entry) in JS_EXAMPLES {
        let dir = root.join("examples").join(name);
        let target = out.join(format!("{name}.wasm"));
        if up_to_date(&target, &[&dir, &sdk, &root.join("wit")]) {
            eprintln!("example: target/plugins/{name}.wasm (up to date)");
            continue;
        }
        npm_ci(&dir)?;
        crate::run(npm(&dir).args(["run", "check"]))?;
        if dir.join("test").is_dir() {
            crate::run(npm(&dir).arg("test"))?;
        }
        let staged = out.join(format!(".{name}.wasm.tmp"));
        crate::run(
            npm(&dir)
                .args(["exec", "--", "switchboard-adapter", "build", entry, "-o"])
                .arg(&staged),
        )?;
        std::fs::rename(&staged, &target)?;
        eprintln!("example: target/plugins/{name}.wasm");
    }
    Ok(())
}

fn npm(dir: &Path) -> Command {
    let mut npm = Command::new("npm");
    npm.current_dir(dir);
    npm
}

/// `npm ci` unless `node_modules` is already there.
fn npm_ci(dir: &Path) -> Result<()> {
    if dir.join("node_modules").is_dir() {
        return Ok(());
    }
    crate::run(npm(dir).args(["ci", "--no-audit", "--no-fund"]))
}

fn build_python(root: &Path) -> Result<()> {
    require(
        "python3",
        "the Python examples are built with python3 and pip",
    )?;
    let venv = root.join("target/python-sdk");
    let python = venv.join("bin/python");
    if !python.exists() {
        crate::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("creating a virtualenv (Debian: apt-get install python3-venv)")?;
    }
    let sdk = root.join("sdk/python");
    crate::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(&sdk),
    )?;
    let tool = venv.join("bin/switchboard-adapter");
    let bindings = venv.join("bindings");
    let _ = std::fs::remove_dir_all(&bindings);
    crate::run(Command::new(&tool).arg("bindings").arg(&bindings))?;
    crate::run(
        Command::new(&python)
            .current_dir(&sdk)
            .env("PYTHONPATH", &bindings)
            .args(["-m", "unittest", "discover", "-s", "tests"]),
    )?;
    for (name, dir, entry, out) in PYTHON_EXAMPLES {
        let dir = root.join(dir);
        let out = root.join(out);
        std::fs::create_dir_all(&out)?;
        let target = out.join(format!("{name}.wasm"));
        if up_to_date(&target, &[&dir, &sdk, &root.join("wit")]) {
            eprintln!("example: {} (up to date)", target.display());
            continue;
        }
        let staged = out.join(format!(".{name}.wasm.tmp"));
        crate::run(
            Command::new(&tool)
                .current_dir(&dir)
                .args(["build", entry, "-o"])
                .arg(&staged),
        )?;
        std::fs::rename(&staged, &target)?;
        eprintln!("example: {}", target.display());
    }
    Ok(())
}

/// Whether `output` exists and is newer than every source file under
/// `inputs` (build outputs and installed packages aside).
fn up_to_date(output: &Path, inputs: &[&Path]) -> bool {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return false;
    };
    inputs
        .iter()
        .all(|dir| newest(dir).is_some_and(|newest| newest < built))
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    const SKIP: &[&str] = &["node_modules", "dist", "__pycache__", "generated", "build"];
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let path = entry.path();
            let meta = std::fs::metadata(&path).ok()?;
            if meta.is_dir() {
                let name = entry.file_name();
                let generated = name.to_string_lossy().ends_with(".egg-info");
                if !generated && !SKIP.iter().any(|s| name == *s) {
                    pending.push(path);
                }
            } else {
                newest = newest.max(meta.modified().ok()?);
            }
        }
    }
    Some(newest)
}
