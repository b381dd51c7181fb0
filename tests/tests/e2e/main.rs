//! End-to-end tests: the real server on 127.0.0.1, real wasm components built
//! from this repository, a real SQLite file.

#![allow(clippy::unwrap_used, reason = "tests: a failed step is a failed test")]

mod auth;
mod call_log;
mod contract;
mod crash;
mod deploy;
mod guest_languages;
mod hostile;
mod hostile_input;
mod hubspot;
mod logging;
mod message_log;
mod misbehaving_crm;
mod observability;
mod persistence;
mod pipedrive;
mod reload;
mod replicas;
mod reuse;
mod sandbox;
mod shutdown;
mod stores;
mod tenancy;

/// Not a test: the server process that tests start as a [`ChildServer`] to
/// signal or kill (see `switchboard_tests::CHILD_ENTRY`).
///
/// [`ChildServer`]: switchboard_tests::ChildServer
#[test]
#[ignore = "entry point of child server processes"]
fn switchboard_child() {
    switchboard_tests::run_child_server();
}
