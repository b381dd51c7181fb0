//! The embedded SQLite store (WAL, `synchronous = FULL`), on rusqlite, with
//! its migrations embedded in the binary.
//!
//! - **Writes** go through [`Writer`]: one connection on a thread of its
//!   own, group commit.
//! - **Reads** run on the calling task's thread, on a connection taken from
//!   a small pool. They are indexed point lookups on a WAL database, which
//!   never wait for the writer, so they take microseconds; a hand-off to
//!   another thread would cost more than the read.
//!
//! Durability: a write is acknowledged only after its transaction is in the
//! WAL and fsynced, so an acknowledged create survives a process kill and a
//! power loss.
//!
//! Credentials are sealed ([`super::sealed`]) on the way in and opened on the
//! way out; nothing else in the process sees them sealed.

use super::sealed::{Sealer, sealed_key_id};
use super::writer::Writer;
use super::{
    CallLogKey, CallLogRow, CallLogState, OAuthTokens, Reservation, Result, Store, StoreError,
    StoredCredential, User,
};
use crate::runtime::AdapterKv;
use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schema, in order. `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_oauth.sql"),
];

/// Most writes that share one transaction (and one fsync).
const MAX_WRITE_BATCH: usize = 512;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;
/// How long a connection waits for a lock another process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 64;

/// A SQLite database shared by the whole process.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Arc<Readers>,
    writer: Writer,
    sealer: Sealer,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Apply the migrations this database has not seen.
fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let mut applied: usize =
        connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied == 0 {
        // Databases written by versions that ran on sqlx record their
        // migrations in `_sqlx_migrations` instead.
        let by_sqlx: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
            [],
            |row| row.get(0),
        )?;
        if by_sqlx {
            applied = connection.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
                [],
                |row| row.get(0),
            )?;
            connection.pragma_update(None, "user_version", applied)?;
        }
    }
    anyhow::ensure!(
        applied <= MIGRATIONS.len(),
        "the database has schema version {applied}, newer than this server ({}); \
         run the newer server",
        MIGRATIONS.len()
    );
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Read connections: taken for one read on the caller's thread, then put
/// back.
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&connection)?;
        Ok(connection)
    }

    fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
        Ok(result?)
    }

    fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Open the writer's connection: WAL, full fsync, foreign keys, migrated.
fn open_writer(path: &Path) -> anyhow::Result<Connection> {
    let mut connection = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    configure(&connection)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    migrate(&mut connection)?;
    Ok(connection)
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the database at `url`
    /// (`sqlite://path`). Credentials are sealed with `sealer`; start-up fails
    /// when the stored ones were sealed with another key, and seals any
    /// stored before sealing existed.
    pub async fn open(url: &str, sealer: Sealer) -> anyhow::Result<Self> {
        let path = database_path(url)?;
        let opening = path.clone();
        let connection = tokio::task::spawn_blocking(move || open_writer(&opening)).await??;
        let store = Self {
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            writer: Writer::start(connection, MAX_WRITE_BATCH)?,
            sealer,
        };
        store.check_sealing().await?;
        Ok(store)
    }

    /// Fail on credentials sealed with another key; seal plaintext ones.
    async fn check_sealing(&self) -> anyhow::Result<()> {
        let key_ids: Vec<String> = self.readers.read(|c| {
            c.prepare(
                "SELECT DISTINCT substr(credential, 4, 16) FROM users WHERE credential LIKE 'v1.%'
                 UNION
                 SELECT DISTINCT substr(refresh_token, 4, 16) FROM users WHERE refresh_token LIKE 'v1.%'",
            )?
            .query_map([], |row| row.get(0))?
            .collect()
        })?;
        if let Some(other) = key_ids.iter().find(|id| *id != self.sealer.key_id()) {
            anyhow::bail!(
                "stored credentials were sealed with secret key {other}, but the configured \
                 --secret-key is {}; start with the right key, or change keys with \
                 `switchboard rotate-secret-key`",
                self.sealer.key_id()
            );
        }
        // Written by a version before sealing existed.
        let sealer = self.sealer.clone();
        let sealed = self
            .writer
            .write(move |c| {
                let plaintext: Vec<(String, Option<String>, Option<String>)> = c
                    .prepare(
                        "SELECT id, credential, refresh_token FROM users
                         WHERE (credential IS NOT NULL AND credential NOT LIKE 'v1.%')
                            OR (refresh_token IS NOT NULL AND refresh_token NOT LIKE 'v1.%')",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (id, credential, refresh_token) in &plaintext {
                    for (column, value) in
                        [("credential", credential), ("refresh_token", refresh_token)]
                    {
                        if let Some(value) = value.as_deref().filter(|v| sealed_key_id(v).is_none())
                        {
                            let sealed = sealer.seal(value, &context(id, column));
                            c.execute(
                                &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                                params![id, sealed],
                            )?;
                        }
                    }
                }
                Ok(plaintext.len())
            })
            .await?;
        if sealed > 0 {
            tracing::info!(
                users = sealed,
                "sealed credentials stored in plaintext by an older version"
            );
        }
        Ok(())
    }

    /// Release every `pending` reservation, returning their keys. A SQLite
    /// database serves one process, so at start-up a pending row can only
    /// belong to a create that died with the previous process: whether the
    /// CRM record was made is unknown, and the next create of the session
    /// calls the adapter again (adapters dedupe by session where their CRM
    /// allows; testCRM does).
    pub async fn release_stale_reservations(&self) -> anyhow::Result<Vec<CallLogKey>> {
        let keys = self
            .writer
            .write(|c| {
                c.prepare(
                    "DELETE FROM call_logs WHERE state = 'pending'
                     RETURNING platform, user_id, session_id",
                )?
                .query_map([], |row| {
                    Ok(CallLogKey {
                        platform: row.get(0)?,
                        user_id: row.get(1)?,
                        session_id: row.get(2)?,
                    })
                })?
                .collect()
            })
            .await?;
        Ok(keys)
    }

    /// Re-seal every stored credential with `new`, in one transaction.
    /// Returns how many values were re-sealed. Run with the server stopped.
    pub async fn rotate_secret_key(&self, new: &Sealer) -> anyhow::Result<usize> {
        let (current, new) = (self.sealer.clone(), new.clone());
        let count = self
            .writer
            .write(move |c| {
                let rows: Vec<(String, Option<String>, Option<String>)> = c
                    .prepare(
                        "SELECT id, credential, refresh_token FROM users WHERE credential IS NOT NULL",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut count = 0;
                for (id, credential, refresh_token) in &rows {
                    for (column, value) in [("credential", credential), ("refresh_token", refresh_token)] {
                        let Some(value) = value else { continue };
                        let plain = current.open(value, &context(id, column)).map_err(|e| {
                            rusqlite::Error::ToSqlConversionFailure(
                                format!("user {id} {column}: {e}").into(),
                            )
                        })?;
                        c.execute(
                            &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                            params![id, new.seal(&plain, &context(id, column))],
                        )?;
                        count += 1;
                    }
                }
                Ok(count)
            })
            .await?;
        Ok(count)
    }

    fn open_sealed(&self, id: &str, column: &str, value: Option<String>) -> Result<Option<String>> {
        value
            .map(|v| {
                self.sealer
                    .open(&v, &context(id, column))
                    .map_err(|error| StoreError::Sealed {
                        user: id.to_owned(),
                        error,
                    })
            })
            .transpose()
    }

    /// Checkpoint the WAL into the database file (leaving it empty) and
    /// close the read connections. Call once serving is done.
    pub async fn close(&self) {
        self.readers.close();
        // On a connection of its own: the writer's would be inside its
        // batch transaction, where a checkpoint cannot run.
        let path = self.readers.path.clone();
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

/// What a sealed value is bound to: its row and column.
fn context(user_id: &str, column: &str) -> String {
    format!("users/{user_id}/{column}")
}

/// The credential columns of a user: kind, sealed credential, sealed
/// refresh token, expiry.
struct CredentialColumns {
    kind: Option<&'static str>,
    credential: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<i64>,
}

impl SqliteStore {
    fn credential_columns(
        &self,
        id: &str,
        credential: Option<&StoredCredential>,
    ) -> CredentialColumns {
        let seal = |column: &str, value: &str| Some(self.sealer.seal(value, &context(id, column)));
        match credential {
            Some(StoredCredential::ApiKey(key)) => CredentialColumns {
                kind: Some("api-key"),
                credential: seal("credential", key),
                refresh_token: None,
                expires_at: None,
            },
            Some(StoredCredential::OAuth(tokens)) => CredentialColumns {
                kind: Some("oauth"),
                credential: seal("credential", &tokens.access_token),
                refresh_token: tokens
                    .refresh_token
                    .as_deref()
                    .and_then(|t| seal("refresh_token", t)),
                expires_at: tokens.expires_at,
            },
            None => CredentialColumns {
                kind: None,
                credential: None,
                refresh_token: None,
                expires_at: None,
            },
        }
    }
}

/// The columns of `call_logs` a [`CallLogRow`] is read from.
const CALL_LOG_COLUMNS: &str = "session_id, telephony_session_id, contact_id, log_id";

fn call_log_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CallLogRow> {
    let log_id: Option<String> = row.get(3)?;
    Ok(CallLogRow {
        session_id: row.get(0)?,
        telephony_session_id: row.get(1)?,
        contact_id: row.get(2)?,
        state: match log_id {
            Some(log_id) => CallLogState::Logged { log_id },
            None => CallLogState::Pending,
        },
    })
}

/// A `users` row before its sealed columns are opened.
struct UserRow {
    user: User,
    kind: Option<String>,
    credential: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<i64>,
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_user(&self, user: &User) -> Result<()> {
        let columns = self.credential_columns(&user.id, user.credential.as_ref());
        let user = user.clone();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO users (id, platform, crm_user_id, name, hostname, timezone,
                                        credential_kind, credential, platform_additional_info,
                                        created_at, updated_at, refresh_token, token_expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)
                     ON CONFLICT (id) DO UPDATE SET
                        name = excluded.name, hostname = excluded.hostname,
                        timezone = excluded.timezone, credential_kind = excluded.credential_kind,
                        credential = excluded.credential, refresh_token = excluded.refresh_token,
                        token_expires_at = excluded.token_expires_at,
                        platform_additional_info = excluded.platform_additional_info,
                        updated_at = excluded.updated_at",
                )?
                .execute(params![
                    user.id,
                    user.platform,
                    user.crm_user_id,
                    user.name,
                    user.hostname,
                    user.timezone,
                    columns.kind,
                    columns.credential,
                    user.platform_additional_info,
                    now_ms(),
                    columns.refresh_token,
                    columns.expires_at,
                ])
            })
            .await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let row = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT id, platform, crm_user_id, name, hostname, timezone, credential_kind,
                        credential, refresh_token, token_expires_at, platform_additional_info
                 FROM users WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok(UserRow {
                    user: User {
                        id: row.get(0)?,
                        platform: row.get(1)?,
                        crm_user_id: row.get(2)?,
                        name: row.get(3)?,
                        hostname: row.get(4)?,
                        timezone: row.get(5)?,
                        credential: None,
                        platform_additional_info: row.get(10)?,
                    },
                    kind: row.get(6)?,
                    credential: row.get(7)?,
                    refresh_token: row.get(8)?,
                    expires_at: row.get(9)?,
                })
            })
            .optional()
        })?;
        let Some(row) = row else { return Ok(None) };
        let mut user = row.user;
        let secret = self.open_sealed(id, "credential", row.credential)?;
        user.credential = match (row.kind.as_deref(), secret) {
            (Some("api-key"), Some(key)) => Some(StoredCredential::ApiKey(key)),
            (Some("oauth"), Some(access_token)) => Some(StoredCredential::OAuth(OAuthTokens {
                access_token,
                refresh_token: self.open_sealed(id, "refresh_token", row.refresh_token)?,
                expires_at: row.expires_at,
            })),
            _ => None,
        };
        Ok(Some(user))
    }

    async fn clear_credential(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        let changed = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE users SET credential_kind = NULL, credential = NULL, refresh_token = NULL,
                                      token_expires_at = NULL, updated_at = ?2
                     WHERE id = ?1",
                )?
                .execute(params![id, now_ms()])
            })
            .await?;
        Ok(changed > 0)
    }

    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        let credential = StoredCredential::OAuth(tokens.clone());
        let columns = self.credential_columns(id, Some(&credential));
        let id = id.to_owned();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE users SET credential = ?2, refresh_token = ?3, token_expires_at = ?4,
                                      updated_at = ?5
                     WHERE id = ?1 AND credential_kind = 'oauth'",
                )?
                .execute(params![
                    id,
                    columns.credential,
                    columns.refresh_token,
                    columns.expires_at,
                    now_ms()
                ])
            })
            .await?;
        Ok(())
    }

    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        let key = key.clone();
        let telephony_session_id = telephony_session_id.map(str::to_owned);
        let contact_id = contact_id.map(str::to_owned);
        // The insert, or the row that is already there, in one write: no
        // other write can come between them.
        let reservation = self
            .writer
            .write(move |c| {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO call_logs (platform, user_id, session_id, telephony_session_id,
                                                contact_id, state, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)
                         ON CONFLICT (platform, user_id, session_id) DO NOTHING",
                    )?
                    .execute(params![
                        key.platform,
                        key.user_id,
                        key.session_id,
                        telephony_session_id,
                        contact_id,
                        now_ms()
                    ])?;
                if inserted == 1 {
                    return Ok(Reservation::Reserved);
                }
                c.prepare_cached(&format!(
                    "SELECT {CALL_LOG_COLUMNS} FROM call_logs
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3"
                ))?
                .query_row(
                    params![key.platform, key.user_id, key.session_id],
                    call_log_row,
                )
                .map(Reservation::Exists)
            })
            .await?;
        Ok(reservation)
    }

    async fn complete_call_log(&self, key: &CallLogKey, log_id: &str) -> Result<()> {
        let (key, log_id) = (key.clone(), log_id.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE call_logs SET state = 'logged', log_id = ?4, updated_at = ?5
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
                )?
                .execute(params![
                    key.platform,
                    key.user_id,
                    key.session_id,
                    log_id,
                    now_ms()
                ])
            })
            .await?;
        Ok(())
    }

    async fn release_call_log(&self, key: &CallLogKey) -> Result<()> {
        let key = key.clone();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM call_logs
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
                )?
                .execute(params![key.platform, key.user_id, key.session_id])
            })
            .await?;
        Ok(())
    }

    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; session_ids.len()].join(", ");
        let sql = format!(
            "SELECT {CALL_LOG_COLUMNS} FROM call_logs
             WHERE platform = ? AND user_id = ? AND session_id IN ({placeholders})"
        );
        let values = [platform, user_id]
            .into_iter()
            .chain(session_ids.iter().map(String::as_str));
        let rows = |statement: &mut rusqlite::Statement<'_>| {
            statement
                .query_map(params_from_iter(values), call_log_row)?
                .collect()
        };
        self.readers.read(|c| {
            // Cached only for short lists: every length is another statement.
            if session_ids.len() <= 8 {
                rows(&mut *c.prepare_cached(&sql)?)
            } else {
                rows(&mut c.prepare(&sql)?)
            }
        })
    }
}

