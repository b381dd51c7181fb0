//! Signing in and out: API-key login, the OAuth callback, `jwtToken`
//! checks, `/unAuthorize`.

use super::error::{AdapterFailure, adapter_error};
use super::session::tokens_from;
use super::{Service, ServiceError};
use crate::auth::oauth::{self, ClientAuth, ClientAuthMethod, TokenError};
use crate::registry::{LoadedAdapter, OAuthApp, TokenEndpointAuth};
use crate::runtime::{
    AdapterError, AuthType, CallError, Credential, LoginRequest, Operation, UserInfo,
};
use crate::store::{StoredCredential, User};
use secrecy::{ExposeSecret, SecretString};

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The minted `jwtToken`.
    pub token: String,
    /// The user's name in the CRM.
    pub name: String,
    /// The CRM's display name, for the welcome message.
    pub display_name: String,
}

/// What the client brings back from the CRM's consent page.
#[derive(Debug, Clone)]
pub struct OAuthCallback {
    /// The platform signed in to.
    pub platform: String,
    /// The authorization code.
    pub code: String,
    /// The client's redirect URI (its `callbackUri` without the query), used
    /// when the operator configured none.
    pub redirect_uri: String,
    /// The CRM hostname the user signed in to, from `state` (may be empty).
    pub hostname: String,
}

impl Service {
    /// Check an API key with the platform's adapter, store the user and mint
    /// a token.
    pub async fn login_api_key(
        &self,
        platform: &str,
        api_key: SecretString,
        hostname: String,
        additional_info: Option<String>,
    ) -> Result<Login, ServiceError> {
        let adapter = self.adapter(platform)?;
        let request = LoginRequest {
            credential: Credential::ApiKey(api_key.expose_secret().to_owned()),
            hostname: hostname.clone(),
            additional_info,
        };
        let info = user_info(&adapter, request).await?;
        self.sign_in(&adapter, info, hostname, StoredCredential::ApiKey(api_key))
            .await
    }

    /// Finish an OAuth sign-in: exchange the code at the manifest's token
    /// URL with the operator's client credentials, ask the adapter whose
    /// tokens they are, store the user and mint a token.
    pub async fn login_oauth(&self, callback: OAuthCallback) -> Result<Login, ServiceError> {
        let platform = callback.platform.as_str();
        let adapter = self.adapter(platform)?;
        let AuthType::Oauth(config) = &adapter.adapter.manifest().auth else {
            return Err(ServiceError::InvalidRequest(format!(
                "{platform} does not sign in with OAuth; use /apiKeyLogin"
            )));
        };
        let app = adapter
            .settings
            .oauth
            .as_ref()
            .ok_or_else(|| ServiceError::OAuthNotConfigured(platform.to_owned()))?;
        let redirect_uri = app
            .redirect_uri
            .as_deref()
            .unwrap_or(&callback.redirect_uri);
        let client = token_client(app);
        let response = oauth::exchange_code(
            &self.egress,
            &config.token_url,
            client,
            &callback.code,
            redirect_uri,
        )
        .await
        .map_err(|error| match error {
            TokenError::Refused(reason) => ServiceError::OAuthRefused {
                platform: platform.to_owned(),
                reason,
            },
            TokenError::Unavailable(reason) => ServiceError::CrmUnavailable {
                platform: platform.to_owned(),
                reason,
            },
        })?;
        // Where this user's API lives, when the CRM says (Pipedrive's
        // `api_domain`); otherwise the hostname the client sent.
        let hostname = response
            .api_domain
            .as_deref()
            .and_then(|domain| domain.parse::<http::Uri>().ok())
            .and_then(|uri| uri.host().map(str::to_owned))
            .unwrap_or(callback.hostname);
        let tokens = tokens_from(response, None);
        let request = LoginRequest {
            credential: Credential::Authorization(format!(
                "Bearer {}",
                tokens.access_token.expose_secret()
            )),
            hostname: hostname.clone(),
            additional_info: None,
        };
        let info = user_info(&adapter, request).await?;
        self.sign_in(&adapter, info, hostname, StoredCredential::OAuth(tokens))
            .await
    }

