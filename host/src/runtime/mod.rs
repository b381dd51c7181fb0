//! Runs adapters: one wasmtime `Engine` for the process, one compiled
//! `InstancePre` per adapter version, and a fresh `Store` and instance for
//! every operation, so nothing leaks between users or requests.
//!
//! Every call is bounded three ways:
//! - CPU: epoch interruption. A ticker thread advances the epoch every
//!   [`EPOCH_TICK`]; at each tick a running call yields to tokio, and it is
//!   stopped once the time it has spent running wasm (measured with call
//!   hooks, so time waiting in host calls does not count) exceeds its budget.
//! - Wall clock: `tokio::time::timeout` around the whole call, which covers
//!   time spent waiting on the CRM.
//! - Memory: a `ResourceLimiter` on linear memory growth.
//!
//! A trap, a timeout or an over-limit fails that one call with a
//! [`CallError`]; the engine and other calls are unaffected.
//!
//! The rooms:
//! - [`engine`](Runtime): the engine, the linker, the epoch ticker, loading;
//! - `limits`: the server's limits and an adapter's overrides, checked;
//! - `manifest`: what a manifest must say before it serves;
//! - `sandbox`: one call in a fresh instance, within its limits;
//! - `reuse`: instances kept for a user's next call, when the operator opts in;
//! - `adapter`: the typed operations of a loaded adapter;
//! - `world`: the contract versions served side by side, and `compat`, which
//!   calls components of an older one;
//! - `host`: the state of one instance and the host interfaces it imports;
//! - [`egress`]: which outbound requests an adapter may make;
//! - [`cache`]: precompiled artifacts on disk;
//! - `compile`: how many compile at once, and the functions they share;
//! - [`output`]: how large an adapter's answer may be.

mod adapter;
mod bindings;
pub mod cache;
mod compat;
mod compile;
pub mod egress;
mod engine;
mod guest_output;
mod host;
mod limits;
mod manifest;
pub mod output;
mod reuse;
mod sandbox;
mod settings;
mod world;

pub use adapter::{Adapter, wit_name};
pub use bindings::{
    AdapterError, AdapterManifest, Attachment, AttachmentKind, AuthType, Call, CallLeg,
    CallLogCreated, CallLogDetails, CallLogUpdated, Contact, ContactRef, CreateCallLogRequest,
    CreateContactRequest, CreateMessageLogRequest, Credential, Direction, FindContactByNameRequest,
    FindContactRequest, GetCallLogRequest, LoginRequest, Message, MessageLogCreated, MessageType,
    OauthConfig, Operation, Party, RateLimit, UpdateCallLogRequest, UpdateMessageLogRequest,
    UpsertCallDispositionRequest, UpstreamError, UserContext, UserInfo,
};
pub use cache::CacheError;
pub use compile::FunctionCacheStats;
pub use engine::{EPOCH_TICK, Runtime};
pub use host::{MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES};
pub use limits::{InstanceNeeds, LimitError, check as check_limits};
pub use manifest::ManifestError;
pub use sandbox::{ADAPTER_OUTPUT_TARGET, CallStats};
pub use settings::{
    EgressOverrides, LimitOverrides, OperatorSettings, Reuse, ReuseBounds, SettingsError,
};
pub use world::{SERVED_WIT_VERSIONS, WitVersion};

use std::time::Duration;

/// Why an adapter call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The adapter ran and answered with an error.
    #[error("adapter error: {0:?}")]
    Adapter(AdapterError),
    /// The call used up its CPU budget.
    #[error("adapter used more than {0:?} of CPU")]
    CpuTimeout(Duration),
    /// The call took longer than its wall-clock limit.
    #[error("adapter took longer than {0:?}")]
    WallTimeout(Duration),
    /// The adapter tried to grow its memory past the limit.
    #[error("adapter exceeded its memory limit of {0} MiB")]
    MemoryLimit(usize),
    /// The adapter trapped (panic, `unreachable`, bad memory access, …).
    #[error("adapter crashed: {0}")]
    Trapped(String),
    /// The adapter made an outbound request the egress policy refused.
    #[error("outbound request denied: {0}")]
    EgressDenied(String),
    /// Too many adapter instances are running; try again.
    #[error("too many adapter calls in progress")]
    Busy,
    /// The adapter's answer is larger than the host accepts.
    #[error("adapter answered with {0}")]
    OutputTooLarge(String),
    /// The adapter's `kv` writes could not be committed when its call ended.
    #[error("the adapter's storage writes could not be committed: {0}")]
    Storage(String),
}

impl CallError {
    /// The App Connect `errorCode` a call failed this way is answered with;
    /// in lower case, the `outcome` label of its metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Adapter(error) => match error {
                AdapterError::Unsupported(_) => "UNSUPPORTED",
                AdapterError::Unauthorized(_) => "CRM_UNAUTHORIZED",
                AdapterError::NotFound(_) => "NOT_FOUND",
                AdapterError::InvalidInput(_) => "INVALID_INPUT",
                AdapterError::RateLimited(_) => "RATE_LIMITED",
                AdapterError::Upstream(_) => "CRM_ERROR",
                AdapterError::Internal(_) => "ADAPTER_ERROR",
            },
            Self::CpuTimeout(_) | Self::WallTimeout(_) => "ADAPTER_TIMEOUT",
            Self::MemoryLimit(_) => "ADAPTER_MEMORY_LIMIT",
            Self::Trapped(_) => "ADAPTER_TRAPPED",
            Self::EgressDenied(_) => "EGRESS_DENIED",
            Self::Busy => "ADAPTER_BUSY",
            Self::OutputTooLarge(_) => "ADAPTER_OUTPUT_TOO_LARGE",
            Self::Storage(_) => "STORE_UNAVAILABLE",
        }
    }
}

/// Why a component could not be loaded as an adapter.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not compile as a component.
    #[error("not a valid WebAssembly component: {0:#}")]
    Compile(wasmtime::Error),
    /// The compiler's blocking task died.
    #[error("not a valid WebAssembly component: the compiler task failed: {0}")]
    CompilerTask(#[from] tokio::task::JoinError),
    /// The component needs more memory at start than the server lets an
    /// adapter have.
    #[error(
        "the component needs {needs_mib} MiB of memory at start, more than the {limit_mib} MiB \
         an adapter may have: start the server with --adapter-memory-mib {needs_mib} or more \
         (SWITCHBOARD_ADAPTER_MEMORY_MIB)"
    )]
    MemoryNeeds {
        /// What its largest memory starts at, rounded up.
        needs_mib: u64,
        /// `--adapter-memory-mib`.
        limit_mib: u32,
    },
    /// An instance of the component would take more of the instance pool
    /// than any one may.
    #[error("the component is too large to instantiate: {0}")]
    InstanceNeeds(String),
    /// The component targets no contract version this host serves.
    #[error("unsupported switchboard:adapter version: {0}")]
    WitVersion(String),
    /// The component does not fit the world of its version.
    #[error("does not implement the switchboard:adapter world: {0:#}")]
    World(wasmtime::Error),
    /// Calling `manifest` failed.
    #[error("manifest could not be read: {0}")]
    Manifest(CallError),
    /// The manifest says something the host cannot serve.
    #[error("invalid manifest: {0}")]
    InvalidManifest(#[from] ManifestError),
    /// The operator's settings for the adapter cannot apply.
    #[error("operator settings: {0}")]
    Settings(#[from] SettingsError),
}
