//! The `adapter_kv` table on PostgreSQL: each adapter's key-value data,
//! scoped by platform. `increment` is one upsert, atomic across replicas;
//! a call's writes are one statement ([`WRITE_KV`]), which a create's
//! completion shares.

use super::PgStore;
use crate::clock::now_ms;
use crate::kv::{AdapterKv, KvWrites};
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

    async fn apply(&self, writes: &KvWrites) -> anyhow::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        bind_writes(sqlx::query(&format!("{WRITE_KV} SELECT 1")), writes)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Common table expressions that write a [`KvWrites`] within a statement
/// (so within its transaction): `$1` platform, `$2` time, `$3`/`$4` the
/// keys and values set, `$5` the keys deleted. The keys of `$3` and `$5`
/// never overlap, and none repeats. Follow it with the statement's own
/// query, which numbers its parameters from `$6`.
pub(super) const WRITE_KV: &str = "
    WITH kv_set AS (
        INSERT INTO adapter_kv (platform, key, value, updated_at)
        SELECT $1, key, value, $2 FROM unnest($3::text[], $4::bytea[]) AS w(key, value)
        ON CONFLICT (platform, key) DO UPDATE SET
            value = excluded.value, updated_at = excluded.updated_at
    ), kv_deleted AS (
        DELETE FROM adapter_kv WHERE platform = $1 AND key = ANY($5::text[])
    )";

/// Bind `$1`…`$5` of [`WRITE_KV`].
pub(super) fn bind_writes<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    writes: &KvWrites,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let (keys, values): (Vec<String>, Vec<Vec<u8>>) = writes
        .sets()
        .map(|(key, value)| (key.to_owned(), value.to_vec()))
        .unzip();
    let deleted: Vec<String> = writes.deletes().map(str::to_owned).collect();
    query
        .bind(writes.platform().to_owned())
        .bind(now_ms())
        .bind(keys)
        .bind(values)
        .bind(deleted)
}
