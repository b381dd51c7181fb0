//! `GET /openapi.json`: the OpenAPI 3.1 description of every App Connect
//! route, generated from the code by utoipa. Request schemas are the wire
//! types the handlers parse (`wire.rs`, `message_log.rs`); each route's
//! `#[utoipa::path]` sits on its handler. Answers are built as JSON in the
//! handlers, so their schemas are the reply types below, which say what
//! every answer of a route may hold: App Connect's envelope
//! (`successful`, `returnMessage`, `errorCode`) plus the route's payload,
//! present when it succeeded. CI runs schemathesis against a live server's
//! document (`response_schema_conformance`), which keeps the two in step.

use super::reply::{MessageType, ReturnMessage};
use super::{auth, call_log, contact, contract, message_log};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::Value;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "The RingCentral App Connect server API, served by Switchboard. Signed-in \
                       routes take the jwtToken as the `jwtToken` query parameter or as \
                       `Authorization: Bearer`.",
    ),
    paths(
        auth::api_key_login,
        auth::oauth_callback,
        auth::unauthorize,
        auth::healthz,
        contract::is_alive,
        contract::is_alive_hyphenated,
        contract::server_version_info,
        contract::hostname,
        contract::implemented_interfaces,
        contract::auth_validation,
        contact::find,
        contact::search_by_name,
        contact::create,
        call_log::create,
        call_log::find,
        call_log::update,
        call_log::disposition,
        message_log::create,
    ),
    components(schemas(ReturnMessage, MessageType, Failure, ErrorCode)),
    modifiers(&TokenLocations),
)]
struct ApiDoc;

/// The two places a `jwtToken` may travel.
struct TokenLocations;

impl Modify for TokenLocations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwtQuery",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("jwtToken"))),
        );
        components.add_security_scheme(
            "jwtBearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"rendering the OpenAPI document: {e}\"}}"))
});

/// `GET /openapi.json`
pub(super) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

// What follows only describes answers; the handlers build them as JSON,
// so the types are never constructed (hence `allow(dead_code)`).

/// Every `errorCode` an answer may carry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)]
pub(super) enum ErrorCode {
    /// The request is malformed; the message names the field.
    InvalidRequest,
    /// No valid `jwtToken`.
    Unauthenticated,
    /// No route here.
    NotFound,
    /// The route has no such method.
    MethodNotAllowed,
    /// The body is over the limit.
    PayloadTooLarge,
    /// The request took too long.
    RequestTimeout,
    /// The database cannot be reached.
    StoreUnavailable,
    /// No adapter serves the platform.
    AdapterUnavailable,
    /// Adapters are still loading, and none serves the platform yet.
    AdapterLoading,
    /// The adapter took too long.
    AdapterTimeout,
    /// The adapter crashed.
    AdapterTrapped,
    /// The adapter needed more memory than it may have.
    AdapterMemoryLimit,
    /// Too many adapter calls at once.
    AdapterBusy,
    /// The adapter answered more than the host accepts.
    AdapterOutputTooLarge,
    /// The adapter failed in its own code.
    AdapterError,
    /// The adapter tried a request the host does not allow.
    EgressDenied,
    /// The CRM is rate limiting.
    RateLimited,
    /// The adapter does not implement the operation.
    Unsupported,
    /// The CRM refused the credential.
    CrmUnauthorized,
    /// The CRM answered with an error.
    CrmError,
    /// The CRM cannot accept the input.
    InvalidInput,
    /// The CRM session ended; sign in again.
    CrmSessionRevoked,
    /// The CRM's token endpoint failed at sign-in.
    CrmUnavailable,
    /// The operator configured no OAuth app for the platform.
    OauthNotConfigured,
    /// Another create of the session or conversation-day is in flight.
    LogInProgress,
    /// A server fault.
    Internal,
}

/// An answer that did not succeed: App Connect's envelope. Also every 4xx.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct Failure {
    /// `false`.
    successful: bool,
    /// What to show the user.
    return_message: ReturnMessage,
    /// A machine-readable code (`INVALID_REQUEST`, `UNSUPPORTED`, …); absent
    /// for a warning that is not an error (no contact found, …).
    error_code: Option<ErrorCode>,
}