#[async_trait]
impl AdapterKv for SqliteStore {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let value = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT CAST(value AS BLOB) FROM adapter_kv WHERE platform = ?1 AND key = ?2",
            )?
            .query_row([platform, key], |row| row.get(0))
            .optional()
        })?;
        Ok(value)
    }

    async fn set(&self, platform: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let (platform, key, value) = (platform.to_owned(), key.to_owned(), value.to_vec());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO adapter_kv (platform, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (platform, key) DO UPDATE SET
                        value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![platform, key, value, now_ms()])
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, platform: &str, key: &str) -> anyhow::Result<()> {
        let (platform, key) = (platform.to_owned(), key.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached("DELETE FROM adapter_kv WHERE platform = ?1 AND key = ?2")?
                    .execute([platform, key])
            })
            .await?;
        Ok(())
    }

    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        let (platform, key) = (platform.to_owned(), key.to_owned());
        // The counter is kept as decimal text, which `get` returns as bytes.
        let value = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO adapter_kv (platform, key, value, updated_at)
                     VALUES (?1, ?2, CAST(CAST(?3 AS TEXT) AS BLOB), ?4)
                     ON CONFLICT (platform, key) DO UPDATE SET
                        value = CAST(CAST(CAST(CAST(adapter_kv.value AS TEXT) AS INTEGER) + ?3 AS TEXT) AS BLOB),
                        updated_at = excluded.updated_at
                     RETURNING CAST(CAST(value AS TEXT) AS INTEGER)",
                )?
                .query_row(params![platform, key, delta, now_ms()], |row| row.get(0))
            })
            .await?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::sealed::SecretKey;

    async fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, Sealer::new(&SecretKey::generate()))
            .await
            .expect("opens");
        (dir, store)
    }

    fn key(session: &str) -> CallLogKey {
        CallLogKey {
            platform: "p".into(),
            user_id: "u".into(),
            session_id: session.into(),
        }
    }

    #[tokio::test]
    async fn reserve_complete_release() {
        let (_dir, store) = open().await;
        assert_eq!(
            store
                .reserve_call_log(&key("s1"), None, Some("c"))
                .await
                .ok(),
            Some(Reservation::Reserved)
        );
        let Ok(Reservation::Exists(row)) = store.reserve_call_log(&key("s1"), None, None).await
        else {
            panic!("second reservation must see the first");
        };
        assert_eq!(row.state, CallLogState::Pending);
        store
            .complete_call_log(&key("s1"), "L1")
            .await
            .expect("completes");
        let rows = store
            .call_logs("p", "u", &["s1".into(), "s2".into()])
            .await
            .expect("reads");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].log_id(), Some("L1"));
        assert_eq!(rows[0].contact_id.as_deref(), Some("c"));

        store
            .reserve_call_log(&key("s2"), None, None)
            .await
            .expect("reserves");
        store.release_call_log(&key("s2")).await.expect("releases");
        assert!(
            store
                .call_logs("p", "u", &["s2".into()])
                .await
                .expect("reads")
                .is_empty()
        );
        // Releasing never drops a logged row.
        store.release_call_log(&key("s1")).await.expect("no-op");
        // Start-up releases what a dead process left pending, and only that.
        store
            .reserve_call_log(&key("s3"), None, None)
            .await
            .expect("reserves");
        let released = store.release_stale_reservations().await.expect("releases");
        assert_eq!(released, [key("s3")]);
        assert_eq!(
            store
                .call_logs("p", "u", &["s1".into(), "s3".into()])
                .await
                .expect("reads")
                .len(),
            1
        );
        assert_eq!(
            store
                .call_logs("p", "u", &["s1".into()])
                .await
                .expect("reads")
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn databases_migrated_by_sqlx_are_adopted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        // What a version on sqlx left: the schema, and its own record of it.
        let old = Connection::open(&path).expect("opens");
        for sql in MIGRATIONS {
            old.execute_batch(sql).expect("migrates");
        }
        old.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (1, TRUE), (2, TRUE);
             INSERT INTO adapter_kv VALUES ('p', 'k', X'6F6C64', 0);",
        )
        .expect("sqlx record");
        drop(old);
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::open(&url, Sealer::new(&SecretKey::generate()))
            .await
            .expect("opens without re-running migrations");
        assert_eq!(
            store.get("p", "k").await.expect("gets"),
            Some(b"old".to_vec())
        );
        let version: usize = store
            .readers
            .read(|c| c.pragma_query_value(None, "user_version", |row| row.get(0)))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len());
    }

    #[tokio::test]
    async fn closing_checkpoints_the_wal() {
        let (dir, store) = open().await;
        store.set("p", "k", b"v").await.expect("sets");
        let wal = dir.path().join("t.db-wal");
        assert!(std::fs::metadata(&wal).expect("a WAL").len() > 0);
        store.close().await;
        assert_eq!(std::fs::metadata(&wal).expect("still there").len(), 0);
    }

    #[tokio::test]
    async fn kv_is_scoped_and_counts_atomically() {
        let (_dir, store) = open().await;
        store.set("a", "k", b"one").await.expect("sets");
        assert_eq!(
            store.get("a", "k").await.expect("gets"),
            Some(b"one".to_vec())
        );
        assert_eq!(store.get("b", "k").await.expect("gets"), None);
        let counts = futures::future::join_all((0..20).map(|_| store.increment("a", "n", 1))).await;
        let mut values: Vec<i64> = counts.into_iter().map(|r| r.expect("increments")).collect();
        values.sort_unstable();
        assert_eq!(values, (1..=20).collect::<Vec<_>>());
        assert_eq!(
            store.get("a", "n").await.expect("gets"),
            Some(b"20".to_vec())
        );
        store.delete("a", "k").await.expect("deletes");
        assert_eq!(store.get("a", "k").await.expect("gets"), None);
    }

    #[tokio::test]
    async fn credentials_round_trip_and_clear() {
        let (_dir, store) = open().await;
        let user = User {
            id: "42-p".into(),
            platform: "p".into(),
            crm_user_id: "42".into(),
            name: "N".into(),
            hostname: "h".into(),
            timezone: None,
            credential: Some(StoredCredential::ApiKey("secret".into())),
            platform_additional_info: None,
        };
        store.upsert_user(&user).await.expect("upserts");
        assert_eq!(store.user("42-p").await.expect("reads"), Some(user.clone()));
        assert!(!format!("{user:?}").contains("secret"), "Debug must redact");
        assert!(store.clear_credential("42-p").await.expect("clears"));
        assert_eq!(
            store
                .user("42-p")
                .await
                .expect("reads")
                .and_then(|u| u.credential),
            None
        );
        assert!(!store.clear_credential("nobody").await.expect("clears"));
    }

    #[tokio::test]
    async fn credentials_are_sealed_at_rest_and_keys_rotate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let key = SecretKey::generate();
        let store = SqliteStore::open(&url, Sealer::new(&key))
            .await
            .expect("opens");
        let tokens = OAuthTokens {
            access_token: "access-plain".into(),
            refresh_token: Some("refresh-plain".into()),
            expires_at: Some(123),
        };
        let user = User {
            id: "7-p".into(),
            platform: "p".into(),
            crm_user_id: "7".into(),
            name: "N".into(),
            hostname: "h".into(),
            timezone: None,
            credential: Some(StoredCredential::OAuth(tokens.clone())),
            platform_additional_info: None,
        };
        store.upsert_user(&user).await.expect("upserts");
        let raw: (String, String) = store
            .readers
            .read(|c| {
                c.query_row(
                    "SELECT credential, refresh_token FROM users WHERE id = '7-p'",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .expect("raw row");
        assert!(!raw.0.contains("access-plain") && !raw.1.contains("refresh-plain"));
        assert_eq!(store.user("7-p").await.expect("reads"), Some(user.clone()));

        let fresh = OAuthTokens {
            access_token: "access-2".into(),
            ..tokens
        };
        store
            .set_oauth_tokens("7-p", &fresh)
            .await
            .expect("refreshes");
        assert_eq!(
            store
                .user("7-p")
                .await
                .expect("reads")
                .and_then(|u| u.credential),
            Some(StoredCredential::OAuth(fresh.clone()))
        );

        let new_key = SecretKey::generate();
        assert_eq!(
            store
                .rotate_secret_key(&Sealer::new(&new_key))
                .await
                .expect("rotates"),
            2
        );
        store.close().await;
        let err = SqliteStore::open(&url, Sealer::new(&key))
            .await
            .expect_err("old key");
        assert!(err.to_string().contains("rotate-secret-key"), "{err}");
        let store = SqliteStore::open(&url, Sealer::new(&new_key))
            .await
            .expect("new key");
        assert_eq!(
            store
                .user("7-p")
                .await
                .expect("reads")
                .and_then(|u| u.credential),
            Some(StoredCredential::OAuth(fresh))
        );
    }

    #[tokio::test]
    async fn plaintext_credentials_from_older_versions_are_sealed_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let sealer = Sealer::new(&SecretKey::generate());
        let store = SqliteStore::open(&url, sealer.clone())
            .await
            .expect("opens");
        store
            .writer
            .write(|c| {
                c.execute(
                    "INSERT INTO users (id, platform, crm_user_id, name, hostname, credential_kind,
                                        credential, created_at, updated_at)
                     VALUES ('1-p', 'p', '1', 'N', 'h', 'api-key', 'legacy-key', 0, 0)",
                    [],
                )
            })
            .await
            .expect("legacy row");
        store.close().await;
        let store = SqliteStore::open(&url, sealer).await.expect("reopens");
        let raw: String = store
            .readers
            .read(|c| {
                c.query_row("SELECT credential FROM users WHERE id = '1-p'", [], |row| {
                    row.get(0)
                })
            })
            .expect("raw");
        assert!(!raw.contains("legacy-key"), "sealed in place");
        assert_eq!(
            store
                .user("1-p")
                .await
                .expect("reads")
                .and_then(|u| u.credential),
            Some(StoredCredential::ApiKey("legacy-key".into()))
        );
    }
}
