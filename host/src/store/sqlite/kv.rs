//! The `adapter_kv` table: each adapter's key-value data, scoped by platform.

use super::SqliteStore;
use crate::clock::now_ms;
use crate::kv::{AdapterKv, KvWrites};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

#[async_trait]
impl AdapterKv for SqliteStore {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let value = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT CAST(value AS BLOB) FROM adapter_kv WHERE platform = ?1 AND key = ?2",
            )?
            .query_row([platform, key], |row| row.get(0))
            .optional()
        })?;
        Ok(value)
    }

    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        let (platform, key) = (platform.to_owned(), key.to_owned());
        // The counter is kept as decimal text, which `get` returns as bytes.
        let value = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO adapter_kv (platform, key, value, updated_at)
                     VALUES (?1, ?2, CAST(CAST(?3 AS TEXT) AS BLOB), ?4)
                     ON CONFLICT (platform, key) DO UPDATE SET
                        value = CAST(CAST(CAST(CAST(adapter_kv.value AS TEXT) AS INTEGER) + ?3 AS TEXT) AS BLOB),
                        updated_at = excluded.updated_at
                     RETURNING CAST(CAST(value AS TEXT) AS INTEGER)",
                )?
                .query_row(params![platform, key, delta, now_ms()], |row| row.get(0))
            })
            .await?;
        Ok(value)
    }

    async fn apply(&self, writes: &KvWrites) -> anyhow::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let writes = writes.clone();
        self.writer.write(move |c| write_kv(c, &writes)).await?;
        Ok(())
    }
}

/// Run `writes` on `c`, inside the caller's transaction.
pub(super) fn write_kv(c: &Connection, writes: &KvWrites) -> rusqlite::Result<()> {
    let now = now_ms();
    let platform = writes.platform();
    if writes.sets().next().is_some() {
        let mut upsert = c.prepare_cached(
            "INSERT INTO adapter_kv (platform, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (platform, key) DO UPDATE SET
                value = excluded.value, updated_at = excluded.updated_at",
        )?;
        for (key, value) in writes.sets() {
            upsert.execute(params![platform, key, value, now])?;
        }
    }
    if writes.deletes().next().is_some() {
        let mut delete =
            c.prepare_cached("DELETE FROM adapter_kv WHERE platform = ?1 AND key = ?2")?;
        for key in writes.deletes() {
            delete.execute([platform, key])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::open;
    use crate::kv::{AdapterKv, KvWrites};

    #[tokio::test]
    async fn kv_is_scoped_and_counts_atomically() {
        let (_dir, store) = open().await;
        let mut writes = KvWrites::new("a");
        writes.set("k", b"one".to_vec());
        store.apply(&writes).await.expect("sets");
        assert_eq!(
            store.get("a", "k").await.expect("gets"),
            Some(b"one".to_vec())
        );
        assert_eq!(store.get("b", "k").await.expect("gets"), None);
        let counts = futures::future::join_all((0..20).map(|_| store.increment("a", "n", 1))).await;
        let mut values: Vec<i64> = counts.into_iter().map(|r| r.expect("increments")).collect();
        values.sort_unstable();
        assert_eq!(values, (1..=20).collect::<Vec<_>>());
        assert_eq!(
            store.get("a", "n").await.expect("gets"),
            Some(b"20".to_vec())
        );
        let mut writes = KvWrites::new("a");
        writes.delete("k");
        store.apply(&writes).await.expect("deletes");
        assert_eq!(store.get("a", "k").await.expect("gets"), None);
    }
}
