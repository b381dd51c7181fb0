//! The log filter every Switchboard process uses: the operator's `RUST_LOG`,
//! or a default level, with the targets that would print what an adapter
//! sends turned off whatever `RUST_LOG` says.
//!
//! wasmtime-wasi's and wasmtime-wasi-http's generated bindings trace every
//! host call with its arguments at `trace`: an outgoing request's path and
//! query (HubSpot's token-info path holds the access token), and everything
//! an adapter passes to WASI. Logs must never carry a secret, so those
//! targets are never enabled, even with `RUST_LOG=trace`.

use tracing_subscriber::EnvFilter;

/// Targets that are off at every level.
const NEVER: &[&str] = &[
    "wasmtime_wasi_http::p2::bindings",
    "wasmtime_wasi::p2::bindings",
];

/// `RUST_LOG` (or `default_level` when it is unset or does not parse), with
/// [`NEVER`] off.
pub fn log_filter(default_level: &str) -> EnvFilter {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    NEVER.iter().fold(filter, |filter, target| {
        filter.add_directive(format!("{target}=off").parse().expect("a valid directive"))
    })
}
