//! A signed-in user's session with their CRM: every adapter call runs with
//! a usable credential.
//!
//! - Before a call, an OAuth access token that expires within the refresh
//!   margin is refreshed first.
//! - When the CRM answers `unauthorized` anyway, the token is refreshed once
//!   and the operation retried once. `unauthorized` is a definite refusal
//!   (nothing was done), so this is safe for creates too; an operation whose
//!   outcome is unknown (a timeout, a trap) is never retried.
//! - Refreshes are single-flight per user: concurrent calls that need one
//!   share one request to the token endpoint and its result. The refresh runs
//!   in its own task, so a rotated refresh token is stored even if every
//!   caller has gone away.
//! - Across processes, the refresh runs under the store's lock on the user
//!   ([`Store::lock_user`]: an advisory lock on PostgreSQL). Under it the
//!   tokens are read again: when another replica already replaced the token
//!   that failed, its new token is used and nothing is refreshed.
//! - A refresh the CRM refuses (`invalid_grant`) revokes the session, unless
//!   the stored tokens changed meanwhile (App Connect's rule: the refusal may
//!   be of a refresh token another holder just rotated). Revoking clears the
//!   stored credential; the calls waiting on it answer
//!   `CRM_SESSION_REVOKED`, and the user's tokens stop working until they
//!   sign in again.

use super::error::adapter_error;
use super::{Service, ServiceError};
use crate::auth::oauth::{self, TokenError, TokenResponse};
use crate::clock::now_ms;
use crate::egress::EgressClient;
use crate::registry::LoadedAdapter;
use crate::runtime::{AdapterError, AuthType, CallError, Credential, UserContext};
use crate::store::{OAuthTokens, Store, StoreError, StoredCredential, User};
use crate::telemetry;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// Tokens from a token response; keeps `previous_refresh` when the CRM did
/// not rotate the refresh token.
pub(super) fn tokens_from(
    response: TokenResponse,
    previous_refresh: Option<SecretString>,
) -> OAuthTokens {
    OAuthTokens {
        access_token: response.access_token,
        refresh_token: response.refresh_token.or(previous_refresh),
        expires_at: response
            .expires_in
            .map(|s| now_ms().saturating_add(s.saturating_mul(1000) as i64)),
    }
}

/// Why a refresh gave no tokens; shared by every caller that joined it.
#[derive(Debug, Clone)]
enum RefreshError {
    /// The session is over; the text says why.
    Revoked(String),
    /// The database could not be reached.
    StoreUnavailable(String),
    /// The database failed otherwise.
    Store(String),
}

impl From<StoreError> for RefreshError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            Self::StoreUnavailable(error.to_string())
        } else {
            Self::Store(error.to_string())
        }
    }
}

type Refresh = Shared<BoxFuture<'static, Result<OAuthTokens, RefreshError>>>;

/// Refreshes in flight, one per user.
pub(super) struct Sessions {
    store: Arc<dyn Store>,
    egress: EgressClient,
    margin: Duration,
    inflight: Mutex<HashMap<String, Refresh>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    pub(super) fn new(store: Arc<dyn Store>, egress: EgressClient, margin: Duration) -> Self {
        Self {
            store,
            egress,
            margin,
            inflight: Mutex::default(),
        }
    }

    fn expiring(&self, tokens: &OAuthTokens) -> bool {
        tokens
            .expires_at
            .is_some_and(|at| at - now_ms() < self.margin.as_millis() as i64)
    }

