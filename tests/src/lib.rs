//! Harness for the black-box tests: start the real server on `127.0.0.1:0`
//! with a temp data dir and real components, talk to it over HTTP, read its
//! SQLite file, and stand up mock CRMs.
//!
//! - [`server`]: the server in this process ([`TestServer`]);
//! - [`child`]: the server in a process of its own ([`ChildServer`]), to
//!   signal or kill;
//! - [`dirs`]: plugins and data directories ([`Dirs`]);
//! - [`mock_crm`], [`pipedrive`] and [`hubspot`]: mock CRMs, sharing
//!   [`mock_http`];
//! - [`metrics`]: a server's Prometheus endpoint, scraped;
//! - [`otlp`]: an OpenTelemetry collector that keeps what it receives;
//! - [`postgres`]: a throwaway PostgreSQL cluster ([`Postgres`]);
//! - [`poll`]: waiting with a deadline ([`wait_until`]).

#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed step is a failed test"
)]

use serde_json::{Value, json};

pub mod child;
pub mod dirs;
pub mod hubspot;
pub mod metrics;
pub mod mock_crm;
pub mod mock_http;
pub mod otlp;
pub mod pipedrive;
pub mod poll;
pub mod postgres;
pub mod server;

pub use child::{
    CHILD_ENTRY, CHILD_SERVER_ARGS, ChildServer, Outcomes, run_child_server, stream_creates,
};
pub use dirs::{Dirs, STORE_ENV};
pub use mock_crm::MockCrm;
pub use poll::{DEADLINE, wait_until};
pub use postgres::Postgres;
pub use server::{Reply, TestServer, start_hubspot, start_pipedrive, start_pipedrive_on};

/// Paths of the components built by `build.rs`.
pub mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
}

/// The adapters in other languages (`examples/`), which `cargo xtask build
/// --examples` builds into `target/plugins/` (`cargo xtask test` does it
/// first), and the Python test fixture it builds into
/// `target/test-plugins/`.
pub mod examples {
    use std::path::Path;

    fn built(dir: &str, file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(dir)
            .join(file);
        assert!(
            path.exists(),
            "{} is missing: run `cargo xtask build --examples` (it needs node, npm and python3)",
            path.display()
        );
        path.display().to_string()
    }

    /// testCRM in TypeScript (platform `jsTestCRM`).
    pub fn jstestcrm() -> String {
        built("plugins", "jstestcrm.wasm")
    }

    /// testCRM in Python (platform `pyTestCRM`).
    pub fn pytestcrm() -> String {
        built("plugins", "pytestcrm.wasm")
    }

    /// The HubSpot adapter in TypeScript (platform `hubspot`).
    pub fn hubspot() -> String {
        built("plugins", "hubspot.wasm")
    }

    /// A Python adapter whose creates sleep (platform `pynap`; in
    /// `tests/fixtures/pynap`).
    pub fn pynap() -> String {
        built("test-plugins", "pynap.wasm")
    }

    /// An artifact cache every test server may share (`--cache-dir`), so a
    /// JS or Python component (10 s or more to compile) compiles once per
    /// suite run rather than once per test.
    pub fn shared_cache() -> String {
        std::env::temp_dir()
            .join("switchboard-tests-artifact-cache")
            .display()
            .to_string()
    }
}

/// The JWT secret every test server uses, so tests can forge tokens.
pub const JWT_SECRET: &str = "switchboard-tests-secret-0123456789abcdef";

/// The `--secret-key` every test server on PostgreSQL uses (replicas must
/// share it).
pub const SECRET_KEY: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// The admin token every test server uses.
pub const ADMIN_TOKEN: &str = "switchboard-tests-admin-token";

/// The reference RingCentral call-log record from `tests/data/`.
pub fn reference_call() -> Value {
    serde_json::from_str(include_str!("../data/ringcentral-call-log.json")).unwrap()
}

/// A `POST /callLog` body for the reference call, with another session id.
pub fn create_body(session_id: &str, contact_id: Value, note: &str) -> Value {
    let mut log_info = reference_call();
    log_info["sessionId"] = json!(session_id);
    json!({
        "logInfo": log_info,
        "contactId": contact_id,
        "contactType": "person",
        "contactName": "John Smith",
        "note": note,
        "additionalSubmission": { "isAssociatedToDeal": false },
    })
}

/// Percent-encode a query value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Sign a token with the test secret (or another), for forgery tests.
pub fn sign_token(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
