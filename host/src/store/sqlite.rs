//! The embedded SQLite store (WAL, `synchronous = FULL`), with migrations
//! embedded in the binary.
//!
//! Durability: a write is acknowledged only after its transaction is in the
//! WAL and fsynced, so an acknowledged create survives a process kill and a
//! power loss.
//!
//! Credentials are sealed ([`super::sealed`]) on the way in and opened on the
//! way out; nothing else in the process sees them sealed.
//!
//! Writes go through [`Writer`] (group commit over one connection); reads
//! use a pool.

use super::sealed::{Sealer, sealed_key_id};
use super::writer::Writer;
use super::{
    CallLogKey, CallLogRow, CallLogState, OAuthTokens, Reservation, Result, Store, StoreError,
    StoredCredential, User,
};
use crate::runtime::AdapterKv;
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A SQLite database shared by the whole process.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
    sealer: Sealer,
}

/// Most write statements that share one transaction (and one fsync).
const MAX_WRITE_BATCH: usize = 512;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the database at `url`
    /// (`sqlite://path`). Credentials are sealed with `sealer`; start-up fails
    /// when the stored ones were sealed with another key, and seals any
    /// stored before sealing existed.
    pub async fn open(url: &str, sealer: Sealer) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let writer = Writer::open(&options, MAX_WRITE_BATCH).await?;
        let store = Self {
            pool,
            writer,
            sealer,
        };
        store.check_sealing().await?;
        Ok(store)
    }

    /// Fail on credentials sealed with another key; seal plaintext ones.
    async fn check_sealing(&self) -> anyhow::Result<()> {
        let key_ids: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT substr(credential, 4, 16) FROM users WHERE credential LIKE 'v1.%'
             UNION
             SELECT DISTINCT substr(refresh_token, 4, 16) FROM users WHERE refresh_token LIKE 'v1.%'",
        )
        .fetch_all(&self.pool)
        .await?;
        if let Some(other) = key_ids.iter().find(|id| *id != self.sealer.key_id()) {
            anyhow::bail!(
                "stored credentials were sealed with secret key {other}, but the configured \
                 --secret-key is {}; start with the right key, or change keys with \
                 `switchboard rotate-secret-key`",
                self.sealer.key_id()
            );
        }
        // Written by a version before sealing existed.
        let plaintext = sqlx::query(
            "SELECT id, credential, refresh_token FROM users
             WHERE (credential IS NOT NULL AND credential NOT LIKE 'v1.%')
                OR (refresh_token IS NOT NULL AND refresh_token NOT LIKE 'v1.%')",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &plaintext {
            let id: String = row.try_get("id")?;
            for column in ["credential", "refresh_token"] {
                let value: Option<String> = row.try_get(column)?;
                if let Some(value) = value.filter(|v| sealed_key_id(v).is_none()) {
                    let sealed = self.sealer.seal(&value, &context(&id, column));
                    sqlx::query(&format!("UPDATE users SET {column} = ?2 WHERE id = ?1"))
                        .bind(&id)
                        .bind(sealed)
                        .execute(&self.pool)
                        .await?;
                }
            }
        }
        if !plaintext.is_empty() {
            tracing::info!(
                users = plaintext.len(),
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
        let rows = sqlx::query(
            "DELETE FROM call_logs WHERE state = 'pending'
             RETURNING platform, user_id, session_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CallLogKey {
                    platform: row.try_get("platform")?,
                    user_id: row.try_get("user_id")?,
                    session_id: row.try_get("session_id")?,
                })
            })
            .collect()
    }

    /// Re-seal every stored credential with `new`, in one transaction.
    /// Returns how many values were re-sealed. Run with the server stopped.
    pub async fn rotate_secret_key(&self, new: &Sealer) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT id, credential, refresh_token FROM users WHERE credential IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut count = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            for column in ["credential", "refresh_token"] {
                let Some(value) = row.try_get::<Option<String>, _>(column)? else {
                    continue;
                };
                let plain = self
                    .sealer
                    .open(&value, &context(&id, column))
                    .map_err(|e| anyhow::anyhow!("user {id} {column}: {e}"))?;
                sqlx::query(&format!("UPDATE users SET {column} = ?2 WHERE id = ?1"))
                    .bind(&id)
                    .bind(new.seal(&plain, &context(&id, column)))
                    .execute(&mut *tx)
                    .await?;
                count += 1;
            }
        }
        tx.commit().await?;
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

    /// Close every connection, checkpointing the WAL. Call once serving is done.
    pub async fn close(&self) {
        self.pool.close().await;
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

fn call_log_row(row: &sqlx::sqlite::SqliteRow) -> Result<CallLogRow> {
    let log_id: Option<String> = row.try_get("log_id")?;
    Ok(CallLogRow {
        session_id: row.try_get("session_id")?,
        telephony_session_id: row.try_get("telephony_session_id")?,
        contact_id: row.try_get("contact_id")?,
        state: match log_id {
            Some(log_id) => CallLogState::Logged { log_id },
            None => CallLogState::Pending,
        },
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_user(&self, user: &User) -> Result<()> {
        let columns = self.credential_columns(&user.id, user.credential.as_ref());
        let now = now_ms();
        let statement = sqlx::query(
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
        )
        .bind(user.id.clone())
        .bind(user.platform.clone())
        .bind(user.crm_user_id.clone())
        .bind(user.name.clone())
        .bind(user.hostname.clone())
        .bind(user.timezone.clone())
        .bind(columns.kind)
        .bind(columns.credential)
        .bind(user.platform_additional_info.clone())
        .bind(now)
        .bind(columns.refresh_token)
        .bind(columns.expires_at);
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, platform, crm_user_id, name, hostname, timezone, credential_kind,
                    credential, refresh_token, token_expires_at, platform_additional_info
             FROM users WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: Option<String> = row.try_get("credential_kind")?;
        let secret = self.open_sealed(id, "credential", row.try_get("credential")?)?;
        let credential = match (kind.as_deref(), secret) {
            (Some("api-key"), Some(key)) => Some(StoredCredential::ApiKey(key)),
            (Some("oauth"), Some(access_token)) => Some(StoredCredential::OAuth(OAuthTokens {
                access_token,
                refresh_token: self.open_sealed(
                    id,
                    "refresh_token",
                    row.try_get("refresh_token")?,
                )?,
                expires_at: row.try_get("token_expires_at")?,
            })),
            _ => None,
        };
        Ok(Some(User {
            id: row.try_get("id")?,
            platform: row.try_get("platform")?,
            crm_user_id: row.try_get("crm_user_id")?,
            name: row.try_get("name")?,
            hostname: row.try_get("hostname")?,
            timezone: row.try_get("timezone")?,
            credential,
            platform_additional_info: row.try_get("platform_additional_info")?,
        }))
    }

    async fn clear_credential(&self, id: &str) -> Result<bool> {
        let statement = sqlx::query(
            "UPDATE users SET credential_kind = NULL, credential = NULL, refresh_token = NULL,
                              token_expires_at = NULL, updated_at = ?2
             WHERE id = ?1",
        )
        .bind(id.to_owned())
        .bind(now_ms());
        let done = self.writer.execute(statement).await?;
        Ok(done.rows_affected > 0)
    }

    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        let credential = StoredCredential::OAuth(tokens.clone());
        let columns = self.credential_columns(id, Some(&credential));
        let statement = sqlx::query(
            "UPDATE users SET credential = ?2, refresh_token = ?3, token_expires_at = ?4,
                              updated_at = ?5
             WHERE id = ?1 AND credential_kind = 'oauth'",
        )
        .bind(id.to_owned())
        .bind(columns.credential)
        .bind(columns.refresh_token)
        .bind(columns.expires_at)
        .bind(now_ms());
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        let statement = sqlx::query(
            "INSERT INTO call_logs (platform, user_id, session_id, telephony_session_id,
                                    contact_id, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)
             ON CONFLICT (platform, user_id, session_id) DO NOTHING",
        )
        .bind(key.platform.clone())
        .bind(key.user_id.clone())
        .bind(key.session_id.clone())
        .bind(telephony_session_id.map(str::to_owned))
        .bind(contact_id.map(str::to_owned))
        .bind(now_ms());
        let inserted = self.writer.execute(statement).await?;
        if inserted.rows_affected == 1 {
            return Ok(Reservation::Reserved);
        }
        let rows = self
            .call_logs(
                &key.platform,
                &key.user_id,
                std::slice::from_ref(&key.session_id),
            )
            .await?;
        match rows.into_iter().next() {
            Some(row) => Ok(Reservation::Exists(row)),
            // Released between our insert and our read: the session is free again.
            None => Box::pin(self.reserve_call_log(key, telephony_session_id, contact_id)).await,
        }
    }

    async fn complete_call_log(&self, key: &CallLogKey, log_id: &str) -> Result<()> {
        let statement = sqlx::query(
            "UPDATE call_logs SET state = 'logged', log_id = ?4, updated_at = ?5
             WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
        )
        .bind(key.platform.clone())
        .bind(key.user_id.clone())
        .bind(key.session_id.clone())
        .bind(log_id.to_owned())
        .bind(now_ms());
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn release_call_log(&self, key: &CallLogKey) -> Result<()> {
        let statement = sqlx::query(
            "DELETE FROM call_logs
             WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
        )
        .bind(key.platform.clone())
        .bind(key.user_id.clone())
        .bind(key.session_id.clone());
        self.writer.execute(statement).await?;
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
        let mut query = QueryBuilder::new(
            "SELECT session_id, telephony_session_id, contact_id, log_id FROM call_logs
             WHERE platform = ",
        );
        query
            .push_bind(platform)
            .push(" AND user_id = ")
            .push_bind(user_id);
        query.push(" AND session_id IN (");
        let mut ids = query.separated(", ");
        for id in session_ids {
            ids.push_bind(id);
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(call_log_row).collect()
    }
}

#[async_trait]
impl AdapterKv for SqliteStore {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let value = sqlx::query_scalar(
            "SELECT CAST(value AS BLOB) FROM adapter_kv WHERE platform = ?1 AND key = ?2",
        )
        .bind(platform)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(value)
    }

    async fn set(&self, platform: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let statement = sqlx::query(
            "INSERT INTO adapter_kv (platform, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (platform, key) DO UPDATE SET
                value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(platform.to_owned())
        .bind(key.to_owned())
        .bind(value.to_vec())
        .bind(now_ms());
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn delete(&self, platform: &str, key: &str) -> anyhow::Result<()> {
        let statement = sqlx::query("DELETE FROM adapter_kv WHERE platform = ?1 AND key = ?2")
            .bind(platform.to_owned())
            .bind(key.to_owned());
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        // One statement, so concurrent increments never read the same value.
        // The counter is kept as decimal text, which `get` returns as bytes.
        let statement = sqlx::query(
            "INSERT INTO adapter_kv (platform, key, value, updated_at)
             VALUES (?1, ?2, CAST(CAST(?3 AS TEXT) AS BLOB), ?4)
             ON CONFLICT (platform, key) DO UPDATE SET
                value = CAST(CAST(CAST(CAST(adapter_kv.value AS TEXT) AS INTEGER) + ?3 AS TEXT) AS BLOB),
                updated_at = excluded.updated_at
             RETURNING CAST(CAST(value AS TEXT) AS INTEGER)",
        )
        .bind(platform.to_owned())
        .bind(key.to_owned())
        .bind(delta)
        .bind(now_ms());
        Ok(self.writer.returning_i64(statement).await?)
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
        let raw: (String, String) =
            sqlx::query_as("SELECT credential, refresh_token FROM users WHERE id = '7-p'")
                .fetch_one(&store.pool)
                .await
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
        sqlx::query(
            "INSERT INTO users (id, platform, crm_user_id, name, hostname, credential_kind,
                                credential, created_at, updated_at)
             VALUES ('1-p', 'p', '1', 'N', 'h', 'api-key', 'legacy-key', 0, 0)",
        )
        .execute(&store.pool)
        .await
        .expect("legacy row");
        store.close().await;
        let store = SqliteStore::open(&url, sealer).await.expect("reopens");
        let raw: String = sqlx::query_scalar("SELECT credential FROM users WHERE id = '1-p'")
            .fetch_one(&store.pool)
            .await
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
