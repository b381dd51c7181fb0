//! Adapters deployed through the admin API, across the fleet.
//!
//! An upload is checked by the registry as it would load here; then, on a
//! store shared by replicas (PostgreSQL), it is saved for every replica and
//! they are told; only then is it written into this replica's plugins
//! directory. A failure before that point changes nothing anywhere.
//!
//! Every replica follows the shared deployments ([`follow`]): at start-up,
//! before its adapters load ([`sync_deployments`]), then on each change
//! another replica announces, and every few seconds in case an
//! announcement was missed. Following writes each deployment whose bytes or
//! operator file differ from the files here, and removes each removed one,
//! through the same atomic writes; the watcher does the rest. A deployment
//! this replica's limits refuse is refused by its registry like any bad
//! file, and whatever served before keeps serving.

use super::{Deployed, Service, ServiceError};
use crate::registry::{self, DeployError};
use crate::store::{Deployment, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

impl Service {
    /// Check an uploaded adapter as `switchboard check` would and, if it
    /// would serve, share it with the fleet and write it (and `config`, its
    /// operator file) into the plugins directory as `<name>.wasm`.
    pub async fn deploy_adapter(
        &self,
        name: &str,
        component: Vec<u8>,
        config: Option<String>,
    ) -> Result<Deployed, ServiceError> {
        let deployed = self
            .registry
            .check_upload(name, &component, config.as_deref())
            .await?;
        let shared = Deployment {
            name: name.to_owned(),
            sha256: Some(deployed.sha256.clone()),
            config: config.clone(),
        };
        self.store
            .save_deployment(&shared, Some(&component))
            .await?;
        registry::install(self.registry.dir(), name, &component, config.as_deref())?;
        Ok(deployed)
    }

    /// Remove `<name>.wasm` (and its operator file) here and, through the
    /// store, from every replica.
    pub async fn remove_adapter(&self, name: &str) -> Result<(), ServiceError> {
        let (here, _) = registry::installed(self.registry.dir(), name);
        if here.is_none() {
            return Err(DeployError::NotFound(name.to_owned()).into());
        }
        let removed = Deployment {
            name: name.to_owned(),
            sha256: None,
            config: None,
        };
        self.store.save_deployment(&removed, None).await?;
        match registry::uninstall(self.registry.dir(), name) {
            // This replica's own follower, told of the removal, may have
            // removed the file first.
            Ok(()) | Err(DeployError::NotFound(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// What this replica last made of each shared deployment: the sha256 and
/// operator file it installed (`None`: removed).
type Applied = HashMap<String, (Option<String>, Option<String>)>;

/// Make `dir` hold every deployment `store` shares: write what differs,
/// remove what was removed.
pub async fn sync_deployments(store: &dyn Store, dir: &Path) -> Result<(), ServiceError> {
    sync(store, dir, &mut Applied::new()).await
}

async fn sync(store: &dyn Store, dir: &Path, applied: &mut Applied) -> Result<(), ServiceError> {
    for deployment in store.deployments().await? {
        let wanted = (deployment.sha256.clone(), deployment.config.clone());
        if applied.get(&deployment.name) == Some(&wanted) {
            continue;
        }
        let (sha256, config) = registry::installed(dir, &deployment.name);
        let config_matches = deployment.config.is_none() || config == deployment.config;
        match &deployment.sha256 {
            None if sha256.is_some() => match registry::uninstall(dir, &deployment.name) {
                Ok(()) | Err(DeployError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            },
            None => {}
            Some(wanted_sha) if sha256.as_ref() == Some(wanted_sha) && config_matches => {}
            Some(_) => {
                let Some(component) = store.deployment_component(&deployment.name).await? else {
                    continue; // Removed meanwhile: the next look sees it.
                };
                registry::install(
                    dir,
                    &deployment.name,
                    &component,
                    deployment.config.as_deref(),
                )?;
            }
        }
        applied.insert(deployment.name, wanted);
    }
    Ok(())
}

/// Keep `dir` in step with the deployments `store` shares, for as long as
/// the task runs: on every announced change, and every `every` besides.
pub async fn follow(store: Arc<dyn Store>, dir: PathBuf, every: Duration) {
    let mut applied = Applied::new();
    loop {
        if let Err(e) = sync(store.as_ref(), &dir, &mut applied).await {
            tracing::warn!(error = %e, "applying the fleet's adapter deployments");
        }
        tokio::select! {
            () = store.deployment_changed() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}
