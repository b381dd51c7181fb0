//! The PostgreSQL store, on sqlx, for several replicas sharing one
//! database. Selected with `--database-url postgres://…`.
//!
//! - **Schema**: migrations embedded in the binary (`migrations/postgres/`)
//!   and applied at start-up under sqlx's advisory lock, so replicas that
//!   start together migrate once.
//! - **Exactly once across replicas**: a create's reservation carries a
//!   lease (owner replica, expiry on the database's clock); see
//!   [`call_logs`].
//! - **Users kept in memory** while a `LISTEN` hears of every change to
//!   them from any replica ([`user_changes`]).
//! - **Refresh single flight across replicas**: [`Store::lock_user`] takes
//!   a transaction-scoped advisory lock keyed by the user.
//! - **Every query is parameterised**; values never become SQL text.
//! - **The database going away** makes queries fail fast (the pool's
//!   acquire timeout, the statement timeout); those errors are
//!   [`StoreError::is_unavailable`] and answered `STORE_UNAVAILABLE`. The
//!   pool reconnects by itself once the database is back.
//!
//! - **Adapters deployed through the admin API** are shared with every
//!   replica, each told by a `LISTEN` ([`deployments`]).
//!
//! The rooms: [`users`], [`call_logs`], [`kv`], [`fleet`] (the replicas'
//! heartbeats) and [`deployments`].

mod call_logs;
mod deployments;
mod fleet;
mod kv;
mod message_logs;
mod user_changes;
mod users;

use super::credentials::{SEALING_KEY_IDS, key_mismatch};
use super::sealed::Sealer;
use super::user_cache::UserCache;
use super::{
    CallLogKey, CallLogRow, ConversationKey, ConversationReservation, Deployment, OAuthTokens,
    PoolStats, ReplicaRecord, Reservation, Result, Store, StoreHealth, User, UserLock,
};
use crate::kv::KvWrites;
use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The two-key advisory lock class of OAuth refreshes (the second key is
/// the user's hash). sqlx's migration lock uses the one-key space, which
/// never overlaps the two-key one.
const REFRESH_LOCK_CLASS: i32 = 0x5357_0001;

/// How long a refresh may wait for another replica's refresh of the same
/// user: longer than any token request takes.
const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(60);

/// How this replica uses the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this replica opens.
    pub pool_size: u32,
    /// Longest a statement may run; also the longest a query waits for a
    /// connection from the pool.
    pub statement_timeout: Duration,
    /// How long a create's reservation outlives its replica.
    pub lease: Duration,
    /// This replica's id, recorded as the owner of its reservations.
    pub replica_id: String,
}

/// A PostgreSQL database shared by every replica. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    sealer: Sealer,
    /// Users read before; on while this replica hears of every change.
    users: Arc<UserCache>,
    replica: String,
    lease: Duration,
    /// Woken when a replica changed a deployment (`deployments`).
    deployments_changed: Arc<tokio::sync::Notify>,
}

impl PgStore {
    /// Connect, migrate (under an advisory lock), and check that stored
    /// credentials were sealed with `sealer`'s key.
    pub async fn connect(url: &str, options: &PgOptions, sealer: Sealer) -> anyhow::Result<Self> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)
            .context("parsing --database-url")?
            .options([("statement_timeout", timeout_ms.as_str())])
            // Statements are traced at `trace` level only: a slow one is a
            // `warn` with its SQL, never its values.
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .acquire_timeout(options.statement_timeout)
            .connect_with(connect.clone())
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .context("migrating the PostgreSQL schema")?;
        let users = Arc::new(UserCache::new(false));
        let store = Self {
            pool,
            sealer,
            users,
            replica: options.replica_id.clone(),
            lease: options.lease,
            deployments_changed: Arc::default(),
        };
        let key_ids: Vec<String> = sqlx::query_scalar(SEALING_KEY_IDS)
            .fetch_all(&store.pool)
            .await?;
        if let Some(message) = key_mismatch(&store.sealer, &key_ids) {
            anyhow::bail!(message);
        }
        user_changes::follow(connect.clone(), store.pool.clone(), store.users.clone());
        deployments::follow(
            connect,
            store.pool.clone(),
            store.deployments_changed.clone(),
        );
        Ok(store)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn upsert_user(&self, user: &User) -> Result<()> {
        self.write_user(user).await
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        self.read_user(id).await
    }

    async fn user_uncached(&self, id: &str) -> Result<Option<User>> {
        self.read_user_row(id).await
    }

    async fn clear_credential(&self, id: &str) -> Result<bool> {
        self.forget_credential(id).await
    }

    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        self.write_oauth_tokens(id, tokens).await
    }

    async fn lock_user(&self, id: &str) -> Result<UserLock> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(REFRESH_LOCK_WAIT.as_millis().to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(REFRESH_LOCK_CLASS)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Ok(UserLock::postgres(tx))
    }

    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        self.reserve(key, telephony_session_id, contact_id).await
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    async fn renew_call_log(&self, key: &CallLogKey) -> Result<bool> {
        self.renew(key).await
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
        self.release(key).await
    }

    async fn reserve_conversation(&self, key: &ConversationKey) -> Result<ConversationReservation> {
        self.take_conversation(key).await
    }

    async fn renew_conversation(&self, key: &ConversationKey) -> Result<bool> {
        self.renew_conversation_lease(key).await
    }

    async fn record_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        self.insert_message(key, message_id, log_id, writes).await
    }

    async fn release_conversation(&self, key: &ConversationKey) -> Result<()> {
        self.drop_conversation_lease(key).await
    }

    async fn logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>> {
        self.select_logged_messages(platform, user_id, message_ids)
            .await
    }

    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        self.read_call_logs(platform, user_id, session_ids).await
    }

    async fn heartbeat(&self, replica: &ReplicaRecord) -> Result<()> {
        self.write_heartbeat(replica).await
    }

    async fn live_replicas(&self, silence: Duration) -> Result<Option<Vec<ReplicaRecord>>> {
        self.read_live_replicas(silence).await.map(Some)
    }

    async fn leave_fleet(&self, id: &str) -> Result<()> {
        self.delete_replica(id).await
    }

    async fn health(&self) -> StoreHealth {
        match sqlx::query("SELECT 1").execute(&self.pool).await {
            Ok(_) => StoreHealth::Up,
            Err(e) => StoreHealth::Down(e.to_string()),
        }
    }

    async fn save_deployment(
        &self,
        deployment: &Deployment,
        component: Option<&[u8]>,
    ) -> Result<()> {
        self.write_deployment(deployment, component).await
    }

    async fn deployments(&self) -> Result<Vec<Deployment>> {
        self.read_deployments().await
    }

    async fn deployment_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read_deployment_component(name).await
    }

    async fn deployment_changed(&self) {
        self.deployments_changed.notified().await;
    }

    fn pool(&self) -> PoolStats {
        PoolStats {
            store: "postgres",
            open: self.pool.size() as usize,
            idle: self.pool.num_idle(),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
