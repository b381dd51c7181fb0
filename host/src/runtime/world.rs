//! The contract versions the host serves, side by side. A component exports
//! `switchboard:adapter/adapter@<version>`; the host picks the bindings of
//! that version when it loads the component and calls it through them.
//!
//! The rest of the host speaks only the current version's types. A call to
//! an older component converts its request down and its answer up (see
//! `compat`), and the operations its version lacks answer `UNSUPPORTED`
//! without running it.

use super::LoadError;
use super::bindings::{self, Operation, v0_1};
use super::host::HostState;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

/// Every contract version this host serves, newest first.
pub const SERVED_WIT_VERSIONS: &[&str] = &[crate::WIT_VERSION, "0.1.0"];

/// Which version of the contract a loaded component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitVersion {
    /// The current version, [`crate::WIT_VERSION`].
    Current,
    /// 0.1.0: no `find-contact-by-name`, no declared operations, no call
    /// legs, AI notes or transcripts, no message types or attachments.
    V0_1,
}

impl WitVersion {
    /// The version as written in the WIT package, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => crate::WIT_VERSION,
            Self::V0_1 => "0.1.0",
        }
    }

    /// The operations a component of this version can implement.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Self::Current => &[
                GetUserInfo,
                FindContact,
                FindContactByName,
                CreateContact,
                CreateCallLog,
                GetCallLog,
                UpdateCallLog,
                UpsertCallDisposition,
                CreateMessageLog,
                UpdateMessageLog,
            ],
            Self::V0_1 => &[
                GetUserInfo,
                FindContact,
                CreateContact,
                CreateCallLog,
                GetCallLog,
                UpdateCallLog,
                UpsertCallDisposition,
                CreateMessageLog,
                UpdateMessageLog,
            ],
        }
    }
}

/// A component linked and type-checked against the world of its version.
#[derive(Clone)]
pub(super) enum WorldPre {
    Current(bindings::AdapterWorldPre<HostState>),
    V0_1(v0_1::AdapterWorldPre<HostState>),
}

/// One instance of a component, in its version's bindings.
pub(super) enum WorldInstance {
    Current(bindings::AdapterWorld),
    V0_1(v0_1::AdapterWorld),
}

impl WorldInstance {
    /// The instance's `adapter` exports.
    pub(super) fn exports(&self) -> Exports<'_> {
        match self {
            Self::Current(instance) => Exports::Current(instance.switchboard_adapter_adapter()),
            Self::V0_1(instance) => Exports::V0_1(instance.switchboard_adapter0_1_0_adapter()),
        }
    }
}

/// The `adapter` exports of one instance, in the component's version.
#[derive(Clone, Copy)]
pub(super) enum Exports<'a> {
    Current(&'a bindings::Guest),
    V0_1(&'a v0_1::Guest),
}

impl WorldPre {
    /// Link `component`, choosing the world by the `adapter` interface it
    /// exports.
    pub(super) fn new(
        engine: &Engine,
        linker: &Linker<HostState>,
        component: &Component,
    ) -> Result<(Self, WitVersion), LoadError> {
        let version = exported_version(engine, component)?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(LoadError::World)?;
        let world = match version {
            WitVersion::Current => bindings::AdapterWorldPre::new(pre).map(Self::Current),
            WitVersion::V0_1 => v0_1::AdapterWorldPre::new(pre).map(Self::V0_1),
        };
        Ok((world.map_err(LoadError::World)?, version))
    }

    /// Make an instance in `store`.
    pub(super) async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<WorldInstance> {
        Ok(match self {
            Self::Current(pre) => WorldInstance::Current(pre.instantiate_async(store).await?),
            Self::V0_1(pre) => WorldInstance::V0_1(pre.instantiate_async(store).await?),
        })
    }

    pub(super) fn engine(&self) -> &Engine {
        match self {
            Self::Current(pre) => pre.engine(),
            Self::V0_1(pre) => pre.engine(),
        }
    }
}

/// The version of `switchboard:adapter/adapter` the component exports.
fn exported_version(engine: &Engine, component: &Component) -> Result<WitVersion, LoadError> {
    const PREFIX: &str = "switchboard:adapter/adapter@";
    let ty = component.component_type();
    let exported: Vec<&str> = ty
        .exports(engine)
        .filter_map(|(name, _)| name.strip_prefix(PREFIX))
        .collect();
    match exported.as_slice() {
        [version] if *version == crate::WIT_VERSION => Ok(WitVersion::Current),
        [version] if *version == WitVersion::V0_1.as_str() => Ok(WitVersion::V0_1),
        [version] => Err(LoadError::WitVersion(format!(
            "it exports {PREFIX}{version}; this host serves {}",
            SERVED_WIT_VERSIONS.join(", ")
        ))),
        _ => Err(LoadError::WitVersion(format!(
            "it exports no {PREFIX}<version> interface; this host serves {}",
            SERVED_WIT_VERSIONS.join(", ")
        ))),
    }
}
