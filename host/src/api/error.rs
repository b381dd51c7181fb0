//! The one error type of the API, rendered in App Connect's JSON shape:
//!
//! ```json
//! {"successful": false,
//!  "returnMessage": {"messageType": "warning", "message": "…", "ttl": 3000},
//!  "errorCode": "ADAPTER_TIMEOUT"}
//! ```
//!
//! Messages name the problem for the client and never carry internals (SQL,
//! stack traces, secrets); those go to the log.

use super::reply::ReturnMessage;
use crate::service::{AdapterFailure, ServiceError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The message App Connect shows when a user must sign in again.
pub const AUTHORIZE_MESSAGE: &str = "Please go to Settings and authorize CRM platform";

/// An error answer: status, machine-readable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `errorCode`.
    pub code: &'static str,
    /// The message shown to the user.
    pub message: String,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed; the message names the field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// 401: missing, invalid or revoked `jwtToken`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            AUTHORIZE_MESSAGE,
        )
    }

    /// The answer for a bare status from a layer (limit, timeout, routing).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "Request body is too large"),
            StatusCode::REQUEST_TIMEOUT => ("REQUEST_TIMEOUT", "Request took too long"),
            StatusCode::NOT_FOUND => ("NOT_FOUND", "No such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("METHOD_NOT_ALLOWED", "Method not allowed on this route")
            }
            s if s.is_client_error() => ("INVALID_REQUEST", "Invalid request"),
            _ => ("INTERNAL", "Internal error"),
        };
        Self::new(status, code, message)
    }

    fn body(&self) -> serde_json::Value {
        json!({
            "successful": false,
            "returnMessage": ReturnMessage::warning(&self.message),
            "errorCode": self.code,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Adapter failures are answered App Connect style: HTTP 200 with
/// `successful: false`.
fn adapter_failure(platform: &str, failure: &AdapterFailure) -> ApiError {
    let message = match failure {
        AdapterFailure::Unsupported(m) => format!("{platform} does not support this: {m}"),
        AdapterFailure::Unauthorized(_) => AUTHORIZE_MESSAGE.to_owned(),
        AdapterFailure::NotFound(m) => format!("Not found in {platform}: {m}"),
        AdapterFailure::InvalidInput(m) => format!("{platform} cannot accept this: {m}"),
        AdapterFailure::RateLimited {
            retry_after_seconds,
            ..
        } => {
            let after =
                retry_after_seconds.map_or(String::new(), |s| format!("; retry after {s} seconds"));
            format!("{platform} is rate limiting requests{after}")
        }
        AdapterFailure::Upstream { status, message } => {
            format!("{platform} answered HTTP {status}: {message}")
        }
        AdapterFailure::Internal(m) => format!("{platform} adapter failed: {m}"),
        AdapterFailure::Timeout(what) => format!("{platform} adapter timed out ({what})"),
        AdapterFailure::MemoryLimit(what) | AdapterFailure::OutputTooLarge(what) => {
            format!("{platform} adapter failed: {what}")
        }
        AdapterFailure::Crashed => format!("{platform} adapter crashed"),
        AdapterFailure::EgressDenied(reason) => {
            format!("{platform} adapter tried a request the host does not allow: {reason}")
        }
        AdapterFailure::Busy => format!("{platform} adapter is busy; try again"),
    };
    ApiError::new(StatusCode::OK, failure.code(), message)
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Unauthenticated => Self::unauthenticated(),
            ServiceError::AdapterUnavailable(platform) => Self::new(
                StatusCode::OK,
                "ADAPTER_UNAVAILABLE",
                format!("No adapter is available for platform {platform}"),
            ),
            ServiceError::AdapterLoading(platform) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ADAPTER_LOADING",
                format!(
                    "Adapters are still loading; none serves {platform} yet. Try again shortly"
                ),
            ),
            ServiceError::Adapter { platform, failure } => adapter_failure(&platform, &failure),
            ServiceError::InvalidRequest(message) => Self::bad_request(message),
            ServiceError::OAuthNotConfigured(platform) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "OAUTH_NOT_CONFIGURED",
                format!("The operator has not configured OAuth for {platform}"),
            ),
            ServiceError::OAuthRefused { platform, reason } => Self::new(
                StatusCode::UNAUTHORIZED,
                "CRM_UNAUTHORIZED",
                format!("{platform} refused the authorization: {reason}"),
            ),
            ServiceError::CrmUnavailable { platform, reason } => Self::new(
                StatusCode::BAD_GATEWAY,
                "CRM_UNAVAILABLE",
                format!("{platform} could not complete the sign-in: {reason}"),
            ),
            ServiceError::SessionRevoked { platform, reason } => Self::new(
                StatusCode::OK,
                "CRM_SESSION_REVOKED",
                format!("Your {platform} session has ended: {reason}. {AUTHORIZE_MESSAGE}"),
            ),
            ServiceError::StoreUnavailable(error) => {
                tracing::warn!(error = %error, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STORE_UNAVAILABLE",
                    "The server cannot reach its database; try again shortly",
                )
            }
            ServiceError::Store(error) => {
                tracing::error!(error = %error, "store failure");
                Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ServiceError::AdapterRefused(reason) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ADAPTER_REFUSED",
                format!("The adapter would be refused, so nothing changed: {reason}"),
            ),
            ServiceError::NoSuchAdapter(message) => {
                Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
            }
            ServiceError::Internal(error) => {
                tracing::error!(error = %error, "internal failure");
                Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}
