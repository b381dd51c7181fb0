//! Who a request is: `jwtToken`s (HS256 tokens carrying App Connect's
//! claims `id`, `platform`, `iat`, `exp`) and the secret that signs them,
//! generated secrets kept in the data dir, and the host's side of OAuth
//! ([`oauth`]).

pub mod oauth;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The claims of a `jwtToken`, under App Connect's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's App Connect id (`<crm user id>-<platform>`).
    pub id: String,
    /// The user's CRM platform.
    pub platform: String,
    pub iat: u64,
    pub exp: u64,
}

/// A token that is missing, malformed, tampered with, expired or unsigned.
#[derive(Debug, thiserror::Error)]
#[error("invalid jwtToken: {0}")]
pub struct InvalidToken(String);

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
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
    configured: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    let secret = read_or_create_private(&path, || hex::encode(rand::random::<[u8; 32]>()))?;
    anyhow::ensure!(
        secret.len() >= 32,
        "{} holds a secret shorter than 32 bytes",
        path.display()
    );
    Ok(secret.into_bytes())
}

/// The trimmed contents of a private file, or, when there is none yet,
/// `generate()` written to it with mode 0600 (for generated secrets).
pub fn read_or_create_private(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    use anyhow::Context;
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let value = generate();
    write_private(path, value.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a secret");
    Ok(value)
}

/// Write a new file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_and_rejects_tampering() {
        let keys = JwtKeys::new(SECRET, Duration::from_secs(60));
        let token = keys.sign("42-testCRM", "testCRM").expect("signs");
        let claims = keys.verify(&token).expect("verifies");
        assert_eq!(
            (claims.id.as_str(), claims.platform.as_str()),
            ("42-testCRM", "testCRM")
        );
        assert_eq!(claims.exp, claims.iat + 60);

        let other = JwtKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert!(other.verify(&token).is_err(), "other key");
        assert!(keys.verify("not.a.token").is_err());
    }

    #[test]
    fn secret_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_generate_secret(None, dir.path()).expect("generates");
        let second = load_or_generate_secret(None, dir.path()).expect("reuses");
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        let given = load_or_generate_secret(Some("configured"), dir.path()).expect("given");
        assert_eq!(given, b"configured");
    }
}