    /// New tokens for `user`, who last used the access token `used`. Without
    /// `force`, tokens that are not about to expire are kept.
    async fn refresh(
        self: &Arc<Self>,
        user: &User,
        adapter: &LoadedAdapter,
        used: &str,
        force: bool,
    ) -> Result<OAuthTokens, ServiceError> {
        let revoked = |reason: String| ServiceError::SessionRevoked {
            platform: user.platform.clone(),
            reason,
        };
        let AuthType::Oauth(config) = &adapter.adapter.manifest().auth else {
            return Err(revoked("the platform does not sign in with OAuth".into()));
        };
        let Some(app) = adapter.settings.oauth.clone() else {
            return Err(revoked("OAuth is not configured for this platform".into()));
        };
        let shared = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight
                .entry(user.id.clone())
                .or_insert_with(|| {
                    let this = self.clone();
                    let (user_id, used) = (user.id.clone(), SecretString::from(used));
                    let token_url = config.token_url.clone();
                    let egress = self.egress.clone();
                    let platform = user.platform.clone();
                    let refresh = async move {
                        let result = this
                            .refresh_now(&user_id, &used, force, |refresh_token| async move {
                                let response = oauth::refresh(
                                    &egress,
                                    &token_url,
                                    super::auth::token_client(&app),
                                    &refresh_token,
                                )
                                .await;
                                let result = match &response {
                                    Ok(_) => "ok",
                                    Err(TokenError::Refused(_)) => "refused",
                                    Err(TokenError::Unavailable(_)) => "unavailable",
                                };
                                telemetry::oauth_refresh(&platform, result);
                                response
                            })
                            .await;
                        this.inflight
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&user_id);
                        result
                    };
                    let task = tokio::spawn(refresh.in_current_span());
                    task.map(|joined| {
                        joined.unwrap_or_else(|e| {
                            Err(RefreshError::Store(format!("refresh task failed: {e}")))
                        })
                    })
                    .boxed()
                    .shared()
                })
                .clone()
        };
        shared.await.map_err(|error| match error {
            RefreshError::Revoked(reason) => revoked(reason),
            RefreshError::StoreUnavailable(e) => ServiceError::StoreUnavailable(e),
            RefreshError::Store(e) => ServiceError::Internal(e),
        })
    }

    /// The user's stored tokens as the database holds them now; revoked
    /// when they signed out.
    async fn stored_tokens(&self, user_id: &str) -> Result<OAuthTokens, RefreshError> {
        match self.store.user_uncached(user_id).await? {
            Some(User {
                credential: Some(StoredCredential::OAuth(tokens)),
                ..
            }) => Ok(tokens),
            _ => Err(RefreshError::Revoked("the user signed out".into())),
        }
    }

    /// The refresh itself, run once for every caller that joined it.
    async fn refresh_now<F: Future<Output = Result<TokenResponse, TokenError>>>(
        &self,
        user_id: &str,
        used: &SecretString,
        force: bool,
        request: impl FnOnce(SecretString) -> F,
    ) -> Result<OAuthTokens, RefreshError> {
        let _lock = self.store.lock_user(user_id).await?;
        let stored = self.stored_tokens(user_id).await?;
        // Another request refreshed already, or there is nothing to do yet.
        let replaced = stored.access_token.expose_secret() != used.expose_secret();
        if (replaced || !force) && !self.expiring(&stored) {
            return Ok(stored);
        }
        let Some(refresh_token) = stored.refresh_token.clone() else {
            return Err(RefreshError::Revoked(
                "the CRM gave no refresh token; sign in again".into(),
            ));
        };
        match request(refresh_token.clone()).await {
            Ok(response) => {
                let tokens = tokens_from(response, Some(refresh_token));
                if let Err(e) = self.store.set_oauth_tokens(user_id, &tokens).await {
                    // The CRM may have rotated the refresh token: the one
                    // stored may no longer work.
                    tracing::error!(user = user_id, error = %e, "storing refreshed tokens");
                    return Err(e.into());
                }
                tracing::info!(user = user_id, "OAuth access token refreshed");
                Ok(tokens)
            }
            Err(TokenError::Refused(reason)) => {
                let now = self.stored_tokens(user_id).await?;
                if now != stored {
                    tracing::info!(
                        user = user_id,
                        "OAuth refresh refused, but the session was renewed meanwhile"
                    );
                    return Ok(now);
                }
                tracing::warn!(user = user_id, %reason, "OAuth refresh refused; session revoked");
                self.store.clear_credential(user_id).await?;
                Err(RefreshError::Revoked(format!(
                    "the CRM refused to refresh the session ({reason}); sign in again"
                )))
            }
            Err(TokenError::Unavailable(reason)) => {
                tracing::warn!(user = user_id, %reason, "OAuth refresh failed");
                Err(RefreshError::Revoked(format!(
                    "the CRM's token endpoint failed ({reason}); try again"
                )))
            }
        }
    }
}

/// The adapter's view of a signed-in user with `credential`.
fn user_context(user: &User, credential: &StoredCredential) -> UserContext {
    UserContext {
        user_id: user.crm_user_id.clone(),
        hostname: user.hostname.clone(),
        credential: match credential {
            StoredCredential::ApiKey(key) => Credential::ApiKey(key.expose_secret().to_owned()),
            StoredCredential::OAuth(tokens) => {
                Credential::Authorization(format!("Bearer {}", tokens.access_token.expose_secret()))
            }
        },
        timezone: user.timezone.clone(),
    }
}

impl Service {
    /// Run an adapter operation for `user` on the adapter serving their
    /// platform, with a fresh credential, retrying once after a refresh when
    /// the CRM says `unauthorized`.
    pub(super) async fn call_as<R, F, Fut>(&self, user: &User, op: F) -> Result<R, ServiceError>
    where
        F: Fn(Arc<LoadedAdapter>, UserContext) -> Fut,
        Fut: Future<Output = Result<R, CallError>>,
    {
        let adapter = self.adapter(&user.platform)?;
        let Some(mut credential) = user.credential.clone() else {
            return Err(ServiceError::Unauthenticated);
        };
        if let StoredCredential::OAuth(tokens) = &credential
            && self.sessions.expiring(tokens)
        {
            let fresh = self
                .sessions
                .refresh(user, &adapter, tokens.access_token.expose_secret(), false)
                .await?;
            credential = StoredCredential::OAuth(fresh);
        }
        let result = op(adapter.clone(), user_context(user, &credential)).await;
        let tokens = match (&result, &credential) {
            (
                Err(CallError::Adapter(AdapterError::Unauthorized(_))),
                StoredCredential::OAuth(tokens),
            ) => tokens,
            _ => return result.map_err(adapter_error(&user.platform)),
        };
        let fresh = self
            .sessions
            .refresh(user, &adapter, tokens.access_token.expose_secret(), true)
            .await?;
        op(adapter, user_context(user, &StoredCredential::OAuth(fresh)))
            .await
            .map_err(adapter_error(&user.platform))
    }
}
