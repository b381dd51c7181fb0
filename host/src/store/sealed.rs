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
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::path::Path;

const PREFIX: &str = "v1";
const NONCE_BYTES: usize = 12;

/// The 32-byte key that seals credentials.
#[derive(Debug)]
pub struct SecretKey(SecretBox<[u8; 32]>);

/// Text that is not a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret key must be 64 hex digits (32 bytes)")]
pub struct InvalidKey;

impl SecretKey {
    /// A key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InvalidKey> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| InvalidKey)?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self(SecretBox::new(Box::new(rand::random())))
    }

    /// The key as 64 hex digits, to write into the key file.
    pub fn to_hex(&self) -> SecretString {
        hex::encode(self.0.expose_secret()).into()
    }

    /// Names the key without revealing it.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"switchboard secret key id\0")
            .chain_update(self.0.expose_secret())
            .finalize();
        hex::encode(&digest[..8])
    }
}

/// The configured key, or the one generated into `<data_dir>/secret-key`.
pub fn load_or_generate_key(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> anyhow::Result<SecretKey> {
    if let Some(text) = configured {
        return SecretKey::from_hex(text.expose_secret())
            .map_err(|e| anyhow::anyhow!("--secret-key: {e}"));
    }
    let path = data_dir.join("secret-key");
    let text = crate::private_file::read_or_create(&path, || {
        SecretKey::generate().to_hex().expose_secret().to_owned()
    })?;
    SecretKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The value was sealed with another key.
    #[error("sealed with key {found}, but the configured key is {expected}")]
    WrongKey {
        /// The id of the key that sealed it.
        found: String,
        /// The id of the configured key.
        expected: String,
    },
    /// The value is not in the sealed format.
    #[error("not a sealed value")]
    Malformed,
    /// The value does not decrypt: tampered with, or moved from another row.
    #[error("the sealed value does not open (tampered, or moved from another row)")]
    Corrupt,
    /// Encryption failed (it does not with a valid key and nonce; this is a bug).
    #[error("encryption failed")]
    Encrypt,
}

/// Seals and opens values with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cipher has no `Debug` (it holds the key schedule).
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer with `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.0.expose_secret().into()),
            key_id: key.id(),
        }
    }

    /// The id of the key, as sealed values carry it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seal `plaintext`; `context` names where it is stored (row and column).
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SealError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SealError::Encrypt)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}.{}.{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Open a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SealError> {
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
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SealError::Corrupt)
    }
}

fn parse(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (key_id, data) = rest.split_once('.')?;
    (key_id.len() == 16 && key_id.bytes().all(|b| b.is_ascii_hexdigit())).then_some((key_id, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(sealer: &Sealer, sealed: &str, context: &str) -> Result<String, SealError> {
        sealer
            .open(sealed, context)
            .map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn seals_with_fresh_nonces_and_binds_the_context() {
        let sealer = Sealer::new(&SecretKey::generate());
        let a = sealer
            .seal("api-key-123", "users/1/credential")
            .expect("seals");
        let b = sealer
            .seal("api-key-123", "users/1/credential")
            .expect("seals");
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.contains("api-key-123"));
        assert_eq!(
            open(&sealer, &a, "users/1/credential").expect("opens"),
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
        assert!(matches!(
            sealer.open("plain-api-key", "users/1/credential"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn another_key_is_named_not_guessed() {
        let one = Sealer::new(&SecretKey::generate());
        let two = Sealer::new(&SecretKey::generate());
        let sealed = one.seal("x", "c").expect("seals");
        assert!(matches!(
            two.open(&sealed, "c"),
            Err(SealError::WrongKey { .. })
        ));
    }

    #[test]
    fn keys_parse_from_hex_only() {
        let key = SecretKey::generate();
        let hex = key.to_hex();
        let again = SecretKey::from_hex(hex.expose_secret()).expect("round trip");
        assert_eq!(again.id(), key.id());
        assert_eq!(SecretKey::from_hex("abc").map(|k| k.id()), Err(InvalidKey));
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{key:?}").contains(hex.expose_secret()));
    }
}
