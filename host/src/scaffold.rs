//! `switchboard new`: a working adapter project in Rust, TypeScript,
//! JavaScript or Python, from the templates in `host/templates/` (built
//! into the binary). Each has a manifest, one operation (`get-user-info`),
//! a unit test in its language, a build script and a README, and builds
//! into a component `switchboard check` accepts.
//!
//! The SDKs are not on crates.io, npm or PyPI yet: `--sdk` names a
//! Switchboard checkout, and the project depends on the SDK there by path.
//! Without it, the project names the published version.

use std::path::{Path, PathBuf};

/// The SDKs' version: the WIT version they target.
const SDK_VERSION: &str = "0.2.0";

/// An adapter's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the `switchboard-adapter` crate.
    Rust,
    /// TypeScript, with `@switchboard/adapter` (npm).
    Ts,
    /// JavaScript, with `@switchboard/adapter` (npm).
    Js,
    /// Python, with `switchboard-adapter` (pip).
    Python,
}

/// `switchboard new`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The adapter's language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The project directory to create, and the adapter's platform name
    /// (ASCII letters, digits and `_`, starting with a letter).
    pub name: String,
    /// A Switchboard checkout whose SDKs the project uses (by path).
    #[arg(long, env = "SWITCHBOARD_SDK")]
    pub sdk: Option<PathBuf>,
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a platform name.
    #[error(
        "{0:?} is not a platform name: use 1-64 ASCII letters, digits or '_', starting with a letter"
    )]
    Name(String),
    /// The directory is there already.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// `--sdk` is not a Switchboard checkout.
    #[error("{0} is not a Switchboard checkout (no sdk/ and plugins/sdk/ in it)")]
    Sdk(PathBuf),
    /// Writing the project failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// (path in the project, template, executable) of each language's files.
type Files = &'static [(&'static str, &'static str, bool)];

macro_rules! template {
    ($lang:literal, $path:literal) => {
        include_str!(concat!("../templates/", $lang, "/", $path))
    };
}

const RUST: Files = &[
    ("Cargo.toml", template!("rust", "Cargo.toml"), false),
    ("src/lib.rs", template!("rust", "src/lib.rs"), false),
    ("build.sh", template!("rust", "build.sh"), true),
    ("README.md", template!("rust", "README.md"), false),
    (".gitignore", template!("rust", "gitignore"), false),
];
const TS: Files = &[
    ("package.json", template!("ts", "package.json"), false),
    ("tsconfig.json", template!("ts", "tsconfig.json"), false),
    ("src/adapter.ts", template!("ts", "src/adapter.ts"), false),
    ("src/login.ts", template!("ts", "src/login.ts"), false),
    (
        "test/login.test.ts",
        template!("ts", "test/login.test.ts"),
        false,
    ),
    ("README.md", template!("ts", "README.md"), false),
    (".gitignore", template!("ts", "gitignore"), false),
];
const JS: Files = &[
    ("package.json", template!("js", "package.json"), false),
    ("src/adapter.js", template!("js", "src/adapter.js"), false),
    ("src/login.js", template!("js", "src/login.js"), false),
    (
        "test/login.test.js",
        template!("js", "test/login.test.js"),
        false,
    ),
    ("README.md", template!("js", "README.md"), false),
    (".gitignore", template!("js", "gitignore"), false),
];
const PYTHON: Files = &[
    ("app.py", template!("python", "app.py"), false),
    ("login.py", template!("python", "login.py"), false),
    ("test_login.py", template!("python", "test_login.py"), false),
    (
        "requirements.txt",
        template!("python", "requirements.txt"),
        false,
    ),
    ("build.sh", template!("python", "build.sh"), true),
    ("test.sh", template!("python", "test.sh"), true),
    ("README.md", template!("python", "README.md"), false),
    (".gitignore", template!("python", "gitignore"), false),
];

/// Create the project `args.name` in `parent`; the directory created.
pub fn create(args: &NewArgs, parent: &Path) -> Result<PathBuf, ScaffoldError> {
    let name = &args.name;
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ScaffoldError::Name(name.clone()));
    }
    let sdk = match &args.sdk {
        Some(dir) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            if !dir.join("sdk").is_dir() || !dir.join("plugins/sdk").is_dir() {
                return Err(ScaffoldError::Sdk(dir));
            }
            Some(dir.display().to_string())
        }
        None => None,
    };
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let file = name.to_lowercase();
    let mut type_name = name.clone();
    type_name[..1].make_ascii_uppercase();
    let (rust_sdk, js_sdk, py_sdk) = match &sdk {
        Some(sdk) => (
            format!("{{ path = \"{sdk}/plugins/sdk\" }}"),
            format!("file:{sdk}/sdk/js"),
            format!("{sdk}/sdk/python"),
        ),
        None => (
            format!("\"{SDK_VERSION}\""),
            SDK_VERSION.to_owned(),
            format!("switchboard-adapter=={SDK_VERSION}"),
        ),
    };
    let fill = |template: &str| {
        template
            .replace("{{platform}}", name)
            .replace("{{file}}", &file)
            .replace("{{crate}}", &file)
            .replace("{{type}}", &type_name)
            .replace("{{rust_sdk}}", &rust_sdk)
            .replace("{{js_sdk}}", &js_sdk)
            .replace("{{py_sdk}}", &py_sdk)
    };
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Ts => TS,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    };
    for (path, template, executable) in files {
        write(&dir.join(path), &fill(template), *executable)?;
    }
    Ok(dir)
}

fn write(path: &Path, text: &str, executable: bool) -> Result<(), ScaffoldError> {
    let failed = |source| ScaffoldError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(lang: Lang, name: &str) -> NewArgs {
        NewArgs {
            lang,
            name: name.into(),
            sdk: None,
        }
    }

    #[test]
    fn names_must_be_platform_names_and_new_directories() {
        let parent = tempfile::tempdir().expect("temp dir");
        for bad in ["", "9lives", "my-crm", "a b"] {
            let err = create(&args(Lang::Rust, bad), parent.path()).expect_err(bad);
            assert!(matches!(err, ScaffoldError::Name(_)), "{bad}: {err}");
        }
        let dir = create(&args(Lang::Python, "acmeCRM"), parent.path()).expect("created");
        let app = std::fs::read_to_string(dir.join("app.py")).expect("app.py");
        assert!(app.contains(r#"platform="acmeCRM""#), "{app}");
        let requirements = std::fs::read_to_string(dir.join("requirements.txt")).expect("reqs");
        assert_eq!(requirements.trim(), "switchboard-adapter==0.2.0");
        let again = create(&args(Lang::Python, "acmeCRM"), parent.path()).expect_err("exists");
        assert!(matches!(again, ScaffoldError::Exists(_)), "{again}");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let parent = tempfile::tempdir().expect("temp dir");
        for (lang, files) in [
            (Lang::Rust, RUST),
            (Lang::Ts, TS),
            (Lang::Js, JS),
            (Lang::Python, PYTHON),
        ] {
            let name = format!("{lang:?}Crm");
            let dir = create(&args(lang, &name), parent.path()).expect("created");
            for (path, _, _) in files {
                let text = std::fs::read_to_string(dir.join(path)).expect("written");
                assert!(!text.contains("{{"), "{lang:?} {path}: {text}");
            }
        }
    }
}
