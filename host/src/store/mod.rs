//! Persistence: users, call-log reservations and adapters' key-value data.
//!
//! [`Store`] is the only thing `service` knows about storage, and
//! [`AdapterKv`] the only thing the runtime knows. Two databases implement
//! both: SQLite ([`sqlite::SqliteStore`]), the embedded default for one
//! process, and PostgreSQL ([`postgres::PgStore`]) for several replicas on
//! one database. [`open`] picks one from the database URL.
//!
//! Credentials are sealed before they reach the database ([`sealed`]) and
//! never reach a log line: they are held as `secrecy` secrets, whose `Debug`
//! says `[REDACTED]`.

mod credentials;
mod fleet;
pub mod postgres;
pub mod sealed;
pub mod sqlite;
mod timed;
mod user_cache;
mod writer;

pub use fleet::{ReplicaRecord, ServedAdapter};
pub use writer::WriteError;

use crate::kv::{AdapterKv, KvWrites};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A storage failure. Its message is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    /// PostgreSQL failed, or could not be reached.
    #[error("store: {0}")]
    Postgres(#[from] sqlx::Error),
    /// The writer thread failed or is gone.
    #[error("store: {0}")]
    Write(#[from] writer::WriteError),
    /// A credential could not be sealed or opened with the configured key.
    #[error("store: credential of user {user}: {error}")]
    Sealed {
        /// Whose credential.
        user: String,
        /// What went wrong.
        error: sealed::SealError,
    },
}

impl StoreError {
    /// Whether the database is unreachable or overloaded (as opposed to
    /// refusing this request): the request may succeed later, unchanged.
    pub fn is_unavailable(&self) -> bool {
        let Self::Postgres(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // Class 08: connection exception; 57: operator intervention
            // (shutdown, statement timeout); 53300: too many connections.
            sqlx::Error::Database(e) => e
                .code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "53300"),
            _ => false,
        }
    }
}

impl StoreError {
    /// Whether the database refused a value of the request itself (a
    /// character it cannot store, a number out of range): the same request
    /// will never succeed.
    pub fn is_rejected_value(&self) -> bool {
        match self {
            // Class 22: data exception.
            Self::Postgres(sqlx::Error::Database(e)) => {
                e.code().is_some_and(|c| c.starts_with("22"))
            }
            _ => false,
        }
    }
}

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether the database answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreHealth {
    /// It answered a query just now.
    Up,
    /// It did not; the text says why (for operators; no secrets).
    Down(String),
}

/// An adapter deployed through the admin API, as the replicas share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The file's stem: it is `<name>.wasm` on every replica.
    pub name: String,
    /// Hex sha256 of its component; `None` once it was removed.
    pub sha256: Option<String>,
    /// Its operator file, when one was uploaded with it.
    pub config: Option<String>,
}

/// A store's connections at one moment, for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Connections open, idle or in use.
    pub open: usize,
    /// Of those, idle ones.
    pub idle: usize,
}

