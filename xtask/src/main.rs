//! `cargo xtask`: the project's tasks.
//!
//! - `cargo xtask build [--examples]`: the release server at
//!   `target/release/switchboard` and every adapter under `plugins/` at
//!   `target/plugins/<crate>.wasm`. `--examples` adds the TypeScript and
//!   Python adapters under `examples/` (see `examples`), which needs node,
//!   npm and python3.
//! - `cargo xtask run [-- FLAGS]`: build, then `switchboard serve
//!   --plugins-dir target/plugins [FLAGS]`.
//! - `cargo xtask contract`: the API contract test alone (part of `test`).
//! - `cargo xtask templates`: the project templates' test alone (the last
//!   part of `test`).
//! - `cargo xtask bench [-- --quick]`: every benchmark. The criterion and
//!   in-process benches (`cargo bench -p switchboard-tests`), then the load
//!   and scale benches (`switchboard-bench all`) against the release server.
//!   It installs wrk (Debian's package) when missing, to cross-check the
//!   load generator.
//!   `--quick` runs each once at a tiny size, as CI does, so they stay
//!   working, built with the test profile (debug server, no release
//!   build); the figures it prints mean nothing.
//! - `cargo xtask test [-- ARGS]`: the whole test suite. First the
//!   examples are built (as `build --examples` does, with the SDKs' own
//!   unit tests), since the end-to-end suite loads them. Adapter crates
//!   (plugins and test fixtures) are components: their `cdylib` cannot link
//!   for the host, so their unit tests run as `--lib` only, and everything
//!   else runs as `cargo test --workspace`. The end-to-end tests then run a
//!   second time on PostgreSQL (`SWITCHBOARD_TESTS_STORE=postgres`: each
//!   test's server on a throwaway cluster of its own), which needs
//!   PostgreSQL's server binaries (`initdb`, `pg_ctl`). Last, the API
//!   contract: schemathesis against a live server's own `/openapi.json`
//!   (see `contract`), installed from PyPI on first use; and the project
//!   templates: `switchboard new` in every language, tested, built and
//!   checked (see `templates`).
//!
//! Each installs the `wasm32-wasip2` target first when it is missing. Keep
//! these paths and flags stable: other tooling drives the server through them.

#![allow(clippy::print_stdout, reason = "a task runner reports on stdout")]

mod contract;
mod examples;
mod templates;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";
/// The cargo profile adapters are built with (see the workspace Cargo.toml).
const ADAPTER_PROFILE: &str = "adapter";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.skip_while(|a| a == "--").collect();
    let root = workspace_root();
    match task.as_str() {
        "build" => {
            build(&root)?;
            if rest.iter().any(|a| a == "--examples") {
                examples::build(&root)?;
            }
            Ok(())
        }
        "run" => {
            build(&root)?;
            let server = root.join("target/release/switchboard");
            let mut serve = Command::new(server);
            serve
                .current_dir(&root)
                .args(["serve", "--plugins-dir", "target/plugins"])
                .args(&rest);
            run(&mut serve)
        }
        "test" => test(&root, &rest),
        "contract" => contract::check(&root),
        "templates" => {
            examples::build(&root)?;
            templates::check(&root)
        }
        "bench" => bench(&root, &rest),
        _ => bail!(
            "usage: cargo xtask <build [--examples] | run [-- serve flags] | test [-- cargo test args] | contract | templates | bench [-- --quick]>"
        ),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_owned()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (is Rust installed through rustup?)")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

/// The crates in `dir` (`plugins/`, `tests/fixtures/`) that build to a
/// component (`cdylib`).
fn adapter_crates(dir: &Path) -> Result<Vec<String>> {
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if !text.contains("cdylib") {
            continue;
        }
        let name = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("name = ")
                    .map(|n| n.trim_matches('"').to_owned())
            })
            .with_context(|| format!("no package name in {}", manifest.display()))?;
        crates.push(name);
    }
    crates.sort();
    Ok(crates)
}

