//! Call logs: reserve-then-create, lookup by session, update.
//!
//! A create first inserts a `pending` row under the unique key (platform,
//! user, session), then calls the adapter, then records the CRM's id in
//! the same transaction as the adapter's `kv` writes, or deletes the
//! reservation if the call failed. Concurrent creates of one
//! session therefore make exactly one adapter call; the others answer
//! `LOG_IN_PROGRESS` while it runs and "existing log" after. The sequence
//! runs in its own task (in the request's span, so what the adapter logs
//! carries the request id), so a client that disconnects mid-create cannot
//! strand a reservation.
//!
//! Where the store gives reservations a lease (PostgreSQL), the create
//! renews it while the adapter call runs, a third of the lease at a time;
//! a replica that dies stops renewing, and after the lease any replica may
//! create the session.

use super::lease::holding_lease;
use super::model::{Call, CallLogDetails, ContactRef, expose};
use super::{Service, ServiceError};
use crate::runtime::{
    self, CreateCallLogRequest, GetCallLogRequest, UpdateCallLogRequest,
    UpsertCallDispositionRequest,
};
use crate::store::{CallLogKey, CallLogState, Reservation, User};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use std::collections::HashMap;
use tracing::Instrument;

/// A call to log.
#[derive(Debug, Clone)]
pub struct NewCallLog {
    /// The call.
    pub call: Call,
    /// The contact to attach the log to; `None` when the client found none.
    pub contact: Option<ContactRef>,
    /// The agent's note.
    pub note: Option<String>,
    /// RingCentral AI's summary of the call.
    pub ai_note: Option<String>,
    /// The call's transcript.
    pub transcript: Option<String>,
    /// What else the client submitted for the CRM (JSON).
    pub additional_submission: Option<String>,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The CRM record was created.
    Logged {
        /// The CRM's id of it.
        log_id: String,
    },
    /// The session was logged already.
    Existing {
        /// The session.
        session_id: String,
    },
    /// Another create of the session holds a live reservation; its adapter
    /// call is in flight.
    InProgress {
        /// The session.
        session_id: String,
    },
    /// No contact was given; nothing was created.
    ContactNotFound {
        /// The number no contact matched.
        number: String,
    },
}

/// One session of a lookup, in request order.
#[derive(Debug, Clone)]
pub struct LogLookup {
    /// The session asked about.
    pub session_id: String,
    /// The CRM's id, when the session is logged.
    pub log_id: Option<String>,
    /// The log as the CRM holds it, when details were asked for.
    pub details: Option<CallLogDetails>,
}

/// Changes to a logged call. Absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CallLogUpdate {
    /// The session whose log changes.
    pub session_id: String,
    /// A new subject.
    pub subject: Option<String>,
    /// A new agent note.
    pub note: Option<String>,
    /// A recording link that arrived after the call.
    pub recording_link: Option<String>,
    /// A link that downloads the recording (may carry a RingCentral token).
    pub recording_download_link: Option<SecretString>,
    /// RingCentral AI's summary of the call.
    pub ai_note: Option<String>,
    /// The call's transcript.
    pub transcript: Option<String>,
    /// A corrected start, in milliseconds since the Unix epoch.
    pub start_time: Option<i64>,
    /// A corrected duration.
    pub duration_seconds: Option<u32>,
    /// A corrected result.
    pub result: Option<String>,
    /// What else the client submitted for the CRM (JSON).
    pub additional_submission: Option<String>,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The CRM record was changed.
    Updated {
        /// The CRM's id of it.
        log_id: String,
        /// The note as the CRM holds it now.
        updated_note: String,
    },
    /// This user has no logged call for the session.
    NotFound {
        /// The session.
        session_id: String,
    },
}

impl Service {
    /// Log a call, at most once per session.
    pub async fn create_call_log(
        &self,
        user: &User,
        log: NewCallLog,
    ) -> Result<CreateOutcome, ServiceError> {
        let Some(contact) = log.contact else {
            let number = log.call.contact_number().unwrap_or_default().to_owned();
            return Ok(CreateOutcome::ContactNotFound { number });
        };
        // Fail fast, before reserving, when no adapter serves the platform.
        self.adapter(&user.platform)?;
        let key = CallLogKey {
            platform: user.platform.clone(),
            user_id: user.id.clone(),
            session_id: log.call.session_id.clone(),
        };
        let (service, user) = (self.clone(), user.clone());
        let call: runtime::Call = log.call.into();
        let contact: runtime::ContactRef = contact.into();
        let create = async move {
            let reservation = service
                .store
                .reserve_call_log(
                    &key,
                    call.telephony_session_id.as_deref(),
                    Some(&contact.id),
                )
                .await?;
            if let Reservation::Exists(row) = reservation {
                let session_id = key.session_id;
                return Ok(match row.state {
                    CallLogState::Pending => CreateOutcome::InProgress { session_id },
                    CallLogState::Logged { .. } => CreateOutcome::Existing { session_id },
                });
            }
            let creating = service.call_as(&user, |adapter, context| {
                let request = CreateCallLogRequest {
                    user: context,
                    call: call.clone(),
                    contact: contact.clone(),
                    note: log.note.clone(),
                    ai_note: log.ai_note.clone(),
                    transcript: log.transcript.clone(),
                    additional_submission: log.additional_submission.clone(),
                };
                async move { adapter.adapter.create_call_log(request).await }
            });
            let store = service.store.as_ref();
            let renew = || store.renew_call_log(&key);
            let created = holding_lease(store, &key.session_id, renew, creating).await;
            match created {
                Ok((created, writes)) => {
                    service
                        .store
                        .complete_call_log(&key, &created.log_id, &writes)
                        .await?;
                    let (platform, user_id) = (&key.platform, &key.user_id);
                    service
                        .logged
                        .insert(platform, user_id, &key.session_id, &created.log_id);
                    Ok(CreateOutcome::Logged {
                        log_id: created.log_id,
                    })
                }
                Err(error) => {
                    service.store.release_call_log(&key).await?;
                    Err(error)
                }
            }
        };
        tokio::spawn(create.in_current_span())
            .await
            .map_err(|e| ServiceError::Internal(format!("create task failed: {e}")))?
    }

