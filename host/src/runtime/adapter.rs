//! A loaded adapter version and its typed operations, one per export of the
//! `adapter` interface. Each operation runs in a fresh instance (see
//! `sandbox`).

use super::CallError;
use super::bindings::{
    AdapterManifest, CallLogCreated, CallLogDetails, CallLogUpdated, Contact, CreateCallLogRequest,
    CreateContactRequest, FindContactRequest, GetCallLogRequest, LoginRequest,
    UpdateCallLogRequest, UpsertCallDispositionRequest, UserInfo,
};
use super::sandbox::{CallStats, Sandbox};
use crate::kv::KvWrites;

/// One loaded adapter version, ready to serve. Share it behind an `Arc`;
/// every call makes its own instance.
pub struct Adapter {
    pub(super) sandbox: Sandbox,
    pub(super) manifest: AdapterManifest,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sandbox holds wasmtime handles, which have no `Debug`.
        f.debug_struct("Adapter")
            .field("manifest", &self.manifest)
            .finish_non_exhaustive()
    }
}

/// The typed operations: `method(request) -> answer`, calling the export
/// `call_method` under its WIT name.
macro_rules! operations {
    ($($(#[$doc:meta])* $method:ident / $export:ident ($request:ty) -> $answer:ty = $wit:literal;)*) => {
        impl Adapter {
            $(
                $(#[$doc])*
                pub async fn $method(&self, request: $request) -> Result<$answer, CallError> {
                    let (answer, writes) = self
                        .sandbox
                        .call($wit, async |guest, store| guest.$export(store, &request).await)
                        .await?;
                    self.sandbox.commit(writes).await?;
                    Ok(answer)
                }
            )*
        }
    };
}

operations! {
    /// Check a credential and say whose it is.
    get_user_info / call_get_user_info (LoginRequest) -> UserInfo = "get-user-info";
    /// Read a call log back.
    get_call_log / call_get_call_log (GetCallLogRequest) -> CallLogDetails = "get-call-log";
    /// Change a call log.
    update_call_log / call_update_call_log (UpdateCallLogRequest) -> CallLogUpdated = "update-call-log";
    /// Set a call log's dispositions.
    upsert_call_disposition / call_upsert_call_disposition (UpsertCallDispositionRequest) -> () = "upsert-call-disposition";
    /// Find the contacts that have a phone number.
    find_contact / call_find_contact (FindContactRequest) -> Vec<Contact> = "find-contact";
    /// Create a contact.
    create_contact / call_create_contact (CreateContactRequest) -> Contact = "create-contact";
}

impl Adapter {
    /// Create the CRM record for a call. The call's `kv` writes come back
    /// uncommitted, for the caller to commit together with the call log it
    /// records; if the call fails they are committed here.
    pub async fn create_call_log(
        &self,
        request: CreateCallLogRequest,
    ) -> Result<(CallLogCreated, KvWrites), CallError> {
        self.sandbox
            .call("create-call-log", async |guest, store| {
                guest.call_create_call_log(store, &request).await
            })
            .await
    }

    /// The manifest read at load.
    pub fn manifest(&self) -> &AdapterManifest {
        &self.manifest
    }

    /// Calls and failures since load.
    pub fn stats(&self) -> &CallStats {
        &self.sandbox.stats
    }

    /// Make an instance and call nothing: the fixed cost every call pays
    /// before the adapter runs (the dispatch benchmark measures it).
    pub async fn instantiate(&self) -> Result<(), CallError> {
        self.sandbox
            .call("instantiate", async |_guest, _store| Ok(Ok(())))
            .await
            .map(|((), _writes)| ())
    }
}
