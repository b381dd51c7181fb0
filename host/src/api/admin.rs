//! The operator's API, mounted only when `--admin-token` is set:
//! `GET /admin/adapters`, `GET /admin/adapters/{platform}` and
//! `GET /admin/replicas` (the fleet view); `PUT /admin/adapters/{name}`
//! (a `multipart/form-data` upload: `component`, the `.wasm`, and
//! optionally `config`, its operator file) and `DELETE
//! /admin/adapters/{name}`, where `{name}` is the file's stem.

use super::AppState;
use super::error::ApiError;
use super::extract::bearer_token;
use crate::service::{AdapterStatus, FileStatus};
use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequestParts, MatchedPath, Multipart, Path, Request, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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

/// The route of one adapter: `GET` by platform, `PUT` and `DELETE` by file
/// stem.
pub(super) const ADAPTER_ROUTE: &str = "/admin/adapters/{platform}";

/// Whether `request` uploads an adapter (`PUT /admin/adapters/{name}`).
/// Layers added with `Router::layer` run after routing, so the matched
/// route is known.
pub(super) fn is_upload(request: &Request) -> bool {
    request.method() == Method::PUT
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| path.as_str() == ADAPTER_ROUTE)
}

/// Middleware: refuse an upload without the admin token before its body is
/// read, since it may be large. Other requests pass.
pub(super) async fn uploads_need_the_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if is_upload(&request) {
        let (mut parts, body) = request.into_parts();
        if let Err(refused) = Admin::from_request_parts(&mut parts, &state).await {
            return refused.into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(request).await
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

/// `PUT /admin/adapters/{name}`: deploy `<name>.wasm`, checked first.
/// (The route's parameter is named `platform` for its `GET`; here it is
/// the file's stem.)
pub(super) async fn deploy(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    mut form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let unreadable =
        |e: MultipartError| ApiError::bad_request(format!("the upload: {}", e.body_text()));
    let (mut component, mut config) = (None, None);
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("component") => {
                component = Some(field.bytes().await.map_err(unreadable)?.to_vec())
            }
            Some("config") => config = Some(field.text().await.map_err(unreadable)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected form field {}: send `component` (the .wasm) and optionally `config` (its operator file)",
                    other.unwrap_or("without a name")
                )));
            }
        }
    }
    let component = component.ok_or_else(|| {
        ApiError::bad_request("the upload has no `component` field (the .wasm file)")
    })?;
    let deployed = state
        .service
        .deploy_adapter(&name, component, config)
        .await?;
    Ok(Json(json!({
        "successful": true,
        "file": deployed.file,
        "platform": deployed.platform,
        "version": deployed.version,
        "sha256": deployed.sha256,
    })))
}

/// `DELETE /admin/adapters/{name}`: remove `<name>.wasm` and its operator
/// file; the platform stops serving once the watcher sees it.
pub(super) async fn remove(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.service.remove_adapter(&name).await?;
    Ok(Json(
        json!({ "successful": true, "file": format!("{name}.wasm") }),
    ))
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
