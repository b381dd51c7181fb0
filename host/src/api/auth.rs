//! Sign-in and sign-out routes: `POST /apiKeyLogin`, `GET /oauth-callback`,
//! `POST /unAuthorize`.

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody};
use super::openapi::{Envelope, Failure, HealthReply, LoginReply};
use super::reply::ReturnMessage;
use super::wire::ApiKeyLogin;
use crate::service::{AdapterFailure, Login, OAuthCallback, ServiceError};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `POST /apiKeyLogin`
#[utoipa::path(
    post,
    path = "/apiKeyLogin",
    request_body = ApiKeyLogin,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = LoginReply),
        (status = 400, description = "Malformed, or no adapter serves the platform", body = Failure),
        (status = 401, description = "The CRM rejected the API key", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
    )
)]
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
        .map_err(login_error("API key"))?;
    Ok(login_reply(login))
}

/// `GET /oauth-callback?callbackUri=…&state=…`: App Connect's OAuth return.
/// `state` carries `platform=<name>` (and `hostname=…`); `callbackUri` is the
/// client's redirect URL with the CRM's `code` in its query.
#[utoipa::path(
    get,
    path = "/oauth-callback",
    params(("callbackUri" = String, Query, description = "The client's redirect URL, with the CRM's `code`"), ("state" = Option<String>, Query, description = "`platform=<name>&hostname=…`")),
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = LoginReply),
        (status = 400, description = "Malformed", body = Failure),
        (status = 401, description = "The CRM did not authorize", body = Failure),
        (status = 502, description = "The CRM's token endpoint failed", body = Failure),
        (status = 503, description = "No OAuth app is configured for the platform", body = Failure),
    )
)]
pub(super) async fn oauth_callback(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let callback = parse_callback(query.as_deref().unwrap_or_default())?;
    let login = state
        .service
        .login_oauth(callback)
        .await
        .map_err(login_error("access token"))?;
    Ok(login_reply(login))
}

fn param(query: &str, name: &str) -> Result<Option<String>, ApiError> {
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned());
    let value = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "{name} is given more than once"
        )));
    }
    Ok(value)
}

fn parse_callback(query: &str) -> Result<OAuthCallback, ApiError> {
    let callback_uri = param(query, "callbackUri")?
        .ok_or_else(|| ApiError::bad_request("callbackUri is required"))?;
    let uri: http::Uri = callback_uri
        .parse()
        .map_err(|_| ApiError::bad_request("callbackUri is not a URL"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(ApiError::bad_request("callbackUri must be an absolute URL"));
    };
    let returned = uri.query().unwrap_or_default();
    if let Some(error) = param(returned, "error")? {
        let description = param(returned, "error_description")?.unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CRM_UNAUTHORIZED",
            format!("The CRM did not authorize: {error} {description}")
                .trim_end()
                .to_owned(),
        ));
    }
    let code = param(returned, "code")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("callbackUri has no code"))?;
    let state = match param(query, "state")? {
        Some(state) => state,
        None => param(returned, "state")?.unwrap_or_default(),
    };
    let platform = param(&state, "platform")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("state has no platform"))?;
    let hostname = match param(&state, "hostname")? {
        Some(hostname) => hostname,
        None => param(query, "hostname")?.unwrap_or_default(),
    };
    Ok(OAuthCallback {
        platform,
        code,
        redirect_uri: format!("{scheme}://{authority}{}", uri.path()),
        hostname,
    })
}

/// Login failures are the client's to fix, not passing failures.
/// `credential` names what the CRM rejected.
fn login_error(credential: &'static str) -> impl Fn(ServiceError) -> ApiError {
    move |error| match error {
        ServiceError::AdapterUnavailable(platform) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "ADAPTER_UNAVAILABLE",
            format!("Unknown platform {platform}: no adapter serves it"),
        ),
        error @ ServiceError::AdapterLoading(_) => error.into(),
        ServiceError::Adapter {
            platform,
            failure: AdapterFailure::Unauthorized(_),
        } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CRM_UNAUTHORIZED",
            format!("{platform} rejected the {credential}"),
        ),
        ServiceError::Adapter {
            platform,
            failure: AdapterFailure::InvalidInput(m),
        } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            format!("{platform}: {m}"),
        ),
        other => other.into(),
    }
}

fn login_reply(login: Login) -> Json<Value> {
    let welcome = format!("Successfully connected to {}.", login.display_name);
    Json(json!({
        "jwtToken": login.token,
        "name": login.name,
        "returnMessage": ReturnMessage::success(welcome).ttl(1000),
    }))
}

/// `POST /unAuthorize`
#[utoipa::path(
    post,
    path = "/unAuthorize",
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = Envelope),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn unauthorize(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
) -> Result<Json<Value>, ApiError> {
    state.service.unauthorize(&user).await?;
    Ok(Json(json!({
        "successful": true,
        "returnMessage": ReturnMessage::success("Logged out").ttl(1000),
    })))
}

/// `GET /healthz`, a readiness probe: 200 once the adapters are loaded and
/// while the database answers; 503 before, and while it does not.
#[utoipa::path(
    get,
    path = "/healthz",
    responses(
        (status = 200, description = "Ready", body = HealthReply),
        (status = 503, description = "Starting, or the database cannot be reached", body = HealthReply),
    )
)]
pub(super) async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let health = state.service.health().await;
    let store = match &health.store_down {
        None => json!({ "status": "up" }),
        Some(reason) => json!({ "status": "down", "error": reason }),
    };
    let status = match (health.ready, health.store_down.is_none()) {
        (false, _) => "starting",
        (true, false) => "store unavailable",
        (true, true) => "ready",
    };
    let adapters: Vec<Value> = health
        .adapters
        .iter()
        .map(|(platform, version)| json!({ "platform": platform, "version": version }))
        .collect();
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "status": status,
            "store": store,
            "adapters": adapters,
            "files": health.files,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_carries_platform_hostname_and_code() {
        let query = "callbackUri=https%3A%2F%2Fapp.example%2Fredirect.html%3Fcode%3Dabc%26state%3Dx\
                     &state=platform%3Dpipedrive%26hostname%3Dacme.pipedrive.com";
        let cb = parse_callback(query).expect("parses");
        assert_eq!(cb.platform, "pipedrive");
        assert_eq!(cb.code, "abc");
        assert_eq!(cb.hostname, "acme.pipedrive.com");
        assert_eq!(cb.redirect_uri, "https://app.example/redirect.html");
    }

    #[test]
    fn bad_callbacks_say_what_is_wrong() {
        let msg = |q: &str| parse_callback(q).expect_err(q).message;
        assert!(msg("state=platform%3Dp").contains("callbackUri is required"));
        assert!(
            msg("callbackUri=https%3A%2F%2Fa.example%2F&state=platform%3Dp").contains("no code")
        );
        assert!(msg("callbackUri=https%3A%2F%2Fa.example%2F%3Fcode%3D1").contains("no platform"));
        let denied = parse_callback(
            "callbackUri=https%3A%2F%2Fa.example%2F%3Ferror%3Daccess_denied&state=platform%3Dp",
        )
        .expect_err("denied");
        assert_eq!(denied.code, "CRM_UNAUTHORIZED");
    }
}
