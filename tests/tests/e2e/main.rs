//! End-to-end tests: the real server on 127.0.0.1, real wasm components built
//! from this repository, a real SQLite file.

#![allow(clippy::unwrap_used, reason = "tests: a failed step is a failed test")]

mod auth;
mod call_log;
mod crash;
mod hostile;
mod logging;
mod misbehaving_crm;
mod persistence;
mod pipedrive;
mod reload;
mod sandbox;
mod tenancy;
