//! The rules of call logging, independent of HTTP: who the caller is, which
//! adapter serves them, and how logins, contacts, creates, lookups and
//! updates use the store and the adapter.
//!
//! This is the only layer the API talks to. It speaks its own types
//! ([`model`]) and its own error kind ([`ServiceError`]); the runtime's
//! generated types and errors stop here.

mod auth;
mod call_log;
mod contact;
mod deploys;
mod error;
mod fleet;
mod lease;
mod logged;
mod message_log;
pub mod model;
mod session;

pub use crate::registry::{AdapterStatus, Deployed, FileCounts, FileStatus};
pub use crate::runtime::Operation;
pub use crate::store::User;
pub use crate::store::{ReplicaRecord, ServedAdapter};
pub use auth::{Login, OAuthCallback};
pub use call_log::{CallLogUpdate, CreateOutcome, LogLookup, NewCallLog, UpdateOutcome};
pub use deploys::{follow as follow_deployments, sync_deployments};
pub use error::{AdapterFailure, ServiceError};
pub use fleet::{Fleet, Replica, Skew};
pub use message_log::{MessageLogOutcome, NewMessageLog};

use crate::auth::JwtKeys;
use crate::config::ReadyWhen;
use crate::egress::EgressClient;
use crate::registry::{LoadedAdapter, Registry};
use crate::store::{Store, StoreHealth};
use logged::LoggedIds;
use session::Sessions;
use std::sync::Arc;
use std::time::Duration;

/// Shared handles for the service operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    egress: EgressClient,
    jwt: Arc<JwtKeys>,
    sessions: Arc<Sessions>,
    details_concurrency: usize,
    logged: Arc<LoggedIds>,
    replica: Arc<Replica>,
    ready_when: ReadyWhen,
}

/// How the service behaves, from the configuration.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// How many `requireDetails` lookups of one request run at once.
    pub details_concurrency: usize,
    /// Refresh an OAuth access token that expires sooner than this.
    pub refresh_margin: Duration,
    /// How many completed `(user, session) → logId` mappings are kept in
    /// memory.
    pub log_id_cache: usize,
    /// When a starting server reports ready.
    pub ready_when: ReadyWhen,
}

/// Whether the server is ready, and which adapters serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Ready by `--ready-when`: the start-up load has finished, or (with
    /// `any`) one adapter serves.
    pub ready: bool,
    /// How many adapter files serve, are loading, and were refused.
    pub files: FileCounts,
    /// `(platform, version)` of every serving adapter, by platform.
    pub adapters: Vec<(String, String)>,
    /// Why the database does not answer; `None` when it does.
    pub store_down: Option<String>,
}

impl Service {
    /// The service over `store` and `registry`. The host's own requests to
    /// CRMs (OAuth) go through `egress`; tokens are signed with `jwt`.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        egress: EgressClient,
        jwt: JwtKeys,
        replica: Replica,
        options: ServiceOptions,
    ) -> Self {
        let margin = options.refresh_margin;
        Self {
            sessions: Arc::new(Sessions::new(store.clone(), egress.clone(), margin)),
            store,
            registry,
            egress,
            jwt: Arc::new(jwt),
            details_concurrency: options.details_concurrency,
            logged: Arc::new(LoggedIds::new(options.log_id_cache)),
            replica: Arc::new(replica),
            ready_when: options.ready_when,
        }
    }

    /// Whether adapters have loaded, which serve, and whether the database
    /// answers.
    pub async fn health(&self) -> Health {
        let store_down = match self.store.health().await {
            StoreHealth::Up => None,
            StoreHealth::Down(reason) => Some(reason),
        };
        let files = self.registry.file_counts();
        let ready = match self.ready_when {
            ReadyWhen::All => self.registry.is_ready(),
            ReadyWhen::Any => self.registry.is_ready() || files.loaded > 0,
        };
        Health {
            store_down,
            ready,
            files,
            adapters: self
                .registry
                .list()
                .iter()
                .map(|a| {
                    let m = a.adapter.manifest();
                    (m.platform.clone(), m.version.clone())
                })
                .collect(),
        }
    }

    /// Every adapter file and where it stands, for operators.
    pub fn adapter_statuses(&self) -> Vec<AdapterStatus> {
        self.registry.statuses()
    }

    /// Components compiled (not taken from the artifact cache) since start.
    pub fn compilations(&self) -> u64 {
        self.registry.compilations()
    }

    fn adapter(&self, platform: &str) -> Result<Arc<LoadedAdapter>, ServiceError> {
        self.registry.get(platform).ok_or_else(|| {
            // Its file may be one still loading; once none is, it is none.
            if self.registry.file_counts().loading > 0 {
                ServiceError::AdapterLoading(platform.to_owned())
            } else {
                ServiceError::AdapterUnavailable(platform.to_owned())
            }
        })
    }
}
