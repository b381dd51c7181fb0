//! A loaded adapter version and its typed operations, one per export of the
//! `adapter` interface. Each operation runs in a fresh instance (see
//! `sandbox`), in the contract version the component was built against (see
//! `world`); one the adapter does not implement answers `UNSUPPORTED`
//! without running it.

use super::CallError;
use super::bindings::{
    AdapterError, AdapterManifest, CallLogCreated, CallLogDetails, CallLogUpdated, Contact,
    CreateCallLogRequest, CreateContactRequest, CreateMessageLogRequest, FindContactByNameRequest,
    FindContactRequest, GetCallLogRequest, LoginRequest, MessageLogCreated, Operation,
    UpdateCallLogRequest, UpdateMessageLogRequest, UpsertCallDispositionRequest, UserInfo,
};
use super::compat::call_v0_1;
use super::limits::InstanceNeeds;
use super::reuse::{ForUser, UserKey};
use super::sandbox::{CallStats, Sandbox};
use super::world::{Exports, WitVersion};
use crate::kv::KvWrites;

/// One loaded adapter version, ready to serve. Share it behind an `Arc`;
/// every call makes its own instance.
pub struct Adapter {
    pub(super) sandbox: Sandbox,
    pub(super) manifest: AdapterManifest,
    pub(super) wit_version: WitVersion,
    pub(super) needs: InstanceNeeds,
    /// Keeps its compiled artifact in the cache while this version lives.
    pub(super) _artifact: Option<super::cache::ArtifactPin>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sandbox holds wasmtime handles, which have no `Debug`.
        f.debug_struct("Adapter")
            .field("manifest", &self.manifest)
            .field("wit_version", &self.wit_version)
            .finish_non_exhaustive()
    }
}

