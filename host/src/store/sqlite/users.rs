//! The `users` table: who signed in, and their sealed credential.

use super::SqliteStore;
use crate::clock::now_ms;
use crate::store::credentials::{CredentialColumns, StoredColumns};
use crate::store::{OAuthTokens, Result, StoredCredential, User};
use rusqlite::{OptionalExtension, params};

impl SqliteStore {
    /// Insert or update a user, with their credential.
    pub(super) async fn write_user(&self, user: &User) -> Result<()> {
        let columns = CredentialColumns::seal(&self.sealer, &user.id, user.credential.as_ref())?;
        let user = user.clone();
        let id = user.id.clone();
        let written = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO users (id, platform, crm_user_id, name, hostname, timezone,
                                        credential_kind, credential, platform_additional_info,
                                        created_at, updated_at, refresh_token, token_expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)
                     ON CONFLICT (id) DO UPDATE SET
                        name = excluded.name, hostname = excluded.hostname,
                        timezone = excluded.timezone, credential_kind = excluded.credential_kind,
                        credential = excluded.credential, refresh_token = excluded.refresh_token,
                        token_expires_at = excluded.token_expires_at,
                        platform_additional_info = excluded.platform_additional_info,
                        updated_at = excluded.updated_at",
                )?
                .execute(params![
                    user.id,
                    user.platform,
                    user.crm_user_id,
                    user.name,
                    user.hostname,
                    user.timezone,
                    columns.kind,
                    columns.credential,
                    user.platform_additional_info,
                    now_ms(),
                    columns.refresh_token,
                    columns.expires_at,
                ])
            })
            .await;
        self.users.forget(Some(&id));
        written?;
        Ok(())
    }

    /// A user by App Connect id, credential opened: from memory when read
    /// before (see `store/user_cache.rs`).
    pub(super) async fn read_user(&self, id: &str) -> Result<Option<User>> {
        self.users
            .read_through(id, || async { self.read_user_row(id) })
            .await
    }

    /// A user as the file holds it.
    pub(super) fn read_user_row(&self, id: &str) -> Result<Option<User>> {
        let row = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT id, platform, crm_user_id, name, hostname, timezone, credential_kind,
                        credential, refresh_token, token_expires_at, platform_additional_info
                 FROM users WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok((
                    User {
                        id: row.get(0)?,
                        platform: row.get(1)?,
                        crm_user_id: row.get(2)?,
                        name: row.get(3)?,
                        hostname: row.get(4)?,
                        timezone: row.get(5)?,
                        credential: None,
                        platform_additional_info: row.get(10)?,
                    },
                    StoredColumns {
                        kind: row.get(6)?,
                        credential: row.get(7)?,
                        refresh_token: row.get(8)?,
                        expires_at: row.get(9)?,
                    },
                ))
            })
            .optional()
        })?;
        let Some((mut user, columns)) = row else {
            return Ok(None);
        };
        user.credential = columns.open(&self.sealer, id)?;
        Ok(Some(user))
    }

    /// Clear a user's credential; whether the user exists.
    pub(super) async fn forget_credential(&self, id: &str) -> Result<bool> {
        let owned = id.to_owned();
        let changed = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE users SET credential_kind = NULL, credential = NULL, refresh_token = NULL,
                                      token_expires_at = NULL, updated_at = ?2
                     WHERE id = ?1",
                )?
                .execute(params![owned, now_ms()])
            })
            .await;
        self.users.forget(Some(id));
        Ok(changed? > 0)
    }

    /// Replace an OAuth user's tokens.
    pub(super) async fn write_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        let credential = StoredCredential::OAuth(tokens.clone());
        let columns = CredentialColumns::seal(&self.sealer, id, Some(&credential))?;
        let owned = id.to_owned();
        let written = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE users SET credential = ?2, refresh_token = ?3, token_expires_at = ?4,
                                      updated_at = ?5
                     WHERE id = ?1 AND credential_kind = 'oauth'",
                )?
                .execute(params![
                    owned,
                    columns.credential,
                    columns.refresh_token,
                    columns.expires_at,
                    now_ms()
                ])
            })
            .await;
        self.users.forget(Some(id));
        written?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::open;
    use crate::store::{Store, StoredCredential, User};

    #[tokio::test]
    async fn credentials_round_trip_and_clear() {
        let (_dir, store) = open().await;
        let user = User {
            id: "42-p".into(),
            platform: "p".into(),
            crm_user_id: "42".into(),
            name: "N".into(),
            hostname: "h".into(),
            timezone: None,
            credential: Some(StoredCredential::ApiKey("secret".into())),
            platform_additional_info: None,
        };
        store.upsert_user(&user).await.expect("upserts");
        assert_eq!(store.user("42-p").await.expect("reads"), Some(user.clone()));
        assert!(!format!("{user:?}").contains("secret"), "Debug must redact");
        assert!(store.clear_credential("42-p").await.expect("clears"));
        assert_eq!(
            store
                .user("42-p")
                .await
                .expect("reads")
                .and_then(|u| u.credential),
            None
        );
        assert!(!store.clear_credential("nobody").await.expect("clears"));
    }
}
