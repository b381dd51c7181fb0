//! Who a request is: `jwtToken`s (HS256 tokens carrying App Connect's
//! claims `id`, `platform`, `iat`, `exp`) and the secret that signs them
//! (generated into the data dir when not configured), and the host's side of
//! OAuth ([`oauth`]).

pub mod oauth;

use crate::clock::now_secs;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The claims of a `jwtToken`, under App Connect's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's App Connect id (`<crm user id>-<platform>`).
    pub id: String,
    /// The user's CRM platform.
    pub platform: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
}

/// A token that is missing, malformed, tampered with, expired or unsigned.
#[derive(Debug, thiserror::Error)]
#[error("invalid jwtToken: {0}")]
pub struct InvalidToken(String);

/// Signs and verifies tokens with one HS256 secret.
#[derive(Debug, Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    renew_within: Duration,
}

impl JwtKeys {
    /// Keys for `secret`; minted tokens live for `ttl`, and are renewed
    /// when they have less than `renew_within` left.
    pub fn new(secret: &SecretString, ttl: Duration, renew_within: Duration) -> Self {
        let secret = secret.expose_secret().as_bytes();
        // Only HS256 is accepted: `alg: none` and every other algorithm fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            renew_within,
        }
    }

    /// Whether a valid token's claims are close enough to expiry to renew.
    pub fn due_for_renewal(&self, claims: &Claims) -> bool {
        claims.exp.saturating_sub(now_secs()) < self.renew_within.as_secs()
    }

    /// Mint a token for a user.
    pub fn sign(&self, id: &str, platform: &str) -> anyhow::Result<String> {
        let iat = now_secs();
        let claims = Claims {
            id: id.to_owned(),
            platform: platform.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Check a token's signature, algorithm and expiry, and return its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| InvalidToken(e.to_string()))
    }
}

/// The configured secret, or the one generated into `<data_dir>/jwt-secret`
/// (created with mode 0600 on first start, then reused).
pub fn load_or_generate_secret(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> anyhow::Result<SecretString> {
    if let Some(secret) = configured {
        return Ok(secret.clone());
    }
    let path = data_dir.join("jwt-secret");
    let secret =
        crate::private_file::read_or_create(&path, || hex::encode(rand::random::<[u8; 32]>()))?;
    anyhow::ensure!(
        secret.len() >= 32,
        "{} holds a secret shorter than 32 bytes",
        path.display()
    );
    Ok(secret.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_and_rejects_tampering() {
        let keys = JwtKeys::new(&SECRET.into(), Duration::from_secs(60), Duration::ZERO);
        let token = keys.sign("42-testCRM", "testCRM").expect("signs");
        let claims = keys.verify(&token).expect("verifies");
        assert_eq!(
            (claims.id.as_str(), claims.platform.as_str()),
            ("42-testCRM", "testCRM")
        );
        assert_eq!(claims.exp, claims.iat + 60);

        let other = JwtKeys::new(
            &"another-secret-another-secret-xx".into(),
            Duration::from_secs(60),
            Duration::ZERO,
        );
        assert!(other.verify(&token).is_err(), "other key");
        assert!(keys.verify("not.a.token").is_err());
        assert!(!keys.due_for_renewal(&claims));
        let renewing = JwtKeys::new(
            &SECRET.into(),
            Duration::from_secs(60),
            Duration::from_secs(61),
        );
        assert!(renewing.due_for_renewal(&claims));
    }

    #[test]
    fn secret_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_generate_secret(None, dir.path()).expect("generates");
        let second = load_or_generate_secret(None, dir.path()).expect("reuses");
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
        let given = load_or_generate_secret(Some(&"configured".into()), dir.path()).expect("given");
        assert_eq!(given.expose_secret(), "configured");
    }
}
