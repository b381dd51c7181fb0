//! The `replicas` table: each replica's heartbeat and what it serves.

use super::PgStore;
use crate::store::{ReplicaRecord, Result};
use sqlx::Row as _;
use std::time::Duration;

impl PgStore {
    /// Insert or refresh this replica's row.
    pub(super) async fn write_heartbeat(&self, replica: &ReplicaRecord) -> Result<()> {
        let adapters = serde_json::to_value(&replica.adapters)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO replicas (id, version, listen, started_at, heartbeat_at, adapters)
             VALUES ($1, $2, $3, $4, clock_timestamp(), $5)
             ON CONFLICT (id) DO UPDATE SET
                heartbeat_at = excluded.heartbeat_at, adapters = excluded.adapters",
        )
        .bind(&replica.id)
        .bind(&replica.version)
        .bind(&replica.listen)
        .bind(&replica.started_at)
        .bind(adapters)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replicas heard from within `silence`, by start time. Rows silent for
    /// a hundred times that are deleted on the way.
    pub(super) async fn read_live_replicas(&self, silence: Duration) -> Result<Vec<ReplicaRecord>> {
        sqlx::query(
            "DELETE FROM replicas WHERE heartbeat_at < clock_timestamp() - make_interval(secs => $1)",
        )
        .bind(silence.as_secs_f64() * 100.0)
        .execute(&self.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT id, version, listen, started_at,
                    to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                    adapters
             FROM replicas
             WHERE heartbeat_at >= clock_timestamp() - make_interval(secs => $1)
             ORDER BY started_at, id",
        )
        .bind(silence.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let adapters: serde_json::Value = row.try_get(5)?;
                Ok(ReplicaRecord {
                    id: row.try_get(0)?,
                    version: row.try_get(1)?,
                    listen: row.try_get(2)?,
                    started_at: row.try_get(3)?,
                    heartbeat_at: row.try_get(4)?,
                    adapters: serde_json::from_value(adapters)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                })
            })
            .collect()
    }

    /// Remove this replica's row (it is shutting down).
    pub(super) async fn delete_replica(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
