//! The `deployed_adapters` table: adapters deployed through the admin API,
//! shared by every replica (migration `0004_deployed_adapters.sql`), and
//! hearing of each change: a trigger notifies [`CHANNEL`] when it commits,
//! and a listener of its own wakes whoever waits in
//! [`PgStore::deployment_changed`](crate::store::Store::deployment_changed).
//! A missed notification is not lost for long: the waiter also looks on
//! its own every few seconds.

use super::PgStore;
use super::user_changes::{listen, while_open};
use crate::store::{Deployment, Result};
use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The channel the trigger notifies.
const CHANNEL: &str = "switchboard_adapters";

/// How long to wait before listening again after a failure.
const RETRY: Duration = Duration::from_secs(1);

impl PgStore {
    pub(super) async fn write_deployment(
        &self,
        deployment: &Deployment,
        component: Option<&[u8]>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployed_adapters (name, sha256, component, config, changed_at)
             VALUES ($1, $2, $3, $4, clock_timestamp())
             ON CONFLICT (name) DO UPDATE SET
                sha256 = excluded.sha256, component = excluded.component,
                config = excluded.config, changed_at = excluded.changed_at",
        )
        .bind(&deployment.name)
        .bind(&deployment.sha256)
        .bind(component)
        .bind(&deployment.config)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn read_deployments(&self) -> Result<Vec<Deployment>> {
        let rows = sqlx::query("SELECT name, sha256, config FROM deployed_adapters ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let deployments = rows
            .iter()
            .map(|row| {
                Ok(Deployment {
                    name: row.try_get(0)?,
                    sha256: row.try_get(1)?,
                    config: row.try_get(2)?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok(deployments)
    }

    pub(super) async fn read_deployment_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let component: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT component FROM deployed_adapters WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(component.flatten())
    }
}

/// Wake `changed` on every notification on [`CHANNEL`], until `pool` (the
/// store's) is closed. The listener has a connection of its own.
pub(super) fn follow(connect: PgConnectOptions, pool: PgPool, changed: Arc<Notify>) {
    tokio::spawn(while_open(connect, pool, async move |own| {
        wake_on_changes(&own, &changed).await;
    }));
}

async fn wake_on_changes(own: &PgPool, changed: &Notify) {
    loop {
        match listen(own, CHANNEL).await {
            Ok(mut listener) => {
                // Whatever changed while nobody listened.
                changed.notify_one();
                let why = loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => changed.notify_one(),
                        Ok(None) => break "the connection was lost".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                tracing::warn!(error = %why, "stopped hearing of adapter deployments; looking every few seconds until listening again");
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for adapter deployments yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
