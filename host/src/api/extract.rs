//! Request extractors that answer bad input with an [`ApiError`]:
//! [`JsonBody`] (content type, size, syntax, and the path of the bad field)
//! and [`AuthUser`] (the `jwtToken`, from the query or `Authorization: Bearer`).

use super::AppState;
use super::error::ApiError;
use crate::service::User;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;
use std::sync::{Arc, OnceLock};

/// A JSON request body, parsed with the path of any bad field in the error
/// (`logInfo.direction: unknown variant …`).
#[derive(Debug)]
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // App Connect documents 200, 400 and 401 for its routes: a body
        // that is not JSON is a 400 that says so (not a 415).
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::bad_request(
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::from_status(rejection.status()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "Request body is empty: send a JSON object",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse JSON, naming the offending field on error.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("Invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("Invalid JSON body at {path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
    Ok(value)
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub(super) fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The signed-in user a request's `jwtToken` belongs to.
#[derive(Debug)]
pub(super) struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer_token(parts).map(str::to_owned);
        let token = bearer.or_else(|| {
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .find(|(name, _)| name == "jwtToken")
                .map(|(_, value)| value.into_owned())
        });
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(ApiError::unauthenticated());
        };
        let (user, renewed) = state.service.authenticate(&token).await?;
        if let (Some(renewed), Some(slot)) = (renewed, parts.extensions.get::<RenewedToken>()) {
            // Set once: a handler authenticates each request once.
            let _ = slot.0.set(renewed);
        }
        Ok(AuthUser(user))
    }
}

/// Where [`AuthUser`] leaves a renewed token for [`renew_token`] to send.
#[derive(Debug, Clone, Default)]
pub(super) struct RenewedToken(Arc<OnceLock<String>>);

/// The header that carries a renewed `jwtToken`, as App Connect names it.
const REFRESHED_TOKEN: &str = "x-refreshed-jwt-token";

/// Middleware: an authorised answer to a request whose token is due for
/// renewal carries a fresh token in `X-Refreshed-JWT-Token`.
pub(super) async fn renew_token(mut request: Request, next: Next) -> Response {
    let slot = RenewedToken::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(token) = slot.0.get()
        && response.status() != StatusCode::UNAUTHORIZED
        && let Ok(value) = HeaderValue::from_str(token)
    {
        response.headers_mut().insert(REFRESHED_TOKEN, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        log_info: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        duration: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let err =
            parse_json::<Outer>(br#"{"logInfo": {"duration": "long"}}"#).expect_err("bad type");
        assert!(err.message.contains("logInfo.duration"), "{}", err.message);
        let err = parse_json::<Outer>(br#"{"logInfo": {}}"#).expect_err("missing");
        assert!(err.message.contains("duration"), "{}", err.message);
        let err =
            parse_json::<Outer>(br#"{"logInfo": {"duration": 1}} trailing"#).expect_err("trailing");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }
}
