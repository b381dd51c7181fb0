//! The rules of call logging, independent of HTTP: who the caller is, which
//! adapter serves them, and how logins, contacts, creates, lookups and
//! updates use the store and the adapter.

mod auth;
mod call_log;
mod contact;
mod session;

pub use auth::{Login, OAuthCallback};
pub use call_log::{CallLogUpdate, CreateOutcome, LogLookup, NewCallLog, UpdateOutcome};

use crate::auth::JwtKeys;
use crate::registry::{LoadedAdapter, Registry};
use crate::runtime::CallError;
use crate::store::{Store, StoreError};
use session::Sessions;
use std::sync::Arc;
use std::time::Duration;

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The `jwtToken` is missing or invalid, or its user signed out.
    #[error("not authenticated")]
    Unauthenticated,
    /// No adapter serves this platform now.
    #[error("no adapter serves platform {0:?}")]
    AdapterUnavailable(String),
    /// The adapter call failed.
    #[error("adapter {platform}: {error}")]
    Adapter { platform: String, error: CallError },
    /// The request cannot be served as asked; the message says why.
    #[error("{0}")]
    InvalidRequest(String),
    /// The platform signs in with OAuth, but the operator set up no OAuth app.
    #[error("OAuth is not configured for platform {0}")]
    OAuthNotConfigured(String),
    /// The CRM refused to give tokens for an authorization code.
    #[error("{platform} refused the authorization: {reason}")]
    OAuthRefused { platform: String, reason: String },
    /// The CRM's token endpoint failed at sign-in.
    #[error("{platform} token endpoint failed: {reason}")]
    CrmUnavailable { platform: String, reason: String },
    /// The user's OAuth session could not be refreshed; they must sign in again.
    #[error("{platform} session could not be refreshed: {reason}")]
    SessionRevoked { platform: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected failure inside the host.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shared handles for the service operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    jwt: Arc<JwtKeys>,
    sessions: Arc<Sessions>,
    details_concurrency: usize,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        jwt: JwtKeys,
        details_concurrency: usize,
        refresh_margin: Duration,
    ) -> Self {
        Self {
            sessions: Arc::new(Sessions::new(
                store.clone(),
                registry.egress().clone(),
                refresh_margin,
            )),
            store,
            registry,
            jwt: Arc::new(jwt),
            details_concurrency,
        }
    }

    /// The registry, for health and admin views.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn adapter(&self, platform: &str) -> Result<Arc<LoadedAdapter>, ServiceError> {
        self.registry
            .get(platform)
            .ok_or_else(|| ServiceError::AdapterUnavailable(platform.to_owned()))
    }
}

fn adapter_error(platform: &str) -> impl FnOnce(CallError) -> ServiceError + '_ {
    move |error| ServiceError::Adapter {
        platform: platform.to_owned(),
        error,
    }
}
