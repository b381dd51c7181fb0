//! Request extractors that answer bad input with an [`ApiError`]:
//! [`JsonBody`] (content type, size, syntax, and the path of the bad field)
//! and [`AuthUser`] (the `jwtToken`, from the query or `Authorization: Bearer`).

use super::AppState;
use super::error::ApiError;
use crate::service::User;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON request body, parsed with the path of any bad field in the error
/// (`logInfo.direction: unknown variant …`).
#[derive(Debug)]
pub(super) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::from_status(rejection.status()))?;
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
        Ok(AuthUser(state.service.authenticate(&token).await?))
    }
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
