//! The service's error kind: what went wrong, in terms the API can answer
//! without knowing how adapters run.

use crate::registry::DeployError;
use crate::runtime::{AdapterError, CallError};
use crate::store::StoreError;

/// Why an adapter call failed, as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterFailure {
    /// The adapter does not implement the operation.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The CRM refused the user's credential.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The CRM has no such record.
    #[error("not found: {0}")]
    NotFound(String),
    /// The CRM cannot accept the input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The CRM is rate limiting.
    #[error("rate limited: {message}")]
    RateLimited {
        /// Seconds until the CRM accepts requests again, when it said.
        retry_after_seconds: Option<u32>,
        /// What the CRM said.
        message: String,
    },
    /// The CRM answered with an error.
    #[error("upstream HTTP {status}: {message}")]
    Upstream {
        /// The CRM's HTTP status.
        status: u16,
        /// The CRM's message.
        message: String,
    },
    /// The adapter failed in its own code.
    #[error("internal: {0}")]
    Internal(String),
    /// The call ran out of CPU or wall-clock time; the text says which.
    #[error("{0}")]
    Timeout(String),
    /// The call needed more memory than it may have; the text says how much.
    #[error("{0}")]
    MemoryLimit(String),
    /// The adapter crashed.
    #[error("adapter crashed")]
    Crashed,
    /// The adapter tried a request the host does not allow.
    #[error("outbound request denied: {0}")]
    EgressDenied(String),
    /// The adapter's answer is larger than the host accepts; the text says how.
    #[error("{0}")]
    OutputTooLarge(String),
    /// Too many calls are in progress.
    #[error("too many adapter calls in progress")]
    Busy,
}

impl From<CallError> for AdapterFailure {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Adapter(error) => match error {
                AdapterError::Unsupported(m) => Self::Unsupported(m),
                AdapterError::Unauthorized(m) => Self::Unauthorized(m),
                AdapterError::NotFound(m) => Self::NotFound(m),
                AdapterError::InvalidInput(m) => Self::InvalidInput(m),
                AdapterError::RateLimited(limit) => Self::RateLimited {
                    retry_after_seconds: limit.retry_after_seconds,
                    message: limit.message,
                },
                AdapterError::Upstream(e) => Self::Upstream {
                    status: e.status,
                    message: e.message,
                },
                AdapterError::Internal(m) => Self::Internal(m),
            },
            CallError::CpuTimeout(_) | CallError::WallTimeout(_) => {
                Self::Timeout(error.to_string())
            }
            CallError::MemoryLimit(_) => Self::MemoryLimit(error.to_string()),
            CallError::Trapped(_) => Self::Crashed,
            CallError::EgressDenied(reason) => Self::EgressDenied(reason),
            CallError::OutputTooLarge(_) => Self::OutputTooLarge(error.to_string()),
            CallError::Busy => Self::Busy,
            // `adapter_error` answers it as `StoreUnavailable` instead.
            CallError::Storage(_) => Self::Internal(error.to_string()),
        }
    }
}

