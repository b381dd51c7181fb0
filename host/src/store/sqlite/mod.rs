//! The embedded SQLite store (WAL, `synchronous = FULL`), on rusqlite, with
//! its migrations embedded in the binary.
//!
//! - **Writes** go through [`Writer`]: one connection on a thread of its
//!   own, group commit.
//! - **Reads** run on the calling task's thread, on a connection taken from
//!   a small pool ([`readers`]). They are indexed point lookups on a WAL
//!   database, which never wait for the writer, so they take microseconds; a
//!   hand-off to another thread would cost more than the read.
//!
//! Durability: a write is acknowledged only after its transaction is in the
//! WAL and fsynced, so an acknowledged create survives a process kill and a
//! power loss.
//!
//! Credentials are sealed ([`super::sealed`]) on the way in and opened on the
//! way out ([`sealing`]); nothing else in the process sees them sealed.
//!
//! The rooms: [`migrate`] (schema), [`readers`] (the read pool), [`sealing`]
//! (credentials at rest, key checks and rotation), [`users`], [`call_logs`]
//! and [`kv`] (adapters' key-value data).

mod call_logs;
mod kv;
mod message_logs;
mod migrate;
mod readers;
mod sealing;
mod users;

use super::sealed::Sealer;
use super::user_cache::UserCache;
use super::writer::Writer;
use super::{
    CallLogKey, CallLogRow, ConversationKey, ConversationReservation, Deployment, OAuthTokens,
    PoolStats, ReplicaRecord, Reservation, Result, Store, StoreHealth, User, UserLock,
};
use crate::kv::KvWrites;
use anyhow::Context as _;
use async_trait::async_trait;
use readers::Readers;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Most writes that share one transaction (and one fsync).
const MAX_WRITE_BATCH: usize = 512;
/// How long a connection waits for a lock another process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 64;

/// A SQLite database shared by the whole process.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Arc<Readers>,
    in_flight: Arc<call_logs::InFlight>,
    conversations: Arc<message_logs::Conversations>,
    users: Arc<UserCache>,
    writer: Writer,
    sealer: Sealer,
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names.
fn database_path(url: &str) -> anyhow::Result<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .with_context(|| format!("not a sqlite:// database URL: {url}"))?;
    // Options after `?` (as in sqlx URLs) are not used: the store sets its own.
    let path = path.split('?').next().unwrap_or_default();
    anyhow::ensure!(!path.is_empty(), "no file in database URL {url}");
    Ok(PathBuf::from(path))
}