/// The envelope of a route with no payload of its own.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct Envelope {
    successful: bool,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `POST /apiKeyLogin`, `GET /oauth-callback`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct LoginReply {
    /// The token for every signed-in route.
    jwt_token: Option<String>,
    /// The user's name in the CRM.
    name: Option<String>,
    /// Present (`false`) when the sign-in failed.
    successful: Option<bool>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// A contact, as `GET /contact` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct ContactJson {
    id: String,
    name: String,
    phone: Option<String>,
    #[serde(rename = "type")]
    contact_type: Option<String>,
    organization: Option<String>,
    /// CRM-specific extras.
    additional_info: Option<Value>,
}

/// `GET /contact`, `GET /custom/contact/search`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct ContactsReply {
    successful: bool,
    /// The contacts found; empty when none.
    contact: Option<Vec<ContactJson>>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// A contact just created.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct CreatedContact {
    id: String,
    name: String,
}

/// `POST /contact`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct ContactCreateReply {
    successful: bool,
    contact: Option<CreatedContact>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `POST /callLog`, `PUT /callDisposition`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct CallLogReply {
    successful: bool,
    /// The CRM's id of the record.
    log_id: Option<String>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `PATCH /callLog`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct CallLogUpdateReply {
    successful: bool,
    log_id: Option<String>,
    /// The record's body after the update.
    updated_note: Option<String>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// A logged call, read back (`requireDetails=true`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct LogData {
    subject: String,
    note: String,
    full_body: Option<String>,
    contact_name: Option<String>,
    dispositions: Option<Value>,
}

/// One session of `GET /callLog`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct LogLookup {
    session_id: String,
    matched: bool,
    log_id: Option<String>,
    log_data: Option<LogData>,
}

/// `GET /callLog`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct CallLogFindReply {
    successful: bool,
    /// In the order the sessions were asked for.
    logs: Option<Vec<LogLookup>>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `POST /messageLog`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct MessageLogReply {
    successful: bool,
    /// The ids of the messages this request logged, oldest first.
    log_ids: Option<Vec<String>>,
    /// `null` when every message was logged before.
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `GET /implementedInterfaces`: one boolean per App Connect method, or the
/// envelope when no adapter serves the platform.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(super) struct InterfacesReply {
    get_user_info: Option<bool>,
    find_contact: Option<bool>,
    find_contact_with_name: Option<bool>,
    create_contact: Option<bool>,
    create_call_log: Option<bool>,
    get_call_log: Option<bool>,
    update_call_log: Option<bool>,
    upsert_call_disposition: Option<bool>,
    create_message_log: Option<bool>,
    update_message_log: Option<bool>,
    successful: Option<bool>,
    return_message: Option<ReturnMessage>,
    error_code: Option<ErrorCode>,
}

/// `GET /serverVersionInfo`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct VersionReply {
    /// The server's version.
    version: String,
}

/// `/healthz`'s store.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct StoreHealth {
    /// `up` or `down`.
    status: String,
    error: Option<String>,
}

/// A serving adapter.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct ServingAdapter {
    platform: String,
    version: String,
}

/// `/healthz`'s count of adapter files.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct FileCountsReply {
    /// Serving their platform.
    loaded: usize,
    /// Not loaded or refused yet.
    loading: usize,
    /// Refused.
    refused: usize,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(super) struct HealthReply {
    /// `ready`, `starting` or `store unavailable`.
    status: String,
    store: StoreHealth,
    adapters: Vec<ServingAdapter>,
    files: FileCountsReply,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_with_both_token_locations() {
        let document: Value = serde_json::from_str(&DOCUMENT).expect("JSON");
        assert!(
            document["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        let paths = document["paths"].as_object().expect("paths");
        for path in [
            "/apiKeyLogin",
            "/callLog",
            "/messageLog",
            "/contact",
            "/custom/contact/search",
            "/callDisposition",
            "/implementedInterfaces",
            "/authValidation",
            "/isAlive",
        ] {
            assert!(paths.contains_key(path), "{path} is described");
        }
        // Every code the API answers with is among the documented ones.
        let documented = document["components"]["schemas"]["ErrorCode"]["enum"].clone();
        use crate::api::error::ApiError;
        use axum::http::StatusCode;
        let mut codes = vec![
            ApiError::bad_request("x").code,
            ApiError::unauthenticated().code,
        ];
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            codes.push(ApiError::from_status(status).code);
        }
        for code in codes {
            assert!(
                documented
                    .as_array()
                    .expect("an enum")
                    .iter()
                    .any(|c| c == code),
                "{code} is documented"
            );
        }
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["jwtQuery"]["in"], "query");
        assert_eq!(schemes["jwtBearer"]["scheme"], "bearer");
    }
}
