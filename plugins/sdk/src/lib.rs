//! The guest SDK for Switchboard CRM adapters.
//!
//! An adapter is a WebAssembly component that logs calls into one CRM. Write a
//! type, implement [`Adapter`] for the operations your CRM supports (every
//! other operation answers [`AdapterError::Unsupported`]), export it with
//! [`export!`], and build with `cargo build --target wasm32-wasip2 --release`.
//! Drop the `.wasm` into the server's plugins directory and it serves.
//!
//! The host runs every operation in a fresh instance with CPU, wall-clock and
//! memory limits. Keep state in [`kv`], read operator settings with
//! [`config`], reach your CRM with [`http`] (only hosts your manifest lists),
//! and log with [`log`].
//!
//! # Example
//!
//! A whole adapter for a CRM with an API-key login and a JSON call-log
//! endpoint:
//!
//! ```no_run
//! use switchboard_adapter::{
//!     export, http, Adapter, AdapterError, AuthType, CallLogCreated, CreateCallLogRequest,
//!     Credential, LoginRequest, AdapterManifest, UserInfo,
//! };
//!
//! struct Acme;
//!
//! impl Adapter for Acme {
//!     fn manifest() -> AdapterManifest {
//!         AdapterManifest {
//!             platform: "acme".into(),
//!             display_name: "Acme CRM".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             auth: AuthType::ApiKey,
//!             allowed_hosts: vec!["api.acme.example".into()],
//!         }
//!     }
//!
//!     fn get_user_info(request: LoginRequest) -> Result<UserInfo, AdapterError> {
//!         let me: serde_json::Value = http::Request::get("https://api.acme.example/me")
//!             .credential(&request.credential, "x-api-key")
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         Ok(UserInfo {
//!             id: me["id"].to_string(),
//!             name: me["name"].as_str().unwrap_or_default().into(),
//!             timezone: None,
//!             platform_additional_info: None,
//!         })
//!     }
//!
//!     fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated, AdapterError> {
//!         let body = serde_json::json!({
//!             "contact": request.contact.id,
//!             "subject": request.call.custom_subject,
//!             "note": request.note,
//!         });
//!         let created: serde_json::Value = http::Request::post("https://api.acme.example/calls")
//!             .credential(&request.user.credential, "x-api-key")
//!             .json(&body)?
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         Ok(CallLogCreated { log_id: created["id"].to_string() })
//!     }
//! }
//!
//! export!(Acme);
//! # fn main() {}
//! ```

pub mod config;
pub mod http;
pub mod kv;
pub mod log;

/// Raw bindings generated from the WIT package `switchboard:adapter`.
///
/// Prefer the re-exports at the crate root; these are here for what they do
/// not cover.
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]
#[allow(clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "switchboard:adapter/adapter-world",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_adapter_world",
        default_bindings_module: "switchboard_adapter::bindings",
    });
}

pub use bindings::switchboard::adapter::types::{
    AdapterError, AdapterManifest, AuthType, Call, CallLogCreated, CallLogDetails, CallLogUpdated,
    Contact, ContactRef, CreateCallLogRequest, CreateContactRequest, CreateMessageLogRequest,
    Credential, Direction, FindContactRequest, GetCallLogRequest, LoginRequest, Message,
    MessageLogCreated, OauthConfig, Party, RateLimit, UpdateCallLogRequest,
    UpdateMessageLogRequest, UpsertCallDispositionRequest, UpstreamError, UserContext, UserInfo,
};

/// A CRM adapter. Implement [`Adapter::manifest`] and the operations your CRM
/// supports; the others answer [`AdapterError::Unsupported`].
///
/// Every method is an associated function: the host makes a fresh instance
/// for each call, so there is no `self` to keep state in. Use [`kv`].
pub trait Adapter {
    /// Describe the adapter. Called once at load; must not use the network or `kv`.
    fn manifest() -> AdapterManifest;

    /// Check a credential and say whose it is.
    fn get_user_info(request: LoginRequest) -> Result<UserInfo, AdapterError> {
        let _ = request;
        Err(unsupported("get-user-info"))
    }

    /// Find the contacts that have a phone number.
    fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>, AdapterError> {
        let _ = request;
        Err(unsupported("find-contact"))
    }

    /// Create a contact.
    fn create_contact(request: CreateContactRequest) -> Result<Contact, AdapterError> {
        let _ = request;
        Err(unsupported("create-contact"))
    }

    /// Create the CRM record for a call.
    fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated, AdapterError> {
        let _ = request;
        Err(unsupported("create-call-log"))
    }

    /// Read a call log back.
    fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails, AdapterError> {
        let _ = request;
        Err(unsupported("get-call-log"))
    }

    /// Update a call log.
    fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated, AdapterError> {
        let _ = request;
        Err(unsupported("update-call-log"))
    }

    /// Set a call log's dispositions.
    fn upsert_call_disposition(request: UpsertCallDispositionRequest) -> Result<(), AdapterError> {
        let _ = request;
        Err(unsupported("upsert-call-disposition"))
    }

    /// Create a message log.
    fn create_message_log(
        request: CreateMessageLogRequest,
    ) -> Result<MessageLogCreated, AdapterError> {
        let _ = request;
        Err(unsupported("create-message-log"))
    }

    /// Add a message to a message log.
    fn update_message_log(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
        let _ = request;
        Err(unsupported("update-message-log"))
    }
}

fn unsupported(operation: &str) -> AdapterError {
    AdapterError::Unsupported(format!("this adapter does not implement {operation}"))
}

/// Export a type that implements [`Adapter`] as this component's adapter.
///
/// Use it once, at the crate root of a `cdylib` crate.
#[macro_export]
macro_rules! export {
    ($adapter:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            type SwitchboardAdapterExport = $crate::__private::Exported<$adapter>;
            $crate::bindings::__export_adapter_world!(
                SwitchboardAdapterExport with_types_in $crate::bindings
            );
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use crate::bindings::exports::switchboard::adapter::adapter::Guest;
    use std::marker::PhantomData;

    /// Bridges an [`Adapter`] to the generated export trait.
    #[allow(missing_debug_implementations)]
    pub struct Exported<T>(PhantomData<T>);

    impl<T: Adapter> Guest for Exported<T> {
        fn manifest() -> AdapterManifest {
            T::manifest()
        }
        fn get_user_info(request: LoginRequest) -> Result<UserInfo, AdapterError> {
            T::get_user_info(request)
        }
        fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>, AdapterError> {
            T::find_contact(request)
        }
        fn create_contact(request: CreateContactRequest) -> Result<Contact, AdapterError> {
            T::create_contact(request)
        }
        fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated, AdapterError> {
            T::create_call_log(request)
        }
        fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails, AdapterError> {
            T::get_call_log(request)
        }
        fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated, AdapterError> {
            T::update_call_log(request)
        }
        fn upsert_call_disposition(
            request: UpsertCallDispositionRequest,
        ) -> Result<(), AdapterError> {
            T::upsert_call_disposition(request)
        }
        fn create_message_log(
            request: CreateMessageLogRequest,
        ) -> Result<MessageLogCreated, AdapterError> {
            T::create_message_log(request)
        }
        fn update_message_log(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
            T::update_message_log(request)
        }
    }
}
