//! The project templates' test: `switchboard new --lang L` for every
//! language, then, in each project, its own unit tests and build script,
//! and `switchboard check` on what it built. Each project uses the SDKs of
//! this checkout (`--sdk`). Run by `cargo xtask test` after the examples
//! (whose build installs the JS SDK and the Python virtualenv it uses).

use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Create, test, build and check a project in every language.
pub(crate) fn check(root: &Path) -> Result<()> {
    crate::build_debug_bins(root, &["switchboard"])?;
    let switchboard = root.join("target/debug/switchboard");
    let work = root.join("target/template-projects");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let venv_bin = root.join("target/python-sdk/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // (language, project name, the steps in the project, what they build)
    let languages: [(&str, &str, &[&[&str]], &str); 4] = [
        (
            "rust",
            "rustTemplate",
            &[&["cargo", "test", "--quiet"], &["./build.sh"]],
            "rusttemplate.wasm",
        ),
        (
            "ts",
            "tsTemplate",
            &[
                &["npm", "install", "--no-audit", "--no-fund"],
                &["npm", "test"],
                &["npm", "run", "check"],
                &["npm", "run", "build"],
            ],
            "tstemplate.wasm",
        ),
        (
            "js",
            "jsTemplate",
            &[
                &["npm", "install", "--no-audit", "--no-fund"],
                &["npm", "test"],
                &["npm", "run", "build"],
            ],
            "jstemplate.wasm",
        ),
        (
            "python",
            "pythonTemplate",
            &[&["./test.sh"], &["./build.sh"]],
            "pythontemplate.wasm",
        ),
    ];
    for (lang, name, steps, built) in languages {
        println!("template {lang}: switchboard new --lang {lang} {name}");
        crate::run(
            Command::new(&switchboard)
                .current_dir(&work)
                .args(["new", "--lang", lang, name, "--sdk"])
                .arg(root),
        )?;
        let project = work.join(name);
        for step in steps {
            crate::run(
                Command::new(step[0])
                    .args(&step[1..])
                    .current_dir(&project)
                    .env("PATH", &path)
                    // The Rust project's dependencies build once per checkout.
                    .env("CARGO_TARGET_DIR", root.join("target/template"))
                    // The test's own RUSTFLAGS/wrappers are not the project's.
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_ENCODED_RUSTFLAGS"),
            )
            .with_context(|| format!("template {lang}"))?;
        }
        crate::run(
            Command::new(&switchboard)
                .arg("check")
                .arg(project.join(built)),
        )
        .with_context(|| format!("template {lang}"))?;
        println!("template {lang}: passed");
    }
    Ok(())
}
