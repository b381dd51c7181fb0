//! The operator's API, mounted only when `--admin-token` is set:
//! `GET /admin/adapters`, `GET /admin/adapters/{platform}` and
//! `GET /admin/replicas` (the fleet view).

use super::AppState;
use super::error::ApiError;
use super::extract::bearer_token;
use crate::service::{AdapterStatus, FileStatus};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The admin token, kept as a digest and compared in constant time.
#[derive(Debug, Clone)]
pub struct AdminToken(SecretSlice<u8>);

impl AdminToken {
    /// The token the admin API accepts.
    pub fn new(token: &SecretString) -> Self {
        let digest = Sha256::digest(token.expose_secret().as_bytes());
        Self(digest.to_vec().into())
    }

    /// Comparing digests keeps both the time and the length of the
    /// comparison independent of the presented token.
    fn accepts(&self, presented: &str) -> bool {
        let digest = Sha256::digest(presented.as_bytes());
        self.0.expose_secret().ct_eq(&digest[..]).into()
    }
}

/// A request that bears the admin token.
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match (&state.admin_token, bearer_token(parts)) {
            (Some(token), Some(presented)) if token.accepts(presented) => Ok(Admin),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "ADMIN_UNAUTHORIZED",
                "A valid admin token is required",
            )),
        }
    }
}

/// `GET /admin/adapters`: one entry per adapter file.
pub(super) async fn list(_: Admin, State(state): State<AppState>) -> Json<Value> {
    let service = &state.service;
    Json(json!({ "adapters": service.adapter_statuses(), "compilations": service.compilations() }))
}

/// `GET /admin/adapters/{platform}`: the entry of the file serving (or
/// claiming) a platform.
pub(super) async fn one(
    _: Admin,
    State(state): State<AppState>,
    Path(platform): Path<String>,
) -> Result<Json<AdapterStatus>, ApiError> {
    let mut matching: Vec<AdapterStatus> = state
        .service
        .adapter_statuses()
        .into_iter()
        .filter(|s| s.platform.as_deref() == Some(platform.as_str()))
        .collect();
    matching.sort_by_key(|s| s.status != FileStatus::Serving);
    matching.into_iter().next().map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("No adapter file for platform {platform}"),
        )
    })
}

/// `GET /admin/replicas`: every live replica on this database and what it
/// serves, with version skew (a platform served from different bytes).
pub(super) async fn replicas(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let fleet = state.service.fleet().await?;
    let skew: Vec<Value> = fleet
        .skew
        .iter()
        .map(|s| json!({ "platform": s.platform, "sha256": s.sha256 }))
        .collect();
    Ok(Json(json!({ "replicas": fleet.replicas, "skew": skew })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_token() {
        let token = AdminToken::new(&"correct horse battery".into());
        assert!(token.accepts("correct horse battery"));
        assert!(!token.accepts("correct horse batter"));
        assert!(!token.accepts(""));
        assert!(!format!("{token:?}").contains("horse"));
    }
}
