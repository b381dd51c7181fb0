//! Host bindings generated from `wit/` (package `switchboard:adapter`, at
//! [`crate::WIT_VERSION`]).
//!
//! `wasi:*` interfaces map onto wasmtime-wasi's and wasmtime-wasi-http's own
//! bindings, so the host links the standard implementations.

#![allow(missing_docs, missing_debug_implementations, unreachable_pub)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "switchboard:adapter/adapter-world",
    imports: {
        "switchboard:adapter/kv": async,
    },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub use self::exports::switchboard::adapter::adapter::Guest;
pub use self::switchboard::adapter::types::*;
