//! Persistence: users, call-log reservations and adapters' key-value data.
//!
//! [`Store`] is the only thing `service` knows about storage. SQLite
//! ([`sqlite::SqliteStore`]) is the embedded default; a Postgres backend
//! implements the same trait for several replicas.
//!
//! Credentials are sealed before they reach the database ([`sealed`]) and
//! never reach a log line: they are held as `secrecy` secrets, whose `Debug`
//! says `[REDACTED]`.

pub mod sealed;
pub mod sqlite;
mod writer;

pub use writer::WriteError;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A storage failure. Its message is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
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

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogKey {
    /// The CRM platform.
    pub platform: String,
    /// The App Connect user id.
    pub user_id: String,
    /// RingCentral's session id of the call.
    pub session_id: String,
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

    /// Forget a user's credential (`/unAuthorize`). Returns whether a user was found.
    async fn clear_credential(&self, id: &str) -> Result<bool>;

    /// Replace an OAuth user's tokens after a refresh.
    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()>;

    /// Insert a `pending` row for `key` unless one exists.
    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation>;

    /// Turn this caller's reservation into a logged row with the CRM's id.
    async fn complete_call_log(&self, key: &CallLogKey, log_id: &str) -> Result<()>;

    /// Drop this caller's reservation after the create failed.
    async fn release_call_log(&self, key: &CallLogKey) -> Result<()>;

    /// The rows for some sessions of one user (any order; missing ones absent).
    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>>;
}