/// Every adapter crate: the plugins and the test fixtures.
fn all_adapter_crates(root: &Path) -> Result<Vec<String>> {
    let mut adapters = adapter_crates(&root.join("plugins"))?;
    adapters.extend(adapter_crates(&root.join("tests/fixtures"))?);
    Ok(adapters)
}

/// `--workspace` less the adapter crates: the host-side packages. Every
/// cargo run that selects exactly these resolves the same features, so
/// none rebuilds what another built.
fn host_side_packages(root: &Path) -> Result<Vec<String>> {
    let mut selection = vec!["--workspace".to_owned()];
    for name in all_adapter_crates(root)? {
        selection.extend(["--exclude".to_owned(), name]);
    }
    Ok(selection)
}

/// Build `bins` with the test profile and the tests' package selection, so
/// after the tests this only links: nothing is compiled again.
fn build_debug_bins(root: &Path, bins: &[&str]) -> Result<()> {
    let mut build = Command::new(cargo());
    build
        .current_dir(root)
        .arg("build")
        .args(host_side_packages(root)?);
    for bin in bins {
        build.args(["--bin", bin]);
    }
    run(&mut build)
}

fn test(root: &Path, args: &[String]) -> Result<()> {
    ensure_wasm_target()?;
    // The end-to-end suite loads the examples (and this runs the SDKs'
    // unit tests).
    examples::build(root)?;
    let adapters = all_adapter_crates(root)?;

    let mut totals = Totals::default();
    // The PostgreSQL pass and the contract test select the same packages.
    // `--no-fail-fast`: a failing test binary must not hide the ones after
    // it (a host test failing used to skip the whole end-to-end suite).
    let mut host_side = vec!["test".to_owned(), "--no-fail-fast".to_owned()];
    host_side.extend(host_side_packages(root)?);
    let mut everything_else = Command::new(cargo());
    everything_else.current_dir(root).args(&host_side);
    let first = run_tests(everything_else.args(args), &mut totals);

    let mut adapter_units = Command::new(cargo());
    adapter_units
        .current_dir(root)
        .args(["test", "--no-fail-fast", "--lib"]);
    for name in &adapters {
        adapter_units.args(["-p", name]);
    }
    let second = run_tests(adapter_units.args(args), &mut totals);

    // The end-to-end suite again, every server on PostgreSQL. The tests that
    // start their own clusters (stores::, replicas::) ran in the first pass.
    let mut on_postgres = Command::new(cargo());
    on_postgres
        .current_dir(root)
        .env("SWITCHBOARD_TESTS_STORE", "postgres")
        .args(&host_side)
        .args(["--test", "e2e"])
        .args(args);
    if !args.iter().any(|a| a == "--") {
        on_postgres.arg("--");
    }
    on_postgres.args(["--skip", "stores::", "--skip", "replicas::"]);
    println!("the end-to-end tests again, on PostgreSQL:");
    let third = run_tests(&mut on_postgres, &mut totals);

    // The API against its own OpenAPI document.
    let fourth = contract::check(root);
    if let Err(e) = &fourth {
        println!("the API contract: {e:#}");
    }

    // `switchboard new` in every language builds and passes `check`.
    let fifth = templates::check(root);
    if let Err(e) = &fifth {
        println!("the project templates: {e:#}");
    }

    // One closing line for the whole suite.
    let verdict = |r: &Result<()>| if r.is_ok() { "passed" } else { "FAILED" };
    println!(
        "summary: {} passed, {} failed; API contract: {}; templates: {}",
        totals.passed,
        totals.failed,
        verdict(&fourth),
        verdict(&fifth)
    );
    first.and(second).and(third).and(fourth).and(fifth)
}

/// Tests counted over every libtest `test result:` line.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    /// Count a closing line such as `test result: ok. 3 passed; 0 failed; …`.
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(['.', ';']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next())
                && let Ok(n) = n.parse::<u64>()
            {
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    _ => {}
                }
            }
        }
    }
}

