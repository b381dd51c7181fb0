//! Files only their owner may read: the secrets the server generates into
//! its data directory on first start (the JWT secret, the sealing key).

use anyhow::Context as _;
use std::path::Path;

/// The trimmed contents of a private file, or, when there is none yet,
/// `generate()` written to it with mode 0600.
pub fn read_or_create(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let value = generate();
    write_new(path, value.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a secret");
    Ok(value)
}

/// Write a new file (failing if it exists) readable by its owner only.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        assert_eq!(
            read_or_create(&path, || "first".into()).expect("creates"),
            "first"
        );
        assert_eq!(
            read_or_create(&path, || "second".into()).expect("reads"),
            "first"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_new(&path, b"again").is_err(), "never overwrites");
    }
}
