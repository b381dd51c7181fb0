//! Signing in and out: API-key login, `jwtToken` checks, `/unAuthorize`.

use super::{Service, ServiceError, adapter_error};
use crate::runtime::{AdapterError, CallError, Credential, LoginRequest};
use crate::store::{StoredCredential, User};

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    /// The user's name in the CRM.
    pub name: String,
    /// The CRM's display name, for the welcome message.
    pub display_name: String,
}

impl Service {
    /// Check an API key with the platform's adapter, store the user and mint
    /// a token.
    pub async fn login_api_key(
        &self,
        platform: &str,
        api_key: String,
        hostname: String,
        additional_info: Option<String>,
    ) -> Result<Login, ServiceError> {
        let adapter = self.adapter(platform)?;
        let request = LoginRequest {
            credential: Credential::ApiKey(api_key.clone()),
            hostname: hostname.clone(),
            additional_info,
        };
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
        let user = User {
            id: format!("{}-{platform}", info.id),
            platform: platform.to_owned(),
            crm_user_id: info.id,
            name: info.name,
            hostname,
            timezone: info.timezone,
            credential: Some(StoredCredential::ApiKey(api_key)),
            platform_additional_info: info.platform_additional_info,
        };
        self.store.upsert_user(&user).await?;
        let token = self
            .jwt
            .sign(&user.id, platform)
            .map_err(|e| ServiceError::Internal(format!("signing a token: {e}")))?;
        Ok(Login {
            token,
            name: user.name,
            display_name: adapter.adapter.manifest().display_name.clone(),
        })
    }

    /// The signed-in user a `jwtToken` belongs to. Fails for a bad token, an
    /// unknown user, a user who signed out, or a platform mismatch.
    pub async fn authenticate(&self, token: &str) -> Result<User, ServiceError> {
        let claims = self.jwt.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "rejected jwtToken");
            ServiceError::Unauthenticated
        })?;
        match self.store.user(&claims.id).await? {
            Some(user) if user.credential.is_some() && user.platform == claims.platform => Ok(user),
            _ => Err(ServiceError::Unauthenticated),
        }
    }

    /// Forget the user's credential; their tokens stop working.
    pub async fn unauthorize(&self, user: &User) -> Result<(), ServiceError> {
        self.store.clear_credential(&user.id).await?;
        tracing::info!(user = %user.id, platform = %user.platform, "user signed out");
        Ok(())
    }
}