    async fn sign_in(
        &self,
        adapter: &LoadedAdapter,
        info: UserInfo,
        hostname: String,
        credential: StoredCredential,
    ) -> Result<Login, ServiceError> {
        let platform = adapter.adapter.manifest().platform.clone();
        let user = User {
            id: format!("{}-{platform}", info.id),
            platform: platform.clone(),
            crm_user_id: info.id,
            name: info.name,
            hostname,
            timezone: info.timezone,
            credential: Some(credential),
            platform_additional_info: info.platform_additional_info,
        };
        self.store.upsert_user(&user).await?;
        let token = self
            .jwt
            .sign(&user.id, &platform)
            .map_err(|e| ServiceError::Internal(format!("signing a token: {e}")))?;
        tracing::info!(user = %user.id, %platform, "user signed in");
        Ok(Login {
            token,
            name: user.name,
            display_name: adapter.adapter.manifest().display_name.clone(),
        })
    }

    /// The signed-in user a `jwtToken` belongs to, and a fresh token for
    /// them when this one is due for renewal. Fails for a bad token, an
    /// unknown user, a user who signed out, or a platform mismatch.
    pub async fn authenticate(&self, token: &str) -> Result<(User, Option<String>), ServiceError> {
        let claims = self.jwt.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "rejected jwtToken");
            ServiceError::Unauthenticated
        })?;
        let user = match self.store.user(&claims.id).await? {
            Some(user) if user.credential.is_some() && user.platform == claims.platform => user,
            _ => return Err(ServiceError::Unauthenticated),
        };
        let renewed = if self.jwt.due_for_renewal(&claims) {
            let token = self
                .jwt
                .sign(&user.id, &user.platform)
                .map_err(|e| ServiceError::Internal(format!("signing a token: {e}")))?;
            Some(token)
        } else {
            None
        };
        Ok((user, renewed))
    }

    /// Check the user's stored credential with the CRM again (an OAuth
    /// token is refreshed first if it must be). A credential the CRM no
    /// longer accepts is a [`ServiceError::SessionRevoked`].
    pub async fn validate_credential(&self, user: &User) -> Result<(), ServiceError> {
        let checked = self
            .call_as(user, |adapter, context| {
                let request = LoginRequest {
                    credential: context.credential,
                    hostname: context.hostname,
                    additional_info: None,
                };
                async move { adapter.adapter.get_user_info(request).await }
            })
            .await;
        match checked {
            Ok(_) => Ok(()),
            Err(ServiceError::Adapter {
                platform,
                failure: AdapterFailure::Unauthorized(reason),
            }) => Err(ServiceError::SessionRevoked { platform, reason }),
            Err(other) => Err(other),
        }
    }

    /// The operations the adapter serving `platform` implements.
    pub fn implemented(&self, platform: &str) -> Result<Vec<Operation>, ServiceError> {
        Ok(self
            .adapter(platform)?
            .adapter
            .manifest()
            .implements
            .clone())
    }

    /// Forget the user's credential; their tokens stop working.
    pub async fn unauthorize(&self, user: &User) -> Result<(), ServiceError> {
        self.store.clear_credential(&user.id).await?;
        tracing::info!(user = %user.id, platform = %user.platform, "user signed out");
        Ok(())
    }
}

/// Ask the adapter whose credential this is.
async fn user_info(
    adapter: &LoadedAdapter,
    request: LoginRequest,
) -> Result<UserInfo, ServiceError> {
    let platform = adapter.adapter.manifest().platform.as_str();
    let info = adapter
        .adapter
        .get_user_info(request)
        .await
        .map_err(adapter_error(platform))?;
    if info.id.is_empty() {
        return Err(adapter_error(platform)(CallError::Adapter(
            AdapterError::Internal("get-user-info returned an empty user id".into()),
        )));
    }
    Ok(info)
}

/// The operator's OAuth app as the token endpoint's client.
pub(super) fn token_client(app: &OAuthApp) -> ClientAuth<'_> {
    ClientAuth {
        id: &app.client_id,
        secret: &app.client_secret,
        method: match app.client_auth {
            TokenEndpointAuth::ClientSecretBasic => ClientAuthMethod::ClientSecretBasic,
            TokenEndpointAuth::ClientSecretPost => ClientAuthMethod::ClientSecretPost,
        },
    }
}