/// The typed operations: `method(request) -> answer`, calling the export
/// `call_method` of the operation `Operation::Name`. An operation the
/// adapter's version has not got is listed after `@current_only`.
macro_rules! operations {
    (
        $($(#[$doc:meta])* $method:ident / $export:ident ($request:ty) -> $answer:ty = $operation:ident;)*
        @current_only
        $($(#[$doc2:meta])* $method2:ident / $export2:ident ($request2:ty) -> $answer2:ty = $operation2:ident;)*
    ) => {
        impl Adapter {
            $(
                $(#[$doc])*
                pub async fn $method(&self, request: $request) -> Result<$answer, CallError> {
                    let (answer, writes) = self
                        .call(Operation::$operation, request.user(), async |guest, store| match guest {
                            Exports::Current(guest) => guest.$export(store, &request).await,
                            Exports::V0_1(guest) => {
                                call_v0_1(&request, async |old| guest.$export(&mut *store, old).await).await
                            }
                        })
                        .await?;
                    self.sandbox.commit(writes).await?;
                    Ok(answer)
                }
            )*
            $(
                $(#[$doc2])*
                pub async fn $method2(&self, request: $request2) -> Result<$answer2, CallError> {
                    let (answer, writes) = self
                        .call(Operation::$operation2, request.user(), async |guest, store| match guest {
                            Exports::Current(guest) => guest.$export2(store, &request).await,
                            // Not offered: `implements` never lists it.
                            Exports::V0_1(_) => Ok(Err(unsupported(Operation::$operation2))),
                        })
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
    get_user_info / call_get_user_info (LoginRequest) -> UserInfo = GetUserInfo;
    /// Read a call log back.
    get_call_log / call_get_call_log (GetCallLogRequest) -> CallLogDetails = GetCallLog;
    /// Change a call log.
    update_call_log / call_update_call_log (UpdateCallLogRequest) -> CallLogUpdated = UpdateCallLog;
    /// Set a call log's dispositions.
    upsert_call_disposition / call_upsert_call_disposition (UpsertCallDispositionRequest) -> () = UpsertCallDisposition;
    /// Find the contacts that have a phone number.
    find_contact / call_find_contact (FindContactRequest) -> Vec<Contact> = FindContact;
    /// Create a contact.
    create_contact / call_create_contact (CreateContactRequest) -> Contact = CreateContact;
    @current_only
    /// Find the contacts whose name matches.
    find_contact_by_name / call_find_contact_by_name (FindContactByNameRequest) -> Vec<Contact> = FindContactByName;
}

/// The error for an operation the adapter does not implement.
fn unsupported(operation: Operation) -> AdapterError {
    AdapterError::Unsupported(format!(
        "{} is not implemented by this adapter",
        wit_name(operation)
    ))
}

impl Adapter {
    /// Run one operation, unless the adapter does not implement it.
    async fn call<R: super::output::Output>(
        &self,
        operation: Operation,
        user: Option<UserKey>,
        export: impl AsyncFnOnce(
            Exports<'_>,
            &mut wasmtime::Store<super::host::HostState>,
        ) -> wasmtime::Result<Result<R, AdapterError>>,
    ) -> Result<(R, KvWrites), CallError> {
        if !self.implements(operation) {
            return Err(CallError::Adapter(unsupported(operation)));
        }
        self.sandbox.call(wit_name(operation), user, export).await
    }

    /// Create the CRM record for a call. The call's `kv` writes come back
    /// uncommitted, for the caller to commit together with the call log it
    /// records; if the call fails they are committed here.
    pub async fn create_call_log(
        &self,
        request: CreateCallLogRequest,
    ) -> Result<(CallLogCreated, KvWrites), CallError> {
        self.call(
            Operation::CreateCallLog,
            request.user(),
            async |guest, store| match guest {
                Exports::Current(guest) => guest.call_create_call_log(store, &request).await,
                Exports::V0_1(guest) => {
                    call_v0_1(&request, async |old| {
                        guest.call_create_call_log(&mut *store, old).await
                    })
                    .await
                }
            },
        )
        .await
    }

    /// Start a conversation-day's message log with its first message. The
    /// call's `kv` writes come back uncommitted, for the caller to commit
    /// with the message it records, as with [`Self::create_call_log`].
    pub async fn create_message_log(
        &self,
        request: CreateMessageLogRequest,
    ) -> Result<(MessageLogCreated, KvWrites), CallError> {
        self.call(
            Operation::CreateMessageLog,
            request.user(),
            async |guest, store| match guest {
                Exports::Current(guest) => guest.call_create_message_log(store, &request).await,
                Exports::V0_1(guest) => {
                    call_v0_1(&request, async |old| {
                        guest.call_create_message_log(&mut *store, old).await
                    })
                    .await
                }
            },
        )
        .await
    }

    /// Append a message to a message log; its `kv` writes come back
    /// uncommitted, as with [`Self::create_message_log`].
    pub async fn update_message_log(
        &self,
        request: UpdateMessageLogRequest,
    ) -> Result<KvWrites, CallError> {
        self.call(
            Operation::UpdateMessageLog,
            request.user(),
            async |guest, store| match guest {
                Exports::Current(guest) => guest.call_update_message_log(store, &request).await,
                Exports::V0_1(guest) => {
                    call_v0_1(&request, async |old| {
                        guest.call_update_message_log(&mut *store, old).await
                    })
                    .await
                }
            },
        )
        .await
        .map(|((), writes)| writes)
    }

    /// Whether the adapter implements `operation` (its manifest says so).
    pub fn implements(&self, operation: Operation) -> bool {
        self.manifest.implements.contains(&operation)
    }

    /// The manifest read at load.
    pub fn manifest(&self) -> &AdapterManifest {
        &self.manifest
    }

    /// The contract version the component was built against.
    pub fn wit_version(&self) -> WitVersion {
        self.wit_version
    }

    /// What one instance takes from the instance pool.
    pub fn instance_needs(&self) -> InstanceNeeds {
        self.needs
    }

    /// Calls and failures since load.
    pub fn stats(&self) -> &CallStats {
        &self.sandbox.stats
    }

    /// Instances kept between calls for their user's next one (0 unless the
    /// operator opted in to reuse).
    pub fn kept_instances(&self) -> usize {
        self.sandbox.kept_instances()
    }

    /// Make an instance and call nothing: the fixed cost every call pays
    /// before the adapter runs (the dispatch benchmark measures it).
    pub async fn instantiate(&self) -> Result<(), CallError> {
        self.sandbox
            .call("instantiate", None, async |_guest, _store| Ok(Ok(())))
            .await
            .map(|((), _writes)| ())
    }
}

/// An operation's name in the WIT, as logs and errors give it.
pub fn wit_name(operation: Operation) -> &'static str {
    match operation {
        Operation::GetUserInfo => "get-user-info",
        Operation::FindContact => "find-contact",
        Operation::FindContactByName => "find-contact-by-name",
        Operation::CreateContact => "create-contact",
        Operation::CreateCallLog => "create-call-log",
        Operation::GetCallLog => "get-call-log",
        Operation::UpdateCallLog => "update-call-log",
        Operation::UpsertCallDisposition => "upsert-call-disposition",
        Operation::CreateMessageLog => "create-message-log",
        Operation::UpdateMessageLog => "update-message-log",
    }
}
