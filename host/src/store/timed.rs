//! Every store operation timed, for `switchboard_store_operation_duration_seconds`:
//! a [`Database`] wrapped in one that measures each call of the inner one.
//! [`super::open`] wraps whichever store it opened, so both are measured
//! the same way and neither carries timing code of its own.

use super::{
    CallLogKey, CallLogRow, ConversationKey, ConversationReservation, Database, Deployment,
    OAuthTokens, PoolStats, ReplicaRecord, Reservation, Result, Store, StoreHealth, User, UserLock,
};
use crate::kv::{AdapterKv, KvWrites};
use crate::telemetry::StoreMetrics;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `inner`, with every operation timed under the store name `store`.
#[derive(Debug)]
pub(super) struct Timed {
    inner: Arc<dyn Database>,
    metrics: StoreMetrics,
}

impl Timed {
    pub(super) fn new(inner: Arc<dyn Database>, store: &'static str) -> Self {
        Self {
            inner,
            metrics: StoreMetrics::new(store),
        }
    }

    /// Run `operation`, recording how long it took as `name`.
    async fn time<T>(&self, name: &'static str, operation: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = operation.await;
        self.metrics.record(name, started.elapsed());
        out
    }
}

#[async_trait]
impl Store for Timed {
    async fn upsert_user(&self, user: &User) -> Result<()> {
        self.time("upsert_user", self.inner.upsert_user(user)).await
    }

    async fn user(&self, id: &str) -> Result<Option<User>> {
        self.time("user", self.inner.user(id)).await
    }

    async fn user_uncached(&self, id: &str) -> Result<Option<User>> {
        self.time("user_uncached", self.inner.user_uncached(id))
            .await
    }

    async fn clear_credential(&self, id: &str) -> Result<bool> {
        self.time("clear_credential", self.inner.clear_credential(id))
            .await
    }

    async fn set_oauth_tokens(&self, id: &str, tokens: &OAuthTokens) -> Result<()> {
        self.time("set_oauth_tokens", self.inner.set_oauth_tokens(id, tokens))
            .await
    }

    async fn lock_user(&self, id: &str) -> Result<UserLock> {
        self.time("lock_user", self.inner.lock_user(id)).await
    }

    async fn reserve_call_log(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        let reserve = self
            .inner
            .reserve_call_log(key, telephony_session_id, contact_id);
        self.time("reserve_call_log", reserve).await
    }

    fn lease(&self) -> Option<Duration> {
        self.inner.lease()
    }

    async fn renew_call_log(&self, key: &CallLogKey) -> Result<bool> {
        self.time("renew_call_log", self.inner.renew_call_log(key))
            .await
    }

    async fn complete_call_log(
        &self,
        key: &CallLogKey,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let complete = self.inner.complete_call_log(key, log_id, writes);
        self.time("complete_call_log", complete).await
    }

    async fn release_call_log(&self, key: &CallLogKey) -> Result<()> {
        self.time("release_call_log", self.inner.release_call_log(key))
            .await
    }

    async fn reserve_conversation(&self, key: &ConversationKey) -> Result<ConversationReservation> {
        let reserve = self.inner.reserve_conversation(key);
        self.time("reserve_conversation", reserve).await
    }

    async fn renew_conversation(&self, key: &ConversationKey) -> Result<bool> {
        self.time("renew_conversation", self.inner.renew_conversation(key))
            .await
    }

    async fn record_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let record = self.inner.record_message(key, message_id, log_id, writes);
        self.time("record_message", record).await
    }

    async fn release_conversation(&self, key: &ConversationKey) -> Result<()> {
        let release = self.inner.release_conversation(key);
        self.time("release_conversation", release).await
    }

    async fn logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>> {
        let logged = self.inner.logged_messages(platform, user_id, message_ids);
        self.time("logged_messages", logged).await
    }

    async fn call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        let rows = self.inner.call_logs(platform, user_id, session_ids);
        self.time("call_logs", rows).await
    }

    async fn heartbeat(&self, replica: &ReplicaRecord) -> Result<()> {
        self.time("heartbeat", self.inner.heartbeat(replica)).await
    }

    async fn live_replicas(&self, silence: Duration) -> Result<Option<Vec<ReplicaRecord>>> {
        self.time("live_replicas", self.inner.live_replicas(silence))
            .await
    }

    async fn leave_fleet(&self, id: &str) -> Result<()> {
        self.time("leave_fleet", self.inner.leave_fleet(id)).await
    }

    async fn save_deployment(
        &self,
        deployment: &Deployment,
        component: Option<&[u8]>,
    ) -> Result<()> {
        let save = self.inner.save_deployment(deployment, component);
        self.time("save_deployment", save).await
    }

    async fn deployments(&self) -> Result<Vec<Deployment>> {
        self.time("deployments", self.inner.deployments()).await
    }

    async fn deployment_component(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let component = self.inner.deployment_component(name);
        self.time("deployment_component", component).await
    }

    async fn deployment_changed(&self) {
        self.inner.deployment_changed().await;
    }

    async fn health(&self) -> StoreHealth {
        self.time("health", self.inner.health()).await
    }

    fn pool(&self) -> PoolStats {
        self.inner.pool()
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[async_trait]
impl AdapterKv for Timed {
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.time("kv_get", self.inner.get(platform, key)).await
    }

    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64> {
        let increment = self.inner.increment(platform, key, delta);
        self.time("kv_increment", increment).await
    }

    async fn apply(&self, writes: &KvWrites) -> anyhow::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.time("kv_apply", self.inner.apply(writes)).await
    }
}
