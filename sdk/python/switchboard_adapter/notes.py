"""The subject and note-body helpers App Connect's testCRM uses, so every
adapter words them the same way."""

from datetime import datetime, timezone
from typing import Optional

from wit_world.imports import crm_types as t


def default_subject(call: t.Call, contact_name: str) -> str:
    """``Inbound call from Ann`` / ``Outbound call to Ann``."""
    if call.direction == t.Direction.INBOUND:
        return f"Inbound call from {contact_name}"
    return f"Outbound call to {contact_name}"


def call_subject(call: t.Call, contact_name: str) -> str:
    """The subject to log: the user's custom subject, or the default one."""
    if call.custom_subject is not None:
        return call.custom_subject
    return default_subject(call, contact_name)


def format_duration(seconds: int) -> str:
    """``65`` → ``1 minute, 5 seconds``; ``0`` → ``0 seconds``."""

    def unit(n: int, one: str, many: str) -> Optional[str]:
        if n == 0:
            return None
        return f"1 {one}" if n == 1 else f"{n} {many}"

    parts = [
        unit(seconds // 3600, "hour", "hours"),
        unit(seconds % 3600 // 60, "minute", "minutes"),
        unit(seconds % 60, "second", "seconds"),
    ]
    words = [p for p in parts if p is not None]
    return ", ".join(words) if words else "0 seconds"


def compose_note(
    *,
    result: str,
    duration_seconds: int,
    agent_note: Optional[str] = None,
    recording_link: Optional[str] = None,
    ai_note: Optional[str] = None,
    transcript: Optional[str] = None,
) -> str:
    """The note body, one ``- Label: value`` line per part, App Connect style."""
    body = ""
    if agent_note is not None:
        body += f"- Agent note: {agent_note}\n"
    body += f"- Result: {result}\n"
    body += f"- Duration: {format_duration(duration_seconds)}\n"
    if recording_link is not None:
        body += f"- Call recording link: {recording_link}\n"
    if ai_note is not None:
        body += f"- AI note: {ai_note}\n"
    if transcript is not None:
        body += f"- Transcript: {transcript}\n"
    return body


def message_kind(message: t.Message) -> str:
    """What kind of message this is, in words: ``SMS``, ``Fax``, ``Voicemail``, …"""
    return {
        t.MessageType.SMS: "SMS",
        t.MessageType.FAX: "Fax",
        t.MessageType.VOICEMAIL: "Voicemail",
        t.MessageType.PAGER: "Pager",
        t.MessageType.TEXT: "Text",
    }[message.type]


def attachment_kind_name(kind: t.AttachmentKind) -> str:
    """RingCentral's name of an attachment kind: ``AudioRecording``, …"""
    return "".join(word.capitalize() for word in kind.name.split("_"))


def _utc(epoch_millis: int) -> datetime:
    return datetime.fromtimestamp(epoch_millis / 1000, tz=timezone.utc)


def conversation_subject(message: t.Message, contact_name: str) -> str:
    """App Connect's subject for a conversation-day's record: ``SMS
    conversation with Ann - 2024-02-29``, ``Voicemail from Ann - …``."""
    day = _utc(message.creation_time).strftime("%Y-%m-%d")
    if message.type == t.MessageType.FAX:
        return f"Fax from {contact_name} - {day}"
    if message.type == t.MessageType.VOICEMAIL:
        return f"Voicemail from {contact_name} - {day}"
    return f"SMS conversation with {contact_name} - {day}"


def message_note_line(message: t.Message) -> str:
    """One line of a message-log note: ``<HH:MM> UTC <sender>: <text>``, then
    each attachment's kind and URI. Download links are left out: they carry
    a RingCentral token."""
    sender = message.from_.name
    if sender is None:
        sender = message.from_.phone_number if message.from_.phone_number is not None else "unknown"
    line = f"{_utc(message.creation_time).strftime('%H:%M')} UTC {sender}:"
    if message.subject:
        line += f" {message.subject}"
    for attachment in message.attachments:
        line += f" [{attachment_kind_name(attachment.kind)}: {attachment.uri}]"
    return line
