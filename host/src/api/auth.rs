//! Sign-in and sign-out routes: `POST /apiKeyLogin`, `POST /unAuthorize`.

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody};
use super::wire::ApiKeyLogin;
use crate::runtime::{AdapterError, CallError};
use crate::service::ServiceError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /apiKeyLogin`
pub(super) async fn api_key_login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ApiKeyLogin>,
) -> Result<Json<Value>, ApiError> {
    if body.platform.is_empty() {
        return Err(ApiError::bad_request("platform is empty"));
    }
    let additional_info = body
        .additional_info
        .filter(|v| !v.is_null())
        .map(|v| v.to_string());
    let login = state
        .service
        .login_api_key(&body.platform, body.api_key, body.hostname, additional_info)
        .await
        .map_err(|error| match error {
            // At login these are the client's problem, not a passing failure.
            ServiceError::AdapterUnavailable(platform) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "ADAPTER_UNAVAILABLE",
                format!("Unknown platform {platform}: no adapter serves it"),
            ),
            ServiceError::Adapter {
                platform,
                error: CallError::Adapter(AdapterError::Unauthorized(_)),
            } => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "CRM_UNAUTHORIZED",
                format!("{platform} rejected the API key"),
            ),
            ServiceError::Adapter {
                platform,
                error: CallError::Adapter(AdapterError::InvalidInput(m)),
            } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                format!("{platform}: {m}"),
            ),
            other => other.into(),
        })?;
    Ok(Json(json!({
        "jwtToken": login.token,
        "name": login.name,
        "returnMessage": {
            "messageType": "success",
            "message": format!("Successfully connected to {}.", login.display_name),
            "ttl": 1000,
        },
    })))
}

/// `POST /unAuthorize`
pub(super) async fn unauthorize(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Value>, ApiError> {
    state.service.unauthorize(&user).await?;
    Ok(Json(json!({
        "successful": true,
        "returnMessage": { "messageType": "success", "message": "Logged out", "ttl": 1000 },
    })))
}

/// `GET /healthz`: 200 once the adapters are loaded, 503 before.
pub(super) async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let registry = state.service.registry();
    if !registry.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "starting" })),
        );
    }
    let adapters: Vec<Value> = registry
        .list()
        .iter()
        .map(|a| {
            let m = a.adapter.manifest();
            json!({ "platform": m.platform, "version": m.version })
        })
        .collect();
    (
        StatusCode::OK,
        Json(json!({ "status": "ready", "adapters": adapters })),
    )
}