/// Held while a user's OAuth tokens are refreshed, so that one refresh
/// runs at a time for the user across every replica. Dropping it releases
/// the lock.
#[derive(Debug)]
pub struct UserLock(#[allow(dead_code, reason = "held for its drop")] Held);

#[derive(Debug)]
enum Held {
    /// One process owns the database; the service's own single flight is
    /// the lock.
    Nothing,
    /// A transaction holding `pg_advisory_xact_lock`; dropping it rolls
    /// back, which releases the lock.
    Postgres(
        #[allow(dead_code, reason = "held for its drop")]
        sqlx::Transaction<'static, sqlx::Postgres>,
    ),
}

impl UserLock {
    /// A lock that holds nothing: for a store only one process uses.
    pub fn in_process() -> Self {
        Self(Held::Nothing)
    }

    fn postgres(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Self(Held::Postgres(tx))
    }
}

/// A user's stored credential.
#[derive(Debug, Clone)]
pub enum StoredCredential {
    /// An API key the user gave at login.
    ApiKey(SecretString),
    /// Tokens from an OAuth sign-in.
    OAuth(OAuthTokens),
}

impl PartialEq for StoredCredential {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::ApiKey(a), Self::ApiKey(b)) => a.expose_secret() == b.expose_secret(),
            (Self::OAuth(a), Self::OAuth(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for StoredCredential {}

/// A user's OAuth tokens.
#[derive(Debug, Clone)]
pub struct OAuthTokens {
    /// What the adapter is handed, as `Bearer <token>`.
    pub access_token: SecretString,
    /// What the host refreshes with; `None` when the CRM gave none.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<i64>,
}

impl PartialEq for OAuthTokens {
    fn eq(&self, other: &Self) -> bool {
        self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(ExposeSecret::expose_secret)
                == other
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            && self.expires_at == other.expires_at
    }
}

impl Eq for OAuthTokens {}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// App Connect's user id: `<crm user id>-<platform>`.
    pub id: String,
    /// The CRM platform the user signed in to.
    pub platform: String,
    /// The user's id in the CRM.
    pub crm_user_id: String,
    /// The user's name in the CRM.
    pub name: String,
    /// The CRM host the user's API lives on.
    pub hostname: String,
    /// The user's time zone, when the CRM says.
    pub timezone: Option<String>,
    /// `None` after `/unAuthorize`.
    pub credential: Option<StoredCredential>,
    /// What the adapter keeps about the user (JSON), passed back to it.
    pub platform_additional_info: Option<String>,
}

/// Identifies one call log: unique per platform, user and session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallLogKey {
    /// The CRM platform.
    pub platform: String,
    /// The App Connect user id.
    pub user_id: String,
    /// RingCentral's session id of the call.
    pub session_id: String,
}

/// Identifies one conversation-day's message log: unique per platform,
/// user and conversation log id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationKey {
    /// The CRM platform.
    pub platform: String,
    /// The App Connect user id.
    pub user_id: String,
    /// The client's id of the conversation-day.
    pub conversation_log_id: String,
}

/// The outcome of trying to take a conversation-day to log messages into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationReservation {
    /// This caller holds it, and must release it; `log_id` is its CRM
    /// record, once one was created.
    Reserved {
        /// The CRM's id of the conversation-day's record.
        log_id: Option<String>,
    },
    /// Another request is logging messages into it now.
    InProgress,
}

/// The state of a call log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallLogState {
    /// Reserved: an adapter call to create it is in flight.
    Pending,
    /// Created in the CRM under this id.
    Logged {
        /// The CRM's id of the record.
        log_id: String,
    },
}

/// A stored call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogRow {
    /// RingCentral's session id of the call.
    pub session_id: String,
    /// RingCentral's telephony session id, when the client sent it.
    pub telephony_session_id: Option<String>,
    /// The contact the call was logged against.
    pub contact_id: Option<String>,
    /// Pending or logged.
    pub state: CallLogState,
}

impl CallLogRow {
    /// The CRM's id, once logged.
    pub fn log_id(&self) -> Option<&str> {
        match &self.state {
            CallLogState::Logged { log_id } => Some(log_id),
            CallLogState::Pending => None,
        }
    }
}

/// The outcome of trying to reserve a session for a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// This caller holds the reservation and must complete or release it.
    Reserved,
    /// A row exists already (pending or logged).
    Exists(CallLogRow),
}

