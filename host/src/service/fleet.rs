//! The fleet: this replica's identity, its heartbeat, and the view of every
//! live replica with version skew (one platform served from different
//! bytes) called out.
//!
//! On a store one process owns (SQLite) the fleet is this process alone.

use super::{Service, ServiceError};
use crate::clock::rfc3339;
use crate::store::{ReplicaRecord, ServedAdapter};
use std::collections::BTreeMap;
use std::time::Duration;

/// Who this replica is.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Generated at start-up.
    pub id: String,
    /// The address it listens on.
    pub listen: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// How often it reports; a replica silent for three of these is gone.
    pub heartbeat: Duration,
}

impl Replica {
    /// A replica `id` listening on `listen`, starting now.
    pub fn new(id: String, listen: String, heartbeat: Duration) -> Self {
        Self {
            id,
            listen,
            started_at: rfc3339(std::time::SystemTime::now()),
            heartbeat,
        }
    }
}

/// Every live replica, and where they disagree.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The replicas heard from lately, oldest first.
    pub replicas: Vec<ReplicaRecord>,
    /// Platforms served from different bytes by different replicas.
    pub skew: Vec<Skew>,
}

/// One platform served from different bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skew {
    /// The platform.
    pub platform: String,
    /// Each sha256 serving it, with the replicas serving it.
    pub sha256: BTreeMap<String, Vec<String>>,
}

/// The platforms `replicas` serve from more than one sha256.
fn skew(replicas: &[ReplicaRecord]) -> Vec<Skew> {
    let mut served: BTreeMap<&str, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for replica in replicas {
        for adapter in replica.adapters.iter().filter(|a| a.status == "serving") {
            let (Some(platform), Some(sha)) = (&adapter.platform, &adapter.sha256) else {
                continue;
            };
            served
                .entry(platform)
                .or_default()
                .entry(sha.clone())
                .or_default()
                .push(replica.id.clone());
        }
    }
    served
        .into_iter()
        .filter(|(_, shas)| shas.len() > 1)
        .map(|(platform, sha256)| Skew {
            platform: platform.to_owned(),
            sha256,
        })
        .collect()
}

impl Service {
    /// This replica as the fleet view shows it, now.
    fn replica_record(&self) -> ReplicaRecord {
        let adapters = self
            .registry
            .statuses()
            .into_iter()
            .map(|s| ServedAdapter {
                platform: s.platform,
                file: s.file,
                version: s.version,
                sha256: s.sha256,
                status: format!("{:?}", s.status).to_lowercase(),
            })
            .collect();
        ReplicaRecord {
            id: self.replica.id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            listen: self.replica.listen.clone(),
            started_at: self.replica.started_at.clone(),
            heartbeat_at: String::new(),
            adapters,
        }
    }

    /// Report this replica alive, with what it serves.
    pub async fn heartbeat(&self) -> Result<(), ServiceError> {
        Ok(self.store.heartbeat(&self.replica_record()).await?)
    }

    /// Leave the fleet view (at shutdown).
    pub async fn leave_fleet(&self) -> Result<(), ServiceError> {
        Ok(self.store.leave_fleet(&self.replica.id).await?)
    }

    /// Every live replica, with version skew called out.
    pub async fn fleet(&self) -> Result<Fleet, ServiceError> {
        let silence = self.replica.heartbeat * 3;
        let replicas = match self.store.live_replicas(silence).await? {
            Some(replicas) => replicas,
            None => {
                let mut me = self.replica_record();
                me.heartbeat_at = rfc3339(std::time::SystemTime::now());
                vec![me]
            }
        };
        Ok(Fleet {
            skew: skew(&replicas),
            replicas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(id: &str, served: &[(&str, &str, &str)]) -> ReplicaRecord {
        ReplicaRecord {
            id: id.into(),
            version: "1".into(),
            listen: "l".into(),
            started_at: "s".into(),
            heartbeat_at: "h".into(),
            adapters: served
                .iter()
                .map(|(platform, sha, status)| ServedAdapter {
                    platform: Some((*platform).into()),
                    file: format!("{platform}.wasm"),
                    version: Some("1".into()),
                    sha256: Some((*sha).into()),
                    status: (*status).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn skew_is_one_platform_served_from_different_bytes() {
        let same = [
            replica("a", &[("p", "1", "serving"), ("q", "9", "serving")]),
            replica("b", &[("p", "1", "serving"), ("q", "8", "refused")]),
        ];
        assert_eq!(skew(&same), vec![]);
        let skewed = [
            replica("a", &[("p", "1", "serving")]),
            replica("b", &[("p", "2", "serving")]),
            replica("c", &[("p", "2", "serving")]),
        ];
        assert_eq!(
            skew(&skewed),
            vec![Skew {
                platform: "p".into(),
                sha256: BTreeMap::from([
                    ("1".into(), vec!["a".into()]),
                    ("2".into(), vec!["b".into(), "c".into()]),
                ]),
            }]
        );
    }
}
