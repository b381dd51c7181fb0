//! Read-only settings the operator gives this adapter (the `[config]` table of
//! the adapter's operator file, `NAME.toml` beside `NAME.wasm`).

/// The value of one setting, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    crate::__bindings::switchboard::adapter::config::get(key)
}
