//! The host's side of OAuth 2.0: exchanging an authorization code and
//! refreshing tokens at a CRM's token endpoint. The client secret lives
//! here and in the operator's environment only; it never enters an adapter.
//!
//! Requests go through the process-wide [`EgressClient`], so they get the
//! same connection pool, SSRF guard and operator rewrites as adapter
//! traffic. Clients authenticate with HTTP Basic (`client_secret_basic`), or
//! with the id and secret in the form body (`client_secret_post`) for CRMs
//! whose token endpoint wants that (HubSpot).

use crate::egress::{EgressClient, full_body};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How a client presents its secret to a token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the id and secret: the RFC's default.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// How the host authenticates to a token endpoint: the operator's OAuth
/// client for one adapter.
#[derive(Debug, Clone, Copy)]
pub struct ClientAuth<'a> {
    /// The client id.
    pub id: &'a str,
    /// The client secret.
    pub secret: &'a SecretString,
    /// How the secret is presented.
    pub method: ClientAuthMethod,
}

/// A token endpoint's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The new access token.
    pub access_token: SecretString,
    /// A new refresh token, when the CRM rotates them.
    pub refresh_token: Option<SecretString>,
    /// Seconds.
    pub expires_in: Option<u64>,
    /// Where this user's API lives (Pipedrive's `api_domain`), when the CRM says.
    pub api_domain: Option<String>,
}

/// Why the token endpoint gave no tokens.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The endpoint refused (a 4xx, such as `invalid_grant`): the code or the
    /// refresh token is no good, and trying again will not help.
    #[error("the token endpoint refused: {0}")]
    Refused(String),
    /// The endpoint could not be reached or failed (5xx, timeout, bad JSON).
    #[error("the token endpoint failed: {0}")]
    Unavailable(String),
}

/// Exchange an authorization code for tokens.
pub async fn exchange_code(
    client: &EgressClient,
    token_url: &str,
    app: ClientAuth<'_>,
    code: &str,
    redirect_uri: &str,
) -> Result<TokenResponse, TokenError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .finish();
    post_form(client, token_url, app, form).await
}

/// Get a new access token with a refresh token.
pub async fn refresh(
    client: &EgressClient,
    token_url: &str,
    app: ClientAuth<'_>,
    refresh_token: &SecretString,
) -> Result<TokenResponse, TokenError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.expose_secret())
        .finish();
    post_form(client, token_url, app, form).await
}

async fn post_form(
    client: &EgressClient,
    token_url: &str,
    app: ClientAuth<'_>,
    form: String,
) -> Result<TokenResponse, TokenError> {
    let unavailable = |e: String| TokenError::Unavailable(e);
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(token_url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    let form = match app.method {
        ClientAuthMethod::ClientSecretBasic => {
            let basic = STANDARD.encode(format!("{}:{}", app.id, app.secret.expose_secret()));
            request = request.header(header::AUTHORIZATION, format!("Basic {basic}"));
            form
        }
        ClientAuthMethod::ClientSecretPost => form_urlencoded::Serializer::new(form)
            .append_pair("client_id", app.id)
            .append_pair("client_secret", app.secret.expose_secret())
            .finish(),
    };
    let request = request
        .body(full_body(form))
        .map_err(|e| unavailable(e.to_string()))?;
    let response = client
        .send(request, None)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unavailable(e.to_string()))?
        .to_bytes();
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("the token response is not the expected JSON: {e}")));
    }
    // RFC 6749 §5.2: `{"error": "invalid_grant", "error_description": "…"}`.
    let detail: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let reason = match (
        text("error"),
        text("error_description").or_else(|| text("message")),
    ) {
        (Some(error), Some(description)) => format!("HTTP {status}: {error}: {description}"),
        (Some(error), None) => format!("HTTP {status}: {error}"),
        (None, Some(description)) => format!("HTTP {status}: {description}"),
        (None, None) => format!("HTTP {status}"),
    };
    if status.is_client_error() && status != http::StatusCode::TOO_MANY_REQUESTS {
        Err(TokenError::Refused(reason))
    } else {
        Err(unavailable(reason))
    }
}
