//! The `adapter_kv` table on PostgreSQL: each adapter's key-value data,
//! scoped by platform. `increment` is one upsert, atomic across replicas.

use super::PgStore;
use crate::clock::now_ms;
use crate::kv::AdapterKv;
use async_trait::async_trait;

#[async_trait]
impl AdapterKv for PgStore {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let value =
            sqlx::query_scalar("SELECT value FROM adapter_kv WHERE platform = $1 AND key = $2")
                .bind(platform)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(value)
    }

    async fn set(&self, platform: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO adapter_kv (platform, key, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (platform, key) DO UPDATE SET
                value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(platform)
        .bind(key)
        .bind(value)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete(&self, platform: &str, key: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM adapter_kv WHERE platform = $1 AND key = $2")
            .bind(platform)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        // The counter is kept as decimal text, which `get` returns as bytes,
        // as on SQLite. A value that is not a number fails the statement.
        let value = sqlx::query_scalar(
            "INSERT INTO adapter_kv (platform, key, value, updated_at)
             VALUES ($1, $2, convert_to($3::bigint::text, 'UTF8'), $4)
             ON CONFLICT (platform, key) DO UPDATE SET
                value = convert_to(
                    (convert_from(adapter_kv.value, 'UTF8')::bigint + $3::bigint)::text, 'UTF8'),
                updated_at = excluded.updated_at
             RETURNING convert_from(value, 'UTF8')::bigint",
        )
        .bind(platform)
        .bind(key)
        .bind(delta)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(value)
    }
}
