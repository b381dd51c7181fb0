//! Credentials at rest in SQLite: the start-up check that they were sealed
//! with the configured key, and re-sealing everything with a new key. Which
//! columns hold them is [`crate::store::credentials`].

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::credentials::{SEALED_VALUES, SEALING_KEY_IDS, key_mismatch, reseal};
use crate::store::sealed::Sealer;
use rusqlite::params;

/// A sealing failure as a SQL-side error, for use inside a write.
fn in_sql(error: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

impl SqliteStore {
    /// Fail when stored credentials were sealed with another key.
    pub(super) fn check_key(&self) -> anyhow::Result<()> {
        let key_ids: Vec<String> = self.readers.read(|c| {
            c.prepare(SEALING_KEY_IDS)?
                .query_map([], |row| row.get(0))?
                .collect()
        })?;
        match key_mismatch(&self.sealer, &key_ids) {
            Some(message) => anyhow::bail!(message),
            None => Ok(()),
        }
    }

    /// Re-seal every stored credential with `new`, in one transaction.
    /// Returns how many values were re-sealed. Run with the server stopped.
    pub async fn rotate_secret_key(&self, new: &Sealer) -> anyhow::Result<usize> {
        let (current, new) = (self.sealer.clone(), new.clone());
        let count = self
            .writer
            .write(move |c| {
                let rows: Vec<(String, Option<String>, Option<String>)> = c
                    .prepare(SEALED_VALUES)?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut count = 0;
                for (id, credential, refresh_token) in &rows {
                    for (column, value) in
                        [("credential", credential), ("refresh_token", refresh_token)]
                    {
                        let Some(value) = value else { continue };
                        let sealed = reseal(&current, &new, id, column, value).map_err(in_sql)?;
                        c.execute(
                            &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                            params![id, sealed],
                        )?;
                        count += 1;
                    }
                }
                Ok(count)
            })
            .await;
        self.users.forget(None);
        Ok(count?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sealed::SecretKey;
    use crate::store::{OAuthTokens, Store, StoredCredential, User};

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
        Store::close(&store).await;
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