/// What every connection, reader or writer, is set up with.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the database at `url`
    /// (`sqlite://path`). Credentials are sealed with `sealer`; start-up fails
    /// when the stored ones were sealed with another key.
    pub async fn open(url: &str, sealer: Sealer) -> anyhow::Result<Self> {
        let path = database_path(url)?;
        let opening = path.clone();
        let connection =
            tokio::task::spawn_blocking(move || migrate::open_writer(&opening)).await??;
        let writer = Writer::start(connection, MAX_WRITE_BATCH)?;
        let store = Self {
            readers: Arc::new(Readers::new(path)),
            in_flight: Arc::default(),
            conversations: Arc::default(),
            users: Arc::new(UserCache::new(true)),
            writer,
            sealer,
        };
        store.check_key()?;
        Ok(store)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_user(&self, user: &User) -> Result<()> {
        self.write_user(user).await
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        self.read_user(id).await
    }

    async fn user_uncached(&self, id: &str) -> Result<Option<User>> {
        self.read_user_row(id)
    }

    async fn clear_credential(&self, id: &str) -> Result<bool> {
        self.forget_credential(id).await
    }

    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        self.write_oauth_tokens(id, tokens).await
    }

    async fn lock_user(&self, _id: &str) -> Result<UserLock> {
        Ok(UserLock::in_process())
    }

    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        self.reserve(key, telephony_session_id, contact_id)
    }

    fn lease(&self) -> Option<Duration> {
        None
    }

    async fn renew_call_log(&self, _key: &CallLogKey) -> Result<bool> {
        Ok(true)
    }

    async fn complete_call_log(
        &self,
        key: &CallLogKey,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        self.complete(key, log_id, writes).await
    }

    async fn release_call_log(&self, key: &CallLogKey) -> Result<()> {
        self.release(key);
        Ok(())
    }

    async fn reserve_conversation(&self, key: &ConversationKey) -> Result<ConversationReservation> {
        self.reserve_conversation_in_memory(key)
    }

    async fn renew_conversation(&self, _key: &ConversationKey) -> Result<bool> {
        Ok(true)
    }

    async fn record_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        self.write_message(key, message_id, log_id, writes).await
    }

    async fn release_conversation(&self, key: &ConversationKey) -> Result<()> {
        self.release_conversation_in_memory(key);
        Ok(())
    }

    async fn logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>> {
        self.read_logged_messages(platform, user_id, message_ids)
    }

    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        self.read_call_logs(platform, user_id, session_ids)
    }

    async fn heartbeat(&self, _replica: &ReplicaRecord) -> Result<()> {
        Ok(())
    }

    async fn live_replicas(&self, _silence: Duration) -> Result<Option<Vec<ReplicaRecord>>> {
        Ok(None)
    }

    async fn leave_fleet(&self, _id: &str) -> Result<()> {
        Ok(())
    }

    async fn health(&self) -> StoreHealth {
        match self
            .readers
            .read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
        {
            Ok(()) => StoreHealth::Up,
            Err(e) => StoreHealth::Down(e.to_string()),
        }
    }

    /// One process owns the file: there is no fleet to share with.
    async fn save_deployment(&self, _: &Deployment, _: Option<&[u8]>) -> Result<()> {
        Ok(())
    }

    async fn deployments(&self) -> Result<Vec<Deployment>> {
        Ok(Vec::new())
    }

    async fn deployment_component(&self, _: &str) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    async fn deployment_changed(&self) {
        std::future::pending().await
    }

    /// The writer's connection and the readers'.
    fn pool(&self) -> PoolStats {
        let (open, idle) = self.readers.counts();
        PoolStats {
            store: "sqlite",
            open: open + 1,
            idle,
        }
    }

    /// Checkpoint the WAL into the database file (leaving it empty) and
    /// close the read connections. Call once serving is done.
    async fn close(&self) {
        self.readers.close();
        // On a connection of its own: the writer's would be inside its
        // batch transaction, where a checkpoint cannot run.
        let path = self.readers.path().to_owned();
        let checkpoint = tokio::task::spawn_blocking(move || -> rusqlite::Result<bool> {
            let connection = Connection::open(&path)?;
            configure(&connection)?;
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0).map(|busy| busy == 0)
            })
        })
        .await;
        match checkpoint {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!("the database was busy; the WAL is checkpointed at the next start")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "checkpointing the database at shutdown"),
            Err(e) => tracing::warn!(error = %e, "checkpointing the database at shutdown"),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::sealed::SecretKey;

    /// A fresh store in a temp dir (kept alive by the returned guard).
    pub(crate) async fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, Sealer::new(&SecretKey::generate()))
            .await
            .expect("opens");
        (dir, store)
    }

    #[tokio::test]
    async fn closing_checkpoints_the_wal() {
        use crate::kv::{AdapterKv, KvWrites};
        use crate::store::Store;
        let (dir, store) = open().await;
        let mut writes = KvWrites::new("p");
        writes.set("k", b"v".to_vec());
        store.apply(&writes).await.expect("sets");
        let wal = dir.path().join("t.db-wal");
        assert!(std::fs::metadata(&wal).expect("a WAL").len() > 0);
        store.close().await;
        assert_eq!(std::fs::metadata(&wal).expect("still there").len(), 0);
    }

    #[test]
    fn database_urls_name_a_file() {
        assert_eq!(
            database_path("sqlite://data/x.db?mode=rwc").expect("parses"),
            PathBuf::from("data/x.db")
        );
        assert!(database_path("postgres://db").is_err());
        assert!(database_path("sqlite://").is_err());
    }
}
