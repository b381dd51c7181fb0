//! Credentials at rest: API keys and OAuth tokens are sealed with AES-256-GCM
//! before they reach the database, each value with a fresh random nonce and
//! bound to its row and column (associated data), so a sealed value copied
//! into another user's row does not open.
//!
//! A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext)>`. The
//! key id (the first 8 bytes of a SHA-256 of the key, in hex) says which key
//! sealed it, so a server started with the wrong key fails at start-up
//! instead of answering with garbage.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::path::Path;

const PREFIX: &str = "v1";
const NONCE_BYTES: usize = 12;

/// The 32-byte key that seals credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

impl SecretKey {
    /// A key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| "the secret key must be 64 hex digits".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the secret key must be 64 hex digits (32 bytes)".to_owned())?;
        Ok(Self(key))
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Names the key without revealing it.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"switchboard secret key id\0")
            .chain_update(self.0)
            .finalize();
        hex::encode(&digest[..8])
    }
}

/// The configured key, or the one generated into `<data_dir>/secret-key`.
pub fn load_or_generate_key(
    configured: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<SecretKey> {
    if let Some(text) = configured {
        return SecretKey::from_hex(text).map_err(|e| anyhow::anyhow!("--secret-key: {e}"));
    }
    let path = data_dir.join("secret-key");
    let text = crate::auth::read_or_create_private(&path, || SecretKey::generate().to_hex())?;
    SecretKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed with key {found}, but the configured key is {expected}")]
    WrongKey { found: String, expected: String },
    #[error("not a sealed value")]
    Malformed,
    #[error("the sealed value does not open (tampered, or moved from another row)")]
    Corrupt,
}

/// Seals and opens values with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl Sealer {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new((&key.0).into()),
            key_id: key.id(),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seal `plaintext`; `context` names where it is stored (row and column).
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}.{}.{}", self.key_id, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Open a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        let (key_id, data) = parse(sealed).ok_or(SealError::Malformed)?;
        if key_id != self.key_id {
            return Err(SealError::WrongKey {
                found: key_id.to_owned(),
                expected: self.key_id.clone(),
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt)
    }
}

/// The key id of a sealed value, or `None` for a value that is not sealed
/// (a plaintext credential written before sealing existed).
pub fn sealed_key_id(value: &str) -> Option<&str> {
    parse(value).map(|(key_id, _)| key_id)
}

fn parse(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (key_id, data) = rest.split_once('.')?;
    (key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some((key_id, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_fresh_nonces_and_binds_the_context() {
        let sealer = Sealer::new(&SecretKey::generate());
        let a = sealer.seal("api-key-123", "users/1/credential");
        let b = sealer.seal("api-key-123", "users/1/credential");
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("api-key-123"));
        assert_eq!(
            sealer.open(&a, "users/1/credential").expect("opens"),
            "api-key-123"
        );
        assert!(matches!(
            sealer.open(&a, "users/2/credential"),
            Err(SealError::Corrupt)
        ));
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert!(sealer.open(&tampered, "users/1/credential").is_err());
        assert_eq!(sealed_key_id(&a), Some(sealer.key_id()));
        assert_eq!(sealed_key_id("plain-api-key"), None);
    }

    #[test]
    fn another_key_is_named_not_guessed() {
        let one = Sealer::new(&SecretKey::generate());
        let two = Sealer::new(&SecretKey::generate());
        let sealed = one.seal("x", "c");
        assert!(matches!(
            two.open(&sealed, "c"),
            Err(SealError::WrongKey { .. })
        ));
    }

    #[test]
    fn keys_parse_from_hex_only() {
        let key = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&key.to_hex()).expect("round trip"), key);
        assert!(SecretKey::from_hex("abc").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }
}
