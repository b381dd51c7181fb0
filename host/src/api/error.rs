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

use crate::runtime::{AdapterError, CallError};
use crate::service::ServiceError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The message App Connect shows when a user must sign in again.
pub const AUTHORIZE_MESSAGE: &str = "Please go to Settings and authorize CRM platform";

/// An error answer: status, machine-readable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
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
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "UNSUPPORTED_MEDIA_TYPE",
                "Content-Type must be application/json",
            ),
            s if s.is_client_error() => ("INVALID_REQUEST", "Invalid request"),
            _ => ("INTERNAL", "Internal error"),
        };
        Self::new(status, code, message)
    }

    fn body(&self) -> serde_json::Value {
        json!({
            "successful": false,
            "returnMessage": { "messageType": "warning", "message": self.message, "ttl": 3000 },
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
fn adapter_failure(platform: &str, error: &CallError) -> ApiError {
    let ok = StatusCode::OK;
    match error {
        CallError::Adapter(error) => match error {
            AdapterError::Unsupported(m) => ApiError::new(
                ok,
                "UNSUPPORTED",
                format!("{platform} does not support this: {m}"),
            ),
            AdapterError::Unauthorized(_) => {
                ApiError::new(ok, "CRM_UNAUTHORIZED", AUTHORIZE_MESSAGE)
            }
            AdapterError::NotFound(m) => {
                ApiError::new(ok, "NOT_FOUND", format!("Not found in {platform}: {m}"))
            }
            AdapterError::InvalidInput(m) => ApiError::new(
                ok,
                "INVALID_INPUT",
                format!("{platform} cannot accept this: {m}"),
            ),
            AdapterError::RateLimited(limit) => {
                let after = limit
                    .retry_after_seconds
                    .map_or(String::new(), |s| format!("; retry after {s} seconds"));
                ApiError::new(
                    ok,
                    "RATE_LIMITED",
                    format!("{platform} is rate limiting requests{after}"),
                )
            }
            AdapterError::Upstream(e) => ApiError::new(
                ok,
                "CRM_ERROR",
                format!("{platform} answered HTTP {}: {}", e.status, e.message),
            ),
            AdapterError::Internal(m) => ApiError::new(
                ok,
                "ADAPTER_ERROR",
                format!("{platform} adapter failed: {m}"),
            ),
        },
        CallError::CpuTimeout(_) | CallError::WallTimeout(_) => ApiError::new(
            ok,
            "ADAPTER_TIMEOUT",
            format!("{platform} adapter timed out ({error})"),
        ),
        CallError::MemoryLimit(_) => ApiError::new(
            ok,
            "ADAPTER_MEMORY_LIMIT",
            format!("{platform} adapter failed: {error}"),
        ),
        CallError::Trapped(_) => {
            ApiError::new(ok, "ADAPTER_TRAPPED", format!("{platform} adapter crashed"))
        }
        CallError::EgressDenied(reason) => ApiError::new(
            ok,
            "EGRESS_DENIED",
            format!("{platform} adapter tried a request the host does not allow: {reason}"),
        ),
        CallError::OutputTooLarge(_) => ApiError::new(
            ok,
            "ADAPTER_OUTPUT_TOO_LARGE",
            format!("{platform} adapter failed: {error}"),
        ),
        CallError::Busy => ApiError::new(
            ok,
            "ADAPTER_BUSY",
            format!("{platform} adapter is busy; try again"),
        ),
    }
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
            ServiceError::Adapter { platform, error } => adapter_failure(&platform, &error),
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
            ServiceError::Store(error) => {
                tracing::error!(error = %error, "store failure");
                Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ServiceError::Internal(error) => {
                tracing::error!(error = %error, "internal failure");
                Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}