/// Run a `cargo test`, echoing its output and counting its results.
fn run_tests(command: &mut Command, totals: &mut Totals) -> Result<()> {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {command:?}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        totals.add(&line);
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

fn bench(root: &Path, args: &[String]) -> Result<()> {
    ensure_wasm_target()?;
    ensure_wrk();
    // The dispatch bench and `guest-languages` run the TypeScript and
    // Python testCRMs (nothing is built when they are up to date).
    examples::build(root)?;
    if args.iter().any(|a| a == "--quick") {
        return smoke_benches(root);
    }
    run(Command::new(cargo()).current_dir(root).args([
        "bench",
        "-p",
        "switchboard-tests",
        "--benches",
    ]))?;
    run(Command::new(cargo()).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "switchboard",
        "-p",
        "switchboard-bench",
    ]))?;
    run(Command::new(root.join("target/release/switchboard-bench"))
        .current_dir(root)
        .args(["all", "--server", "target/release/switchboard"]))
}

/// Every benchmark once, at a tiny size, to show it still works: built
/// with the test profile and the tests' package selection, so after
/// `cargo xtask test` nothing is compiled again (a release build would
/// take 10 to 20 minutes on a fresh clone). The figures mean nothing.
fn smoke_benches(root: &Path) -> Result<()> {
    // Criterion runs each benchmark once under `cargo test`; the others
    // take `--quick` as "smaller".
    run(Command::new(cargo())
        .current_dir(root)
        .arg("test")
        .args(host_side_packages(root)?)
        .args(["--bench", "*", "--", "--quick"]))?;
    build_debug_bins(root, &["switchboard", "switchboard-bench"])?;
    run(Command::new(root.join("target/debug/switchboard-bench"))
        .current_dir(root)
        .args(["all", "--server", "target/debug/switchboard", "--quick"]))
}

/// wrk cross-checks the HTTP benchmark's load generator. Install it from
/// Debian's packages when missing and possible; the benchmark says so when
/// it is still missing.
fn ensure_wrk() {
    let present = || Command::new("wrk").arg("--version").output().is_ok();
    if present() || Command::new("apt-get").arg("--version").output().is_err() {
        return;
    }
    println!("installing wrk (apt-get install wrk)");
    let installed = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("apt-get")
            .args(["install", "-y", "-qq", "wrk"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    if !installed || !present() {
        println!("could not install wrk; the HTTP benchmark runs without it");
    }
}

fn build(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    run(Command::new(cargo())
        .current_dir(root)
        .args(["build", "--release", "-p", "switchboard"]))?;
    build_adapters(root)?;
    eprintln!("server:  target/release/switchboard");
    Ok(())
}

/// Every adapter under `plugins/`, at `target/plugins/<crate>.wasm`.
fn build_adapters(root: &Path) -> Result<()> {
    let adapters = adapter_crates(&root.join("plugins"))?;
    let mut wasm = Command::new(cargo());
    wasm.current_dir(root).args([
        "build",
        "--target",
        WASM_TARGET,
        "--profile",
        ADAPTER_PROFILE,
    ]);
    for name in &adapters {
        wasm.args(["-p", name]);
    }
    run(&mut wasm)?;

    let out = root.join("target/plugins");
    std::fs::create_dir_all(&out)?;
    for name in &adapters {
        let built = root.join(format!(
            "target/{WASM_TARGET}/{ADAPTER_PROFILE}/{name}.wasm"
        ));
        // Copy then rename, so a running server never sees a half-written file.
        let staged = out.join(format!(".{name}.wasm.tmp"));
        std::fs::copy(&built, &staged).with_context(|| format!("copying {}", built.display()))?;
        std::fs::rename(&staged, out.join(format!("{name}.wasm")))?;
        eprintln!("adapter: target/plugins/{name}.wasm");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn totals_add_up_libtest_closing_lines() {
        let mut totals = Totals::default();
        totals.add("test result: ok. 27 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 13.85s");
        totals
            .add("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");
        totals.add("test something ... ok");
        assert_eq!((totals.passed, totals.failed), (29, 1));
    }
}
