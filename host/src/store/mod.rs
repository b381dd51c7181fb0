//! Persistence: users, call-log reservations and adapters' key-value data.
//!
//! [`Store`] is the only thing `service` knows about storage. SQLite
//! ([`sqlite::SqliteStore`]) is the embedded default; a Postgres backend
//! implements the same trait for several replicas.
//!
//! Credentials are sealed before they reach the database ([`sealed`]) and
//! never reach a log line: the types holding them redact themselves in
//! `Debug`.

pub mod sealed;
pub mod sqlite;
mod writer;

pub use writer::WriteError;

use async_trait::async_trait;
use std::fmt;

/// A storage failure. Its message is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Write(#[from] writer::WriteError),
    /// A stored credential does not open with the configured key.
    #[error("store: credential of user {user}: {error}")]
    Sealed {
        user: String,
        error: sealed::SealError,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A user's stored credential.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredCredential {
    ApiKey(String),
    OAuth(OAuthTokens),
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Self::OAuth(tokens) => f.debug_tuple("OAuth").field(tokens).finish(),
        }
    }
}

/// A user's OAuth tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// App Connect's user id: `<crm user id>-<platform>`.
    pub id: String,
    pub platform: String,
    pub crm_user_id: String,
    pub name: String,
    pub hostname: String,
    pub timezone: Option<String>,
    /// `None` after `/unAuthorize`.
    pub credential: Option<StoredCredential>,
    pub platform_additional_info: Option<String>,
}

/// Identifies one call log: unique per platform, user and session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogKey {
    pub platform: String,
    pub user_id: String,
    pub session_id: String,
}

/// The state of a call log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallLogState {
    /// Reserved: an adapter call to create it is in flight.
    Pending,
    /// Created in the CRM under this id.
    Logged { log_id: String },
}

/// A stored call log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogRow {
    pub session_id: String,
    pub telephony_session_id: Option<String>,
    pub contact_id: Option<String>,
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
