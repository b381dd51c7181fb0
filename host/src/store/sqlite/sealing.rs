//! Credentials at rest in SQLite: which columns are sealed and with what
//! context, the start-up check that they were sealed with the configured key,
//! and re-sealing everything with a new key.

use super::SqliteStore;
use crate::store::sealed::{SealError, Sealer};
use crate::store::{OAuthTokens, Result, StoreError, StoredCredential};
use rusqlite::params;
use secrecy::{ExposeSecret, SecretString};

/// What a sealed value is bound to: its row and column.
fn context(user_id: &str, column: &str) -> String {
    format!("users/{user_id}/{column}")
}

/// The credential columns of a user, sealed: kind, credential, refresh
/// token, expiry.
pub(super) struct CredentialColumns {
    pub(super) kind: Option<&'static str>,
    pub(super) credential: Option<String>,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_at: Option<i64>,
}

/// A sealing failure as a SQL-side error, for use inside a write.
fn in_sql(user: &str, column: &str, error: SealError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(format!("user {user} {column}: {error}").into())
}

impl SqliteStore {
    /// Fail when stored credentials were sealed with another key.
    pub(super) fn check_key(&self) -> anyhow::Result<()> {
        let key_ids: Vec<String> = self.readers.read(|c| {
            c.prepare(
                "SELECT DISTINCT substr(credential, 4, 16) FROM users WHERE credential LIKE 'v1.%'
                 UNION
                 SELECT DISTINCT substr(refresh_token, 4, 16) FROM users WHERE refresh_token LIKE 'v1.%'",
            )?
            .query_map([], |row| row.get(0))?
            .collect()
        })?;
        if let Some(other) = key_ids.iter().find(|id| *id != self.sealer.key_id()) {
            anyhow::bail!(
                "stored credentials were sealed with secret key {other}, but the configured \
                 --secret-key is {}; start with the right key, or change keys with \
                 `switchboard rotate-secret-key`",
                self.sealer.key_id()
            );
        }
        Ok(())
    }

    /// Re-seal every stored credential with `new`, in one transaction.
    /// Returns how many values were re-sealed. Run with the server stopped.
    pub async fn rotate_secret_key(&self, new: &Sealer) -> anyhow::Result<usize> {
        let (current, new) = (self.sealer.clone(), new.clone());
        let count = self
            .writer
            .write(move |c| {
                let rows: Vec<(String, Option<String>, Option<String>)> = c
                    .prepare(
                        "SELECT id, credential, refresh_token FROM users WHERE credential IS NOT NULL",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut count = 0;
                for (id, credential, refresh_token) in &rows {
                    for (column, value) in [("credential", credential), ("refresh_token", refresh_token)] {
                        let Some(value) = value else { continue };
                        let context = context(id, column);
                        let plain = current
                            .open(value, &context)
                            .map_err(|e| in_sql(id, column, e))?;
                        let sealed = new
                            .seal(plain.expose_secret(), &context)
                            .map_err(|e| in_sql(id, column, e))?;
                        c.execute(
                            &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                            params![id, sealed],
                        )?;
                        count += 1;
                    }
                }
                Ok(count)
            })
            .await?;
        Ok(count)
    }

    /// Open a stored value of `user`'s `column`.
    pub(super) fn open_sealed(
        &self,
        user: &str,
        column: &str,
        value: Option<String>,
    ) -> Result<Option<SecretString>> {
        value
            .map(|v| {
                self.sealer
                    .open(&v, &context(user, column))
                    .map_err(|error| StoreError::Sealed {
                        user: user.to_owned(),
                        error,
                    })
            })
            .transpose()
    }

    /// The columns that store `credential` for user `id`, sealed.
    pub(super) fn credential_columns(
        &self,
        id: &str,
        credential: Option<&StoredCredential>,
    ) -> Result<CredentialColumns> {
        let seal = |column: &str, value: &SecretString| {
            self.sealer
                .seal(value.expose_secret(), &context(id, column))
                .map(Some)
                .map_err(|error| StoreError::Sealed {
                    user: id.to_owned(),
                    error,
                })
        };
        Ok(match credential {
            Some(StoredCredential::ApiKey(key)) => CredentialColumns {
                kind: Some("api-key"),
                credential: seal("credential", key)?,
                refresh_token: None,
                expires_at: None,
            },
            Some(StoredCredential::OAuth(OAuthTokens {
                access_token,
                refresh_token,
                expires_at,
            })) => CredentialColumns {
                kind: Some("oauth"),
                credential: seal("credential", access_token)?,
                refresh_token: match refresh_token {
                    Some(token) => seal("refresh_token", token)?,
                    None => None,
                },
                expires_at: *expires_at,
            },
            None => CredentialColumns {
                kind: None,
                credential: None,
                refresh_token: None,
                expires_at: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sealed::SecretKey;
    use crate::store::{Store, User};

    #[tokio::test]
    async fn credentials_are_sealed_at_rest_and_keys_rotate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let key = SecretKey::generate();
        let store = SqliteStore::open(&url, Sealer::new(&key))
            .await
            .expect("opens");
        let tokens = OAuthTokens {
            access_token: "access-plain".into(),
            refresh_token: Some("refresh-plain".into()),
            expires_at: Some(123),
        };
        let user = User {
            id: "7-p".into(),
            platform: "p".into(),
            crm_user_id: "7".into(),
            name: "N".into(),
            hostname: "h".into(),
            timezone: None,
            credential: Some(StoredCredential::OAuth(tokens.clone())),
            platform_additional_info: None,
        };
        store.upsert_user(&user).await.expect("upserts");
        let raw: (String, String) = store
            .readers
            .read(|c| {
                c.query_row(
                    "SELECT credential, refresh_token FROM users WHERE id = '7-p'",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .expect("raw row");
        assert!(!raw.0.contains("access-plain") && !raw.1.contains("refresh-plain"));
        assert_eq!(store.user("7-p").await.expect("reads"), Some(user.clone()));

        let fresh = OAuthTokens {
            access_token: "access-2".into(),
            ..tokens
        };
        store
            .set_oauth_tokens("7-p", &fresh)
            .await
            .expect("refreshes");
        let credential = |user: Option<User>| user.and_then(|u| u.credential);
        assert_eq!(
            credential(store.user("7-p").await.expect("reads")),
            Some(StoredCredential::OAuth(fresh.clone()))
        );

        let new_key = SecretKey::generate();
        assert_eq!(
            store
                .rotate_secret_key(&Sealer::new(&new_key))
                .await
                .expect("rotates"),
            2
        );
        store.close().await;
        let err = SqliteStore::open(&url, Sealer::new(&key))
            .await
            .expect_err("old key");
        assert!(err.to_string().contains("rotate-secret-key"), "{err}");
        let store = SqliteStore::open(&url, Sealer::new(&new_key))
            .await
            .expect("new key");
        assert_eq!(
            credential(store.user("7-p").await.expect("reads")),
            Some(StoredCredential::OAuth(fresh))
        );
    }
}
