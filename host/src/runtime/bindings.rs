//! Host bindings for every version of the `switchboard:adapter` contract the
//! host serves:
//! - the current one, from `wit/` (at [`crate::WIT_VERSION`]), whose types
//!   the rest of the host uses;
//! - [`v0_1`], from the frozen copy `host/wit/switchboard-adapter@0.1.0.wit`,
//!   used only by `compat` to serve components built against 0.1.0.
//!
//! `wasi:*` interfaces map onto wasmtime-wasi's and wasmtime-wasi-http's own
//! bindings, so the host links the standard implementations. Every record
//! derives serde's traits: `compat` converts between versions through them.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "switchboard:adapter/adapter-world",
    imports: {
        "switchboard:adapter/kv": async,
    },
    exports: { default: async },
    require_store_data_send: true,
    additional_derives: [serde::Serialize, serde::Deserialize],
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub use self::exports::switchboard::adapter::adapter::Guest;
pub use self::switchboard::adapter::crm_types::*;

/// `switchboard:adapter@0.1.0`, frozen: the contract of adapters built
/// before 0.2.0.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: ["../wit", "wit/switchboard-adapter@0.1.0.wit"],
        world: "switchboard:adapter/adapter-world@0.1.0",
        imports: {
            "switchboard:adapter/kv@0.1.0": async,
        },
        exports: { default: async },
        require_store_data_send: true,
        additional_derives: [serde::Serialize, serde::Deserialize],
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });

    // Two versions of the package are in scope, so the generated module
    // carries its version: `adapter0_1_0`.
    pub use self::exports::switchboard::adapter0_1_0::adapter::Guest;
    pub use self::switchboard::adapter0_1_0 as imports;
    pub use self::switchboard::adapter0_1_0::types::*;
}
