//! {{platform}}: a Switchboard adapter.

use switchboard_adapter::{
    Adapter, AdapterError, AdapterManifest, AuthType, Credential, LoginRequest, Operation,
    UserInfo,
};

/// The platform name this adapter serves.
pub const PLATFORM: &str = "{{platform}}";

/// The adapter.
pub struct {{type}};

impl Adapter for {{type}} {
    fn manifest() -> AdapterManifest {
        AdapterManifest {
            platform: PLATFORM.into(),
            display_name: "{{platform}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            auth: AuthType::ApiKey,
            // The hosts the adapter may reach, e.g. "api.example.com".
            allowed_hosts: Vec::new(),
            implements: vec![Operation::GetUserInfo],
        }
    }

    fn get_user_info(request: LoginRequest) -> Result<UserInfo, AdapterError> {
        sign_in(&request.credential)
    }
}

#[cfg(target_family = "wasm")]
switchboard_adapter::export!({{type}});

/// Who an API key belongs to. Replace with a call to the CRM.
pub fn sign_in(credential: &Credential) -> Result<UserInfo, AdapterError> {
    let Credential::ApiKey(key) = credential else {
        return Err(AdapterError::InvalidInput("sign in with an API key".into()));
    };
    if key.trim().is_empty() {
        return Err(AdapterError::Unauthorized("API key is empty".into()));
    }
    Ok(UserInfo {
        id: format!("user-{}", key.len()),
        name: "Example User".into(),
        timezone: None,
        platform_additional_info: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_signs_in_and_an_empty_one_does_not() {
        let user = sign_in(&Credential::ApiKey("k-123".into())).expect("signed in");
        assert_eq!(user.name, "Example User");
        assert!(matches!(
            sign_in(&Credential::ApiKey(" ".into())),
            Err(AdapterError::Unauthorized(_))
        ));
    }
}
