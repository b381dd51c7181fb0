"""pyTestCRM's message logs, as testCRM's: one record per conversation-day
under ``messagelog/<log id>``, holding its messages in order; log ids from
the ``next-log-id`` counter call logs use. A message already in the record
is not added again. Attachments keep their kind and URI; the download link,
which carries a RingCentral token, is never stored."""

from typing import Any, Dict

from switchboard_adapter import (
    attachment_kind_name,
    conversation_subject,
    kv,
    message_kind,
    message_note_line,
    not_found,
)
from switchboard_adapter import types as t


def _key(log_id: str) -> str:
    return f"messagelog/{log_id}"


def _entry(message: t.Message) -> Dict[str, Any]:
    return {
        "id": message.id,
        "kind": message_kind(message),
        "creationTime": message.creation_time,
        "line": message_note_line(message),
        "attachments": [
            f"{attachment_kind_name(a.kind)}: {a.uri}"
            + (" (download link given)" if a.download_link is not None else "")
            for a in message.attachments
        ],
    }


def create(request: t.CreateMessageLogRequest) -> t.MessageLogCreated:
    log_id = str(kv.increment("next-log-id"))
    contact = request.contact
    record = {
        "logId": log_id,
        "userId": request.user.user_id,
        "conversationLogId": request.conversation_log_id,
        "subject": conversation_subject(request.message, contact.name or ""),
        "contact": {"id": contact.id, "name": contact.name, "contactType": contact.contact_type},
        "messages": [_entry(request.message)],
    }
    kv.set_json(_key(log_id), record)
    return t.MessageLogCreated(log_id)


def update(request: t.UpdateMessageLogRequest) -> None:
    record = kv.get_json(_key(request.log_id))
    if record is None or record["userId"] != request.user.user_id:
        raise not_found(f"no message log {request.log_id}")
    if any(m["id"] == request.message.id for m in record["messages"]):
        return
    record["messages"].append(_entry(request.message))
    kv.set_json(_key(request.log_id), record)
