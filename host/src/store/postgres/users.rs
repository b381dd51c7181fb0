//! The `users` table on PostgreSQL: who signed in, and their sealed
//! credential.

use super::PgStore;
use crate::clock::now_ms;
use crate::store::credentials::{CredentialColumns, SEALED_VALUES, StoredColumns, reseal};
use crate::store::sealed::Sealer;
use crate::store::{OAuthTokens, Result, StoredCredential, User};
use sqlx::Row as _;

impl PgStore {
    /// Insert or update a user, with their credential.
    pub(super) async fn write_user(&self, user: &User) -> Result<()> {
        let columns = CredentialColumns::seal(&self.sealer, &user.id, user.credential.as_ref())?;
        let written = sqlx::query(
            "INSERT INTO users (id, platform, crm_user_id, name, hostname, timezone,
                                credential_kind, credential, platform_additional_info,
                                created_at, updated_at, refresh_token, token_expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET
                name = excluded.name, hostname = excluded.hostname,
                timezone = excluded.timezone, credential_kind = excluded.credential_kind,
                credential = excluded.credential, refresh_token = excluded.refresh_token,
                token_expires_at = excluded.token_expires_at,
                platform_additional_info = excluded.platform_additional_info,
                updated_at = excluded.updated_at",
        )
        .bind(&user.id)
        .bind(&user.platform)
        .bind(&user.crm_user_id)
        .bind(&user.name)
        .bind(&user.hostname)
        .bind(&user.timezone)
        .bind(columns.kind)
        .bind(&columns.credential)
        .bind(&user.platform_additional_info)
        .bind(now_ms())
        .bind(&columns.refresh_token)
        .bind(columns.expires_at)
        .execute(&self.pool)
        .await;
        // This replica forgets at once; the others when notified.
        self.users.forget(Some(&user.id));
        written?;
        Ok(())
    }

    /// A user by App Connect id, credential opened: from memory when read
    /// before and this replica hears of changes (`store/user_cache.rs`).
    pub(super) async fn read_user(&self, id: &str) -> Result<Option<User>> {
        self.users.read_through(id, || self.read_user_row(id)).await
    }

    /// A user as the database holds it.
    pub(super) async fn read_user_row(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query(
            "SELECT id, platform, crm_user_id, name, hostname, timezone, credential_kind,
                    credential, refresh_token, token_expires_at, platform_additional_info
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let columns = StoredColumns {
            kind: row.try_get(6)?,
            credential: row.try_get(7)?,
            refresh_token: row.try_get(8)?,
            expires_at: row.try_get(9)?,
        };
        Ok(Some(User {
            id: row.try_get(0)?,
            platform: row.try_get(1)?,
            crm_user_id: row.try_get(2)?,
            name: row.try_get(3)?,
            hostname: row.try_get(4)?,
            timezone: row.try_get(5)?,
            credential: columns.open(&self.sealer, id)?,
            platform_additional_info: row.try_get(10)?,
        }))
    }

    /// Clear a user's credential; whether the user exists.
    pub(super) async fn forget_credential(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET credential_kind = NULL, credential = NULL, refresh_token = NULL,
                              token_expires_at = NULL, updated_at = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        self.users.forget(Some(id));
        Ok(done?.rows_affected() > 0)
    }

    /// Replace an OAuth user's tokens.
    pub(super) async fn write_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        let credential = StoredCredential::OAuth(tokens.clone());
        let columns = CredentialColumns::seal(&self.sealer, id, Some(&credential))?;
        let written = sqlx::query(
            "UPDATE users SET credential = $2, refresh_token = $3, token_expires_at = $4,
                              updated_at = $5
             WHERE id = $1 AND credential_kind = 'oauth'",
        )
        .bind(id)
        .bind(&columns.credential)
        .bind(&columns.refresh_token)
        .bind(columns.expires_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        self.users.forget(Some(id));
        written?;
        Ok(())
    }

    /// Re-seal every stored credential with `new`, in one transaction that
    /// locks the rows it rewrites. Returns how many values were re-sealed.
    /// Run with every replica stopped: a replica still on the old key could
    /// neither open the new values nor write ones the new key opens.
    pub async fn rotate_secret_key(&self, new: &Sealer) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!("{SEALED_VALUES} FOR UPDATE"))
            .fetch_all(&mut *tx)
            .await?;
        let mut count = 0;
        for row in &rows {
            let id: String = row.try_get(0)?;
            let mut resealed = [None, None];
            for (slot, (index, column)) in resealed
                .iter_mut()
                .zip([(1, "credential"), (2, "refresh_token")])
            {
                if let Some(value) = row.try_get::<Option<String>, _>(index)? {
                    *slot = Some(reseal(&self.sealer, new, &id, column, &value)?);
                    count += 1;
                }
            }
            let [credential, refresh_token] = resealed;
            sqlx::query("UPDATE users SET credential = $2, refresh_token = $3 WHERE id = $1")
                .bind(&id)
                .bind(credential)
                .bind(refresh_token)
                .execute(&mut *tx)
                .await?;
        }
        let committed = tx.commit().await;
        self.users.forget(None);
        committed?;
        Ok(count)
    }
}