/// Everything `service` needs from storage.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Insert or update a user (login). Sets the credential.
    async fn upsert_user(&self, user: &User) -> Result<()>;

    /// Load a user by App Connect id.
    async fn user(&self, id: &str) -> Result<Option<User>>;

    /// A user as the database holds it this moment, past any cache: for a
    /// read that decides a change, such as the OAuth refresh under
    /// [`Store::lock_user`].
    async fn user_uncached(&self, id: &str) -> Result<Option<User>>;

    /// Forget a user's credential (`/unAuthorize`). Returns whether a user was found.
    async fn clear_credential(&self, id: &str) -> Result<bool>;

    /// Replace an OAuth user's tokens after a refresh.
    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()>;

    /// Wait until no other process refreshes user `id`'s tokens, and keep
    /// them from starting until the returned lock is dropped. Callers
    /// re-read the tokens after taking it.
    async fn lock_user(&self, id: &str) -> Result<UserLock>;

    /// Insert a `pending` row for `key` unless one exists. Where reservations
    /// have leases, a `pending` row whose lease ran out is taken over.
    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation>;

    /// How long a reservation outlives a holder that stops renewing it;
    /// `None` when reservations have no lease (one process owns the
    /// database and releases them all when it starts).
    fn lease(&self) -> Option<Duration>;

    /// Push this caller's lease on `key` forward. Returns whether the caller
    /// still holds the reservation.
    async fn renew_call_log(&self, key: &CallLogKey) -> Result<bool>;

    /// Turn this caller's reservation into a logged row with the CRM's id,
    /// committing the adapter call's `kv` writes in the same transaction.
    async fn complete_call_log(
        &self,
        key: &CallLogKey,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()>;

    /// Drop this caller's reservation after the create failed.
    async fn release_call_log(&self, key: &CallLogKey) -> Result<()>;

    /// Take conversation-day `key` to log messages into, unless another
    /// caller holds it (where reservations have leases, one whose lease ran
    /// out is taken over). Renewed with [`Store::renew_conversation`] like a
    /// call log's.
    async fn reserve_conversation(&self, key: &ConversationKey) -> Result<ConversationReservation>;
    /// Push this caller's lease on `key` forward; whether it still holds it.
    async fn renew_conversation(&self, key: &ConversationKey) -> Result<bool>;
    /// Record that message `message_id` is logged in the conversation-day's
    /// record `log_id` (which becomes the record of `key` if it had none),
    /// with the adapter call's `kv` writes, in one transaction.
    async fn record_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()>;
    /// Let this caller's hold on `key` go (what it recorded stays).
    async fn release_conversation(&self, key: &ConversationKey) -> Result<()>;
    /// Which of some messages of one user are logged already.
    async fn logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>>;
    /// The rows for some sessions of one user (any order; missing ones absent).
    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>>;

    /// Record that `replica` is alive and what it serves, for the fleet
    /// view. A store one process owns records nothing.
    async fn heartbeat(&self, replica: &ReplicaRecord) -> Result<()>;

    /// Every replica heard from within `silence`; `None` when the store
    /// keeps no fleet (one process owns it).
    async fn live_replicas(&self, silence: Duration) -> Result<Option<Vec<ReplicaRecord>>>;

    /// Drop replica `id` from the fleet (it is shutting down).
    async fn leave_fleet(&self, id: &str) -> Result<()>;

    /// Share `deployment` with every replica (`component` is its bytes;
    /// `None` when it was removed), and tell them. A store one process owns
    /// shares nothing.
    async fn save_deployment(
        &self,
        deployment: &Deployment,
        component: Option<&[u8]>,
    ) -> Result<()>;

    /// Every deployment shared (empty where none are).
    async fn deployments(&self) -> Result<Vec<Deployment>>;

    /// The component of deployment `name`, unless it was removed.
    async fn deployment_component(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Resolves when a replica may have changed a deployment; never where
    /// none are shared. One waiter at a time.
    async fn deployment_changed(&self);

    /// Whether the database answers now.
    async fn health(&self) -> StoreHealth;

    /// The connections open to the database now.
    fn pool(&self) -> PoolStats;

    /// Finish with the database (flush, close connections). Call once
    /// serving is done.
    async fn close(&self);
}

/// A database: the service's [`Store`] and the adapters' [`AdapterKv`] in
/// one.
pub trait Database: Store + AdapterKv {}

impl<T: Store + AdapterKv> Database for T {}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// PostgreSQL only: the pool, statement timeout, lease and replica id.
    pub postgres: postgres::PgOptions,
    /// Time every operation for the metrics endpoint.
    pub timed: bool,
}

/// Open the database `options` names, migrated, with credentials sealed by
/// `sealer`.
///
/// On SQLite, reservations left `pending` by a previous process are
/// released here (one process owns the file, so they can only be that
/// process's); on PostgreSQL they expire with their lease instead.
pub async fn open(
    options: OpenOptions,
    sealer: sealed::Sealer,
) -> anyhow::Result<Arc<dyn Database>> {
    let timed = |store: Arc<dyn Database>, name| -> Arc<dyn Database> {
        if options.timed {
            Arc::new(timed::Timed::new(store, name))
        } else {
            store
        }
    };
    if crate::config::is_postgres_url(&options.url) {
        let store = postgres::PgStore::connect(&options.url, &options.postgres, sealer).await?;
        return Ok(timed(Arc::new(store), "postgres"));
    }
    let store = sqlite::SqliteStore::open(&options.url, sealer).await?;
    for key in store.release_stale_reservations().await? {
        tracing::warn!(
            platform = %key.platform,
            user = %key.user_id,
            session = %key.session_id,
            "released a create left pending by a previous process; the next create of this session calls the adapter again"
        );
    }
    Ok(timed(Arc::new(store), "sqlite"))
}
