//! Reads the WIT package version from `wit/adapter.wit`, so the version the
//! host reports (`crate::WIT_VERSION`) is the one its bindings were
//! generated from, and is written down in one place only.

fn main() {
    // Read at run time, not baked in: one build script binary may serve
    // several checkouts sharing a target directory.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let wit = format!("{dir}/../wit/adapter.wit");
    println!("cargo:rerun-if-changed={wit}");
    let text = std::fs::read_to_string(&wit).expect("reading wit/adapter.wit");
    let version = text
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("package switchboard:adapter@")?
                .strip_suffix(';')
        })
        .expect("wit/adapter.wit declares `package switchboard:adapter@VERSION;`");
    println!("cargo:rustc-env=SWITCHBOARD_WIT_VERSION={version}");
}
