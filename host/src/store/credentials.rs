//! How a credential sits in a `users` row, in every store: which columns
//! hold it, and what each sealed value is bound to. The stores differ only
//! in the SQL that moves these columns.

use super::sealed::Sealer;
use super::{OAuthTokens, Result, StoreError, StoredCredential};
use secrecy::{ExposeSecret, SecretString};

/// What a sealed value is bound to: its row and column. A value copied to
/// another user or column does not open.
pub(super) fn context(user_id: &str, column: &str) -> String {
    format!("users/{user_id}/{column}")
}

/// The credential columns of a user: kind, credential and refresh token
/// (both sealed), expiry.
#[derive(Debug, Default)]
pub(super) struct CredentialColumns {
    pub(super) kind: Option<&'static str>,
    pub(super) credential: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_at: Option<i64>,
}

/// The same columns as read back, before they are opened.
#[derive(Debug, Default)]
pub(super) struct StoredColumns {
    pub(super) kind: Option<String>,
    pub(super) credential: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_at: Option<i64>,
}

/// Seal `value` of `user`'s `column`.
fn seal(sealer: &Sealer, user: &str, column: &str, value: &SecretString) -> Result<String> {
    sealer
        .seal(value.expose_secret(), &context(user, column))
        .map_err(|error| StoreError::Sealed {
            user: user.to_owned(),
            error,
        })
}

/// Open a stored value of `user`'s `column`.
fn open(
    sealer: &Sealer,
    user: &str,
    column: &str,
    value: Option<String>,
) -> Result<Option<SecretString>> {
    value
        .map(|v| {
            sealer
                .open(&v, &context(user, column))
                .map_err(|error| StoreError::Sealed {
                    user: user.to_owned(),
                    error,
                })
        })
        .transpose()
}

/// A stored value of `user`'s `column`, sealed with `current`, opened and
/// sealed again with `new` (for `rotate-secret-key`).
pub(super) fn reseal(
    current: &Sealer,
    new: &Sealer,
    user: &str,
    column: &str,
    value: &str,
) -> Result<String> {
    let plain = open(current, user, column, Some(value.to_owned()))?.unwrap_or_default();
    seal(new, user, column, &plain)
}

/// The SQL (the same in both stores) listing every user's sealed values:
/// `id, credential, refresh_token`.
pub(super) const SEALED_VALUES: &str =
    "SELECT id, credential, refresh_token FROM users WHERE credential IS NOT NULL";

impl CredentialColumns {
    /// The columns that store `credential` for user `id`, sealed.
    pub(super) fn seal(
        sealer: &Sealer,
        id: &str,
        credential: Option<&StoredCredential>,
    ) -> Result<Self> {
        Ok(match credential {
            Some(StoredCredential::ApiKey(key)) => Self {
                kind: Some("api-key"),
                credential: Some(seal(sealer, id, "credential", key)?),
                ..Self::default()
            },
            Some(StoredCredential::OAuth(OAuthTokens {
                access_token,
                refresh_token,
                expires_at,
            })) => Self {
                kind: Some("oauth"),
                credential: Some(seal(sealer, id, "credential", access_token)?),
                refresh_token: refresh_token
                    .as_ref()
                    .map(|token| seal(sealer, id, "refresh_token", token))
                    .transpose()?,
                expires_at: *expires_at,
            },
            None => Self::default(),
        })
    }
}

impl StoredColumns {
    /// The credential these columns of user `id` hold, opened.
    pub(super) fn open(self, sealer: &Sealer, id: &str) -> Result<Option<StoredCredential>> {
        let secret = open(sealer, id, "credential", self.credential)?;
        Ok(match (self.kind.as_deref(), secret) {
            (Some("api-key"), Some(key)) => Some(StoredCredential::ApiKey(key)),
            (Some("oauth"), Some(access_token)) => Some(StoredCredential::OAuth(OAuthTokens {
                access_token,
                refresh_token: open(sealer, id, "refresh_token", self.refresh_token)?,
                expires_at: self.expires_at,
            })),
            _ => None,
        })
    }
}

/// A message for start-up when stored credentials were sealed with the key
/// `found`, not the configured one; `None` when all match.
pub(super) fn key_mismatch(sealer: &Sealer, found: &[String]) -> Option<String> {
    let other = found.iter().find(|id| *id != sealer.key_id())?;
    Some(format!(
        "stored credentials were sealed with secret key {other}, but the configured \
         --secret-key is {}; start with the right key, or change keys with \
         `switchboard rotate-secret-key`",
        sealer.key_id()
    ))
}

/// The SQL (the same in both stores) listing the key ids stored credentials
/// were sealed with.
pub(super) const SEALING_KEY_IDS: &str =
    "SELECT DISTINCT substr(credential, 4, 16) FROM users WHERE credential LIKE 'v1.%'
     UNION
     SELECT DISTINCT substr(refresh_token, 4, 16) FROM users WHERE refresh_token LIKE 'v1.%'";
