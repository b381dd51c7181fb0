//! The fleet view's records: each replica, what it serves, and when it last
//! said it was alive. Stores that several replicas share keep them
//! ([`super::Store::heartbeat`]); a store one process owns keeps none.

use serde::{Deserialize, Serialize};

/// One replica, as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaRecord {
    /// Generated at start-up; also the owner of its reservations' leases.
    pub id: String,
    /// The server's version.
    pub version: String,
    /// The address it listens on.
    pub listen: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it last reported (RFC 3339, the database's clock); empty in a
    /// record not yet stored.
    pub heartbeat_at: String,
    /// What it serves, file by file.
    pub adapters: Vec<ServedAdapter>,
}

/// One adapter file of a replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedAdapter {
    /// The platform it serves (or claims).
    pub platform: Option<String>,
    /// The file's path on that replica.
    pub file: String,
    /// The serving version.
    pub version: Option<String>,
    /// Hex sha256 of the serving bytes.
    pub sha256: Option<String>,
    /// `loading`, `serving`, `refused` or `unloaded`.
    pub status: String,
}
