//! The rules of call logging, independent of HTTP: who the caller is, which
//! adapter serves them, and how creates, lookups and updates use the store
//! and the adapter.

mod auth;
mod call_log;

pub use call_log::{CallLogUpdate, CreateOutcome, LogLookup, NewCallLog, UpdateOutcome};

use crate::auth::JwtKeys;
use crate::registry::{LoadedAdapter, Registry};
use crate::runtime::{CallError, Credential, UserContext};
use crate::store::{Store, StoreError, StoredCredential, User};
use std::sync::Arc;

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
    details_concurrency: usize,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        jwt: JwtKeys,
        details_concurrency: usize,
    ) -> Self {
        Self {
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

/// The adapter's view of a signed-in user.
fn user_context(user: &User) -> Result<UserContext, ServiceError> {
    let credential = match &user.credential {
        Some(StoredCredential::ApiKey(key)) => Credential::ApiKey(key.clone()),
        Some(StoredCredential::Authorization(value)) => Credential::Authorization(value.clone()),
        None => return Err(ServiceError::Unauthenticated),
    };
    Ok(UserContext {
        user_id: user.crm_user_id.clone(),
        hostname: user.hostname.clone(),
        credential,
        timezone: user.timezone.clone(),
    })
}
