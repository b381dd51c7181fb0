//! A test's plugins and data directories and its database, and what it
//! reads back from them: the server's rows and what adapters stored.
//!
//! The database is the SQLite file in the data directory, unless the
//! environment says [`STORE_ENV`]`=postgres`: then each `Dirs` has a
//! throwaway PostgreSQL cluster of its own, and every server started on it
//! uses that (the suite runs once on each store; `cargo xtask test` does
//! both).

use crate::postgres::Postgres;
use serde_json::Value;
use sqlx::Row as _;
use std::path::{Path, PathBuf};

/// The environment variable that selects the store the suite runs on:
/// `sqlite` (the default) or `postgres`.
pub const STORE_ENV: &str = "SWITCHBOARD_TESTS_STORE";

/// A temp plugins dir and data dir, kept across server restarts, and the
/// PostgreSQL cluster when the suite runs on PostgreSQL.
#[derive(Debug)]
pub struct Dirs {
    _root: tempfile::TempDir,
    /// The plugins directory the server watches.
    pub plugins: PathBuf,
    /// The data directory (SQLite file, secrets, artifact cache).
    pub data: PathBuf,
    /// The database servers on these dirs use, when it is PostgreSQL.
    pub postgres: Option<Postgres>,
}

impl Dirs {
    /// Fresh dirs with the given components copied into the plugins dir.
    pub fn with_adapters(components: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join("plugins");
        let data = root.path().join("data");
        std::fs::create_dir_all(&plugins).unwrap();
        let on_postgres = std::env::var(STORE_ENV).is_ok_and(|store| store == "postgres");
        let dirs = Self {
            _root: root,
            plugins,
            data,
            postgres: on_postgres.then(Postgres::start),
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

    /// Give adapter `name` the host's OAuth app: `[oauth]` in `NAME.toml`
    /// with `client_id`, the secret in a file beside it, and `extra` lines.
    pub fn configure_oauth(&self, name: &str, client_id: &str, secret: &str, extra: &str) {
        let secret_file = format!("{name}-client-secret");
        std::fs::write(self.plugins.join(&secret_file), secret).unwrap();
        std::fs::write(
            self.plugins.join(format!("{name}.toml")),
            format!(
                "[oauth]\nclient_id = \"{client_id}\"\nclient_secret_file = \"{secret_file}\"\n{extra}"
            ),
        )
        .unwrap();
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

    /// `(key, value)` of an adapter's kv entries whose key starts with
    /// `prefix`, by key, read straight from the database.
    async fn kv_entries(&self, platform: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let like = format!("{prefix}%");
        if let Some(pg) = &self.postgres {
            let rows = sqlx::query(
                "SELECT key, value FROM adapter_kv WHERE platform = $1 AND key LIKE $2 ORDER BY key",
            )
            .bind(platform)
            .bind(&like)
            .fetch_all(&pg.pool().await)
            .await
            .unwrap();
            return rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        }
        self.database()
            .prepare(
                "SELECT key, CAST(value AS BLOB) FROM adapter_kv
                 WHERE platform = ?1 AND key LIKE ?2 ORDER BY key",
            )
            .unwrap()
            .query_map([platform, &like], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `(key, JSON value)` of an adapter's kv entries under `prefix`, by key.
    pub async fn kv_json(&self, platform: &str, prefix: &str) -> Vec<(String, Value)> {
        let entries = self.kv_entries(platform, prefix).await;
        entries
            .into_iter()
            .map(|(key, value)| (key, serde_json::from_slice(&value).unwrap()))
            .collect()
    }

    /// The keys an adapter stored under `prefix`, in order.
    pub async fn kv_keys(&self, platform: &str, prefix: &str) -> Vec<String> {
        let entries = self.kv_entries(platform, prefix).await;
        entries.into_iter().map(|(key, _)| key).collect()
    }

    /// testCRM's stored call-log records.
    pub async fn testcrm_records(&self) -> Vec<Value> {
        let entries = self.kv_entries("testCRM", "calllog/").await;
        entries
            .iter()
            .map(|(_, value)| serde_json::from_slice(value).unwrap())
            .collect()
    }

    /// testCRM's stored message-log records (one per conversation-day).
    pub async fn testcrm_message_logs(&self) -> Vec<Value> {
        let entries = self.kv_entries("testCRM", "messagelog/").await;
        entries
            .iter()
            .map(|(_, value)| serde_json::from_slice(value).unwrap())
            .collect()
    }

    /// The message ids the server recorded as logged, by id.
    pub async fn logged_message_ids(&self) -> Vec<String> {
        let sql = "SELECT message_id FROM message_logs ORDER BY message_id";
        if let Some(pg) = &self.postgres {
            let rows = sqlx::query(sql).fetch_all(&pg.pool().await).await.unwrap();
            return rows.iter().map(|r| r.get(0)).collect();
        }
        self.database()
            .prepare(sql)
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `(credential_kind, credential, refresh_token)` of every user, as
    /// stored (sealed).
    pub async fn stored_credentials(&self) -> Vec<(String, Option<String>, Option<String>)> {
        let sql = "SELECT credential_kind, credential, refresh_token FROM users";
        if let Some(pg) = &self.postgres {
            let rows = sqlx::query(sql).fetch_all(&pg.pool().await).await.unwrap();
            return rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
        }
        self.database()
            .prepare(sql)
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}