    /// Look up sessions, in the order given. With `details`, read each logged
    /// one back from the CRM, a bounded number at a time.
    pub async fn find_call_logs(
        &self,
        user: &User,
        session_ids: &[String],
        details: bool,
    ) -> Result<Vec<LogLookup>, ServiceError> {
        let mut logged = self.logged_ids(user, session_ids).await?;
        let lookups: Vec<LogLookup> = session_ids
            .iter()
            .map(|id| LogLookup {
                session_id: id.clone(),
                log_id: logged.remove(id),
                details: None,
            })
            .collect();
        if !details || lookups.iter().all(|l| l.log_id.is_none()) {
            return Ok(lookups);
        }
        futures::stream::iter(lookups)
            .map(|mut lookup| async move {
                if let Some(log_id) = lookup.log_id.clone() {
                    let details = self
                        .call_as(user, |adapter, context| {
                            let request = GetCallLogRequest {
                                user: context,
                                log_id: log_id.clone(),
                            };
                            async move { adapter.adapter.get_call_log(request).await }
                        })
                        .await?;
                    lookup.details = Some(details.into());
                }
                Ok::<_, ServiceError>(lookup)
            })
            .buffered(self.details_concurrency)
            .try_collect()
            .await
    }

    /// The CRM ids of those of `session_ids` this user has logged: from
    /// memory when remembered, else from the store (and remembered).
    async fn logged_ids(
        &self,
        user: &User,
        session_ids: &[String],
    ) -> Result<HashMap<String, String>, ServiceError> {
        let mut logged = HashMap::with_capacity(session_ids.len());
        let mut unknown = Vec::new();
        for id in session_ids {
            match self.logged.get(&user.platform, &user.id, id) {
                Some(log_id) => {
                    logged.insert(id.clone(), log_id);
                }
                None => unknown.push(id.clone()),
            }
        }
        if unknown.is_empty() {
            return Ok(logged);
        }
        let rows = self
            .store
            .call_logs(&user.platform, &user.id, &unknown)
            .await?;
        for row in rows {
            if let Some(log_id) = row.log_id() {
                self.logged
                    .insert(&user.platform, &user.id, &row.session_id, log_id);
                logged.insert(row.session_id.clone(), log_id.to_owned());
            }
        }
        Ok(logged)
    }

    /// The CRM id this user's session was logged under, if it was.
    async fn logged_id(
        &self,
        user: &User,
        session_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        let mut logged = self.logged_ids(user, &[session_id.to_owned()]).await?;
        Ok(logged.remove(session_id))
    }

    /// Update a logged call.
    pub async fn update_call_log(
        &self,
        user: &User,
        update: CallLogUpdate,
    ) -> Result<UpdateOutcome, ServiceError> {
        let Some(log_id) = self.logged_id(user, &update.session_id).await? else {
            return Ok(UpdateOutcome::NotFound {
                session_id: update.session_id,
            });
        };
        let updated = self
            .call_as(user, |adapter, context| {
                let request = UpdateCallLogRequest {
                    user: context,
                    log_id: log_id.clone(),
                    subject: update.subject.clone(),
                    note: update.note.clone(),
                    recording_link: update.recording_link.clone(),
                    recording_download_link: expose(update.recording_download_link.clone()),
                    ai_note: update.ai_note.clone(),
                    transcript: update.transcript.clone(),
                    start_time: update.start_time,
                    duration_seconds: update.duration_seconds,
                    result: update.result.clone(),
                    additional_submission: update.additional_submission.clone(),
                };
                async move { adapter.adapter.update_call_log(request).await }
            })
            .await?;
        Ok(UpdateOutcome::Updated {
            log_id,
            updated_note: updated.updated_note,
        })
    }

    /// Set the dispositions (deal, lead, …) of a logged call. `dispositions`
    /// is a JSON object, passed to the adapter as it came. Returns the CRM id
    /// of the log, or `None` when this user has not logged the session.
    pub async fn upsert_call_disposition(
        &self,
        user: &User,
        session_id: &str,
        dispositions: String,
    ) -> Result<Option<String>, ServiceError> {
        let Some(log_id) = self.logged_id(user, session_id).await? else {
            return Ok(None);
        };
        self.call_as(user, |adapter, context| {
            let request = UpsertCallDispositionRequest {
                user: context,
                log_id: log_id.clone(),
                dispositions: dispositions.clone(),
            };
            async move { adapter.adapter.upsert_call_disposition(request).await }
        })
        .await?;
        Ok(Some(log_id))
    }
}
