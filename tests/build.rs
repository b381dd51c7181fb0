//! Builds the adapters the tests load (`plugins/testcrm` and the fixtures in
//! `tests/fixtures/`) for `wasm32-wasip2`, in a target directory of their own
//! under `OUT_DIR`, and writes their paths to `OUT_DIR/artifacts.rs`.
//!
//! This is the test-artifacts pattern of wasmtime and Spin: the nested cargo
//! gets a clean environment (no host RUSTFLAGS or clippy wrapper), so what
//! the tests load is what `cargo xtask build` ships.

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// (package, constant name) of every component the tests need.
const COMPONENTS: &[(&str, &str)] = &[
    ("testcrm", "TESTCRM"),
    ("pipedrive", "PIPEDRIVE"),
    ("hostile", "HOSTILE"),
    ("versioned", "VERSIONED_V1"),
    ("legacy", "LEGACY"),
];

/// `versioned` is built a second time with this version, as `VERSIONED_V2`.
const VERSIONED_V2: &str = "2.0.0";

/// `hostile` is built a second time claiming this platform, as `LIAR`: a
/// manifest that lies.
const LIAR_PLATFORM: &str = "testCRM";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("tests/ sits in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target_dir = out_dir.join("wasm");

    for path in [
        "wit",
        "plugins",
        "tests/fixtures",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    let built = target_dir.join("wasm32-wasip2/adapter");
    let artifacts = out_dir.join("components");
    std::fs::create_dir_all(&artifacts).expect("creating the components dir");
    let packages: Vec<&str> = COMPONENTS.iter().map(|(package, _)| *package).collect();
    build(workspace, &target_dir, &packages, "1.0.0", "hostile");

    // Each component is copied under its own name: the second build of
    // `versioned` overwrites its build output.
    let mut generated = String::new();
    let mut record = |package: &str, name: &str| {
        let source = built.join(format!("{package}.wasm"));
        let path = artifacts.join(format!("{}.wasm", name.to_lowercase()));
        std::fs::copy(&source, &path).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        writeln!(
            generated,
            "/// `{package}.wasm`, built from source for wasm32-wasip2."
        )
        .ok();
        writeln!(
            generated,
            "pub const {name}: &str = {:?};",
            path.display().to_string()
        )
        .ok();
    };
    for (package, name) in COMPONENTS {
        record(package, name);
    }
    build(
        workspace,
        &target_dir,
        &["versioned"],
        VERSIONED_V2,
        "hostile",
    );
    record("versioned", "VERSIONED_V2");
    build(workspace, &target_dir, &["hostile"], "1.0.0", LIAR_PLATFORM);
    record("hostile", "LIAR");
    std::fs::write(out_dir.join("artifacts.rs"), generated).expect("writing artifacts.rs");
}

/// `cargo build` the packages for wasm32-wasip2 with a clean environment.
fn build(
    workspace: &std::path::Path,
    target_dir: &std::path::Path,
    packages: &[&str],
    version: &str,
    hostile_platform: &str,
) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(workspace)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "adapter"])
        .env("CARGO_TARGET_DIR", target_dir)
        .env("VERSIONED_FIXTURE_VERSION", version)
        .env("HOSTILE_FIXTURE_PLATFORM", hostile_platform)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    for package in packages {
        build.args(["-p", package]);
    }
    let status = build
        .status()
        .expect("running cargo to build the test adapters");
    assert!(
        status.success(),
        "building the test adapters failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
}
