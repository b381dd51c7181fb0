"""The subject and note-body helpers App Connect's testCRM uses, so every
adapter words them the same way."""

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
