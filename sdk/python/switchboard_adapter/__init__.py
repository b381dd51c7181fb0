"""Write a Switchboard adapter in Python.

    from switchboard_adapter import Adapter as Base, Manifest, kv, not_found

    class Adapter(Base):
        MANIFEST = Manifest(platform="myCRM", display_name="My CRM", version="1.0.0")

        def get_user_info(self, request): ...

componentize-py looks for the class named ``Adapter`` in the app module.
Operations it does not define answer ``unsupported``, and the manifest's
``implements`` lists exactly the ones it does. Build with
``switchboard-adapter build app -o app.wasm``.

The WIT's records are in :mod:`switchboard_adapter.types`.
"""

from . import types
from .adapter import Adapter, Manifest
from .errors import (
    internal,
    invalid_input,
    not_found,
    rate_limited,
    unauthorized,
    unsupported,
    upstream,
)
from .host import config, kv, log
from .http import HttpError, Response, request
from .notes import (
    attachment_kind_name,
    call_subject,
    compose_note,
    conversation_subject,
    default_subject,
    format_duration,
    message_kind,
    message_note_line,
)

__all__ = [
    "Adapter",
    "HttpError",
    "Manifest",
    "Response",
    "attachment_kind_name",
    "call_subject",
    "compose_note",
    "config",
    "conversation_subject",
    "default_subject",
    "format_duration",
    "internal",
    "invalid_input",
    "kv",
    "log",
    "message_kind",
    "message_note_line",
    "not_found",
    "rate_limited",
    "request",
    "types",
    "unauthorized",
    "unsupported",
    "upstream",
]
