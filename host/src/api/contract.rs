//! The rest of App Connect's core contract: `GET /isAlive` (and the older
//! spelling `/is-alive`), `GET /serverVersionInfo`, `GET /hostname`,
//! `GET /implementedInterfaces` and `GET /authValidation`.

use super::AppState;
use super::error::ApiError;
use super::extract::AuthUser;
use super::openapi::{Envelope, Failure, InterfacesReply, VersionReply};
use super::reply::ReturnMessage;
use crate::service::Operation;
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Map, Value, json};

/// `GET /isAlive`: App Connect's liveness answer.
#[utoipa::path(
    get,
    path = "/isAlive",
    responses((status = 200, description = "`OK`", body = String, content_type = "text/plain"))
)]
pub(super) async fn is_alive() -> &'static str {
    "OK"
}

/// `GET /is-alive`: the spelling of older App Connect servers.
#[utoipa::path(
    get,
    path = "/is-alive",
    responses((status = 200, description = "`OK`", body = String, content_type = "text/plain"))
)]
pub(super) async fn is_alive_hyphenated() -> &'static str {
    is_alive().await
}

/// `GET /serverVersionInfo`: this server's version.
#[utoipa::path(
    get,
    path = "/serverVersionInfo",
    responses((status = 200, description = "The server's version", body = VersionReply))
)]
pub(super) async fn server_version_info() -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /hostname`: the CRM host the user signed in to, as text.
#[utoipa::path(
    get,
    path = "/hostname",
    responses(
        (status = 200, description = "The hostname", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid jwtToken", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn hostname(AuthUser(user): AuthUser) -> String {
    user.hostname
}

/// App Connect's name for each operation, as `/implementedInterfaces`
/// reports it.
const INTERFACES: &[(&str, Operation)] = &[
    ("getUserInfo", Operation::GetUserInfo),
    ("findContact", Operation::FindContact),
    ("findContactWithName", Operation::FindContactByName),
    ("createContact", Operation::CreateContact),
    ("createCallLog", Operation::CreateCallLog),
    ("getCallLog", Operation::GetCallLog),
    ("updateCallLog", Operation::UpdateCallLog),
    ("upsertCallDisposition", Operation::UpsertCallDisposition),
    ("createMessageLog", Operation::CreateMessageLog),
    ("updateMessageLog", Operation::UpdateMessageLog),
];

/// `GET /implementedInterfaces?platform=P`: which operations the platform's
/// adapter implements, as booleans under App Connect's method names.
#[utoipa::path(
    get,
    path = "/implementedInterfaces",
    params(("platform" = String, Query, description = "The CRM platform")),
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = InterfacesReply),
        (status = 400, description = "No platform given", body = Failure),
    )
)]
pub(super) async fn implemented_interfaces(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let platform = form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "platform")
        .map(|(_, value)| value.into_owned())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("platform is required"))?;
    let implemented = state.service.implemented(&platform)?;
    let interfaces: Map<String, Value> = INTERFACES
        .iter()
        .map(|(name, op)| ((*name).to_owned(), Value::Bool(implemented.contains(op))))
        .collect();
    Ok(Json(Value::Object(interfaces)))
}

/// `GET /authValidation`: check the user's stored credential with the CRM.
/// A credential the CRM no longer accepts answers `successful: false` with
/// `CRM_SESSION_REVOKED`.
#[utoipa::path(
    get,
    path = "/authValidation",
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = Envelope),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn auth_validation(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Value>, ApiError> {
    // A revoked session is already App Connect's 200 with
    // `successful: false` and `CRM_SESSION_REVOKED` (see `error`).
    state.service.validate_credential(&user).await?;
    Ok(Json(json!({
        "successful": true,
        "returnMessage": ReturnMessage::success("Authorization is valid").ttl(1000),
    })))
}
