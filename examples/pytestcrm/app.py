"""pyTestCRM: the Rust testCRM (``plugins/testcrm``) in Python. It keeps
every record in the host's kv with the same keys and the same JSON, so the
e2e suite checks all three languages against one another.

- Login takes any non-empty API key; the user id is a hash of the key.
- A call log is ``calllog/<log id>``; ``session/<user>/<session>`` holds a
  session's log id, written first, so a retried create makes no second
  record.
- Contacts are each user's list under ``contacts/<user id>``; message logs
  one record per conversation-day under ``messagelog/<log id>``.
"""

from typing import Any, Dict, List, Optional

import contacts
import messages
from switchboard_adapter import Adapter as Base
from switchboard_adapter import (
    Manifest,
    call_subject,
    compose_note,
    invalid_input,
    kv,
    not_found,
    unauthorized,
)
from switchboard_adapter import types as t

PLATFORM = "pyTestCRM"
LOG_ID_COUNTER = "next-log-id"

Record = Dict[str, Any]


def record_key(log_id: str) -> str:
    return f"calllog/{log_id}"


def session_key(user_id: str, session_id: str) -> str:
    return f"session/{user_id}/{session_id}"


def non_empty(text: Optional[str]) -> Optional[str]:
    return text if text else None


def user_id_for_key(key: str) -> str:
    """A stable user id for an API key (FNV-1a, 64 bits), as testCRM's."""
    h = 0xCBF29CE484222325
    for byte in key.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"test-{h:016x}"


def compose(record: Record) -> None:
    record["note"] = compose_note(
        agent_note=record["agentNote"],
        result=record["result"],
        duration_seconds=record["durationSeconds"],
        recording_link=record["recordingLink"],
        ai_note=record["aiNote"],
        transcript=record["transcript"],
    )


def load(user: t.UserContext, log_id: str) -> Record:
    """A call log that belongs to ``user``; another user's is "not found"."""
    record = kv.get_json(record_key(log_id))
    if record is None or record["userId"] != user.user_id:
        raise not_found(f"no call log {log_id}")
    return record


class Adapter(Base):
    MANIFEST = Manifest(platform=PLATFORM, display_name="Test CRM (Python)", version="1.0.0")

    def get_user_info(self, request: t.LoginRequest) -> t.UserInfo:
        if not isinstance(request.credential, t.Credential_ApiKey):
            raise invalid_input(f"{PLATFORM} signs in with an API key")
        if not request.credential.value.strip():
            raise unauthorized("API key is empty")
        return t.UserInfo(user_id_for_key(request.credential.value), "Test User", None, None)

    def find_contact(self, request: t.FindContactRequest) -> List[t.Contact]:
        return contacts.find(request)

    def find_contact_by_name(self, request: t.FindContactByNameRequest) -> List[t.Contact]:
        return contacts.find_by_name(request)

    def create_contact(self, request: t.CreateContactRequest) -> t.Contact:
        return contacts.create(request)

    def create_call_log(self, request: t.CreateCallLogRequest) -> t.CallLogCreated:
        user, call, contact = request.user, request.call, request.contact
        index = session_key(user.user_id, call.session_id)
        log_id = kv.get_text(index)
        if log_id is not None and kv.get(record_key(log_id)) is not None:
            return t.CallLogCreated(log_id)
        if log_id is None:
            log_id = str(kv.increment(LOG_ID_COUNTER))
            kv.set(index, log_id)
        record: Record = {
            "logId": log_id,
            "userId": user.user_id,
            "sessionId": call.session_id,
            "subject": call_subject(call, contact.name or ""),
            "agentNote": non_empty(request.note),
            "note": "",
            "contact": {
                "id": contact.id,
                "name": contact.name,
                "contactType": contact.contact_type,
            },
            "direction": "Inbound" if call.direction == t.Direction.INBOUND else "Outbound",
            "startTime": call.start_time,
            "durationSeconds": call.duration_seconds,
            "result": call.result,
            "recordingLink": call.recording_link,
            "aiNote": non_empty(request.ai_note),
            "transcript": non_empty(request.transcript),
            "additionalSubmission": request.additional_submission,
            "dispositions": None,
        }
        compose(record)
        kv.set_json(record_key(log_id), record)
        return t.CallLogCreated(log_id)

    def get_call_log(self, request: t.GetCallLogRequest) -> t.CallLogDetails:
        record = load(request.user, request.log_id)
        return t.CallLogDetails(
            record["subject"],
            record["agentNote"] or "",
            record["note"],
            record["contact"]["name"],
            record["dispositions"],
        )

    def update_call_log(self, request: t.UpdateCallLogRequest) -> t.CallLogUpdated:
        record = load(request.user, request.log_id)
        if request.subject is not None:
            record["subject"] = request.subject
        for field, value in [
            ("agentNote", request.note),
            ("recordingLink", request.recording_link),
            ("aiNote", request.ai_note),
            ("transcript", request.transcript),
        ]:
            if value is not None:
                record[field] = non_empty(value)
        if request.start_time is not None:
            record["startTime"] = request.start_time
        if request.duration_seconds is not None:
            record["durationSeconds"] = request.duration_seconds
        if request.result is not None:
            record["result"] = request.result
        if request.additional_submission is not None:
            record["additionalSubmission"] = request.additional_submission
        compose(record)
        kv.set_json(record_key(record["logId"]), record)
        return t.CallLogUpdated(record["note"])

    def create_message_log(self, request: t.CreateMessageLogRequest) -> t.MessageLogCreated:
        return messages.create(request)

    def update_message_log(self, request: t.UpdateMessageLogRequest) -> None:
        messages.update(request)

    def upsert_call_disposition(self, request: t.UpsertCallDispositionRequest) -> None:
        record = load(request.user, request.log_id)
        record["dispositions"] = request.dispositions
        kv.set_json(record_key(record["logId"]), record)
