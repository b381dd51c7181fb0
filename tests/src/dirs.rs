//! A test's plugins and data directories, and what it reads back from
//! them: the server's SQLite file and what adapters stored in it.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// A temp plugins dir and data dir, kept across server restarts.
#[derive(Debug)]
pub struct Dirs {
    _root: tempfile::TempDir,
    /// The plugins directory the server watches.
    pub plugins: PathBuf,
    /// The data directory (SQLite file, secrets, artifact cache).
    pub data: PathBuf,
}

impl Dirs {
    /// Fresh dirs with the given components copied into the plugins dir.
    pub fn with_adapters(components: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join("plugins");
        let data = root.path().join("data");
        std::fs::create_dir_all(&plugins).unwrap();
        let dirs = Self {
            _root: root,
            plugins,
            data,
        };
        for component in components {
            dirs.add_adapter(component);
        }
        dirs
    }

    /// Copy `component` into the plugins dir under its own name.
    pub fn add_adapter(&self, component: &str) {
        let name = Path::new(component).file_name().unwrap();
        std::fs::copy(component, self.plugins.join(name)).unwrap();
    }

    /// Put `component` in place as `name` the way operators should: copy to
    /// a temp name, then rename.
    pub fn install(&self, component: &str, name: &str) {
        let temp = self.plugins.join(format!(".{name}.tmp"));
        std::fs::copy(component, &temp).unwrap();
        std::fs::rename(&temp, self.plugins.join(name)).unwrap();
    }

    /// Write bytes over `name` in place (no rename).
    pub fn overwrite(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.plugins.join(name), bytes).unwrap();
    }

    /// Delete `name` from the plugins dir.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.plugins.join(name)).unwrap();
    }

    /// Delete the plugins-dir copy of `component`.
    pub fn remove_adapter(&self, component: &str) {
        let name = Path::new(component).file_name().unwrap();
        std::fs::remove_file(self.plugins.join(name)).unwrap();
    }

    /// The server's SQLite file, opened read-only.
    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.data.join("switchboard.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The keys an adapter stored under `prefix`, read straight from the
    /// SQLite file, in order.
    pub async fn kv_keys(&self, platform: &str, prefix: &str) -> Vec<String> {
        self.database()
            .prepare("SELECT key FROM adapter_kv WHERE platform = ?1 AND key LIKE ?2 ORDER BY key")
            .unwrap()
            .query_map([platform, &format!("{prefix}%")], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// testCRM's stored call-log records, read straight from the SQLite file.
    pub async fn testcrm_records(&self) -> Vec<Value> {
        let rows: Vec<Vec<u8>> = self
            .database()
            .prepare(
                "SELECT CAST(value AS BLOB) FROM adapter_kv
                 WHERE platform = 'testCRM' AND key LIKE 'calllog/%' ORDER BY key",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.iter()
            .map(|r| serde_json::from_slice(r).unwrap())
            .collect()
    }
}