impl AdapterFailure {
    /// The App Connect `errorCode` this failure is answered with: the one
    /// [`CallError::code`] gives the call it came from.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "UNSUPPORTED",
            Self::Unauthorized(_) => "CRM_UNAUTHORIZED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Upstream { .. } => "CRM_ERROR",
            Self::Internal(_) => "ADAPTER_ERROR",
            Self::Timeout(_) => "ADAPTER_TIMEOUT",
            Self::MemoryLimit(_) => "ADAPTER_MEMORY_LIMIT",
            Self::Crashed => "ADAPTER_TRAPPED",
            Self::EgressDenied(_) => "EGRESS_DENIED",
            Self::OutputTooLarge(_) => "ADAPTER_OUTPUT_TOO_LARGE",
            Self::Busy => "ADAPTER_BUSY",
        }
    }
}

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The `jwtToken` is missing or invalid, or its user signed out.
    #[error("not authenticated")]
    Unauthenticated,
    /// No adapter serves this platform now.
    #[error("no adapter serves platform {0:?}")]
    AdapterUnavailable(String),
    /// No adapter serves this platform yet, and adapter files are still
    /// loading: one of them may.
    #[error("adapters are still loading; none serves platform {0:?} yet")]
    AdapterLoading(String),
    /// The adapter call failed.
    #[error("adapter {platform}: {failure}")]
    Adapter {
        /// The platform whose adapter failed.
        platform: String,
        /// How it failed.
        failure: AdapterFailure,
    },
    /// The request cannot be served as asked; the message says why.
    #[error("{0}")]
    InvalidRequest(String),
    /// The platform signs in with OAuth, but the operator set up no OAuth app.
    #[error("OAuth is not configured for platform {0}")]
    OAuthNotConfigured(String),
    /// The CRM refused to give tokens for an authorization code.
    #[error("{platform} refused the authorization: {reason}")]
    OAuthRefused {
        /// The platform.
        platform: String,
        /// What the CRM said.
        reason: String,
    },
    /// The CRM's token endpoint failed at sign-in.
    #[error("{platform} token endpoint failed: {reason}")]
    CrmUnavailable {
        /// The platform.
        platform: String,
        /// What failed.
        reason: String,
    },
    /// The user's OAuth session could not be refreshed; they must sign in again.
    #[error("{platform} session could not be refreshed: {reason}")]
    SessionRevoked {
        /// The platform.
        platform: String,
        /// Why.
        reason: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// The database cannot be reached now; the same request may succeed
    /// later.
    #[error("the database is unavailable: {0}")]
    StoreUnavailable(String),
    /// An uploaded adapter would be refused; the text says why. Nothing
    /// changed.
    #[error("{0}")]
    AdapterRefused(String),
    /// No adapter file has this name.
    #[error("{0}")]
    NoSuchAdapter(String),
    /// A bug or an unexpected failure inside the host.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            Self::StoreUnavailable(error.to_string())
        } else if error.is_rejected_value() {
            tracing::warn!(error = %error, "the database refused a value of the request");
            Self::InvalidRequest("a value in the request cannot be stored".into())
        } else {
            Self::Store(error)
        }
    }
}

impl From<DeployError> for ServiceError {
    fn from(error: DeployError) -> Self {
        match error {
            DeployError::BadName(_) => Self::InvalidRequest(error.to_string()),
            DeployError::OperatorFile(_)
            | DeployError::Refused(_)
            | DeployError::Claimed { .. } => Self::AdapterRefused(error.to_string()),
            DeployError::NotFound(_) => Self::NoSuchAdapter(error.to_string()),
            DeployError::Io { .. } => Self::Internal(error.to_string()),
        }
    }
}

/// Turn a runtime call error of `platform`'s adapter into a service error.
pub(super) fn adapter_error(platform: &str) -> impl FnOnce(CallError) -> ServiceError + '_ {
    move |error| match error {
        // The adapter did its part; storing what it wrote failed.
        CallError::Storage(why) => ServiceError::StoreUnavailable(why),
        error => ServiceError::Adapter {
            platform: platform.to_owned(),
            failure: error.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{RateLimit, UpstreamError};
    use std::time::Duration;

    /// The metrics label a call's outcome with [`CallError::code`]; clients
    /// see [`AdapterFailure::code`]. They must agree for every failure.
    #[test]
    fn a_failure_answers_with_the_code_its_metrics_count() {
        let text = || "why".to_owned();
        let failures = [
            CallError::Adapter(AdapterError::Unsupported(text())),
            CallError::Adapter(AdapterError::Unauthorized(text())),
            CallError::Adapter(AdapterError::NotFound(text())),
            CallError::Adapter(AdapterError::InvalidInput(text())),
            CallError::Adapter(AdapterError::RateLimited(RateLimit {
                retry_after_seconds: Some(3),
                message: text(),
            })),
            CallError::Adapter(AdapterError::Upstream(UpstreamError {
                status: 502,
                message: text(),
            })),
            CallError::Adapter(AdapterError::Internal(text())),
            CallError::CpuTimeout(Duration::from_secs(1)),
            CallError::WallTimeout(Duration::from_secs(1)),
            CallError::MemoryLimit(64),
            CallError::Trapped(text()),
            CallError::EgressDenied(text()),
            CallError::Busy,
            CallError::OutputTooLarge(text()),
        ];
        for failure in failures {
            let counted = failure.code();
            let answered = match adapter_error("p")(failure) {
                ServiceError::Adapter { failure, .. } => failure.code(),
                other => panic!("{other}"),
            };
            assert_eq!(answered, counted);
        }
        let stored = adapter_error("p")(CallError::Storage(text()));
        assert!(matches!(stored, ServiceError::StoreUnavailable(_)));
        assert_eq!(CallError::Storage(text()).code(), "STORE_UNAVAILABLE");
    }
}
