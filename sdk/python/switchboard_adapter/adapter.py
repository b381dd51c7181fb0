"""The ``Adapter`` base class: an adapter's operations as typed methods.
Methods a subclass leaves out answer ``unsupported``, and the manifest's
``implements`` lists exactly the ones it defines, so the host never
instantiates the adapter for the others.

A defined method that raises anything but an adapter error (``raise
not_found(...)``) answers ``internal``, and the traceback goes to the
host's log at ``error``, so the operator sees where it came from.
"""

import functools
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, List, Union

from componentize_py_types import Err
from wit_world.imports import crm_types as t

from .errors import internal, unsupported
from .host import log

# Each operation's method name and its WIT enum case, in the WIT's order.
OPERATIONS = [
    ("get_user_info", t.Operation.GET_USER_INFO),
    ("find_contact", t.Operation.FIND_CONTACT),
    ("find_contact_by_name", t.Operation.FIND_CONTACT_BY_NAME),
    ("create_contact", t.Operation.CREATE_CONTACT),
    ("create_call_log", t.Operation.CREATE_CALL_LOG),
    ("get_call_log", t.Operation.GET_CALL_LOG),
    ("update_call_log", t.Operation.UPDATE_CALL_LOG),
    ("upsert_call_disposition", t.Operation.UPSERT_CALL_DISPOSITION),
    ("create_message_log", t.Operation.CREATE_MESSAGE_LOG),
    ("update_message_log", t.Operation.UPDATE_MESSAGE_LOG),
]


@dataclass
class Manifest:
    """The manifest without ``implements``, which the base class works out."""

    platform: str
    display_name: str
    version: str
    auth: Union[t.AuthType_ApiKey, t.AuthType_Oauth] = field(default_factory=t.AuthType_ApiKey)
    allowed_hosts: List[str] = field(default_factory=list)


def _guarded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, request: Any) -> Any:
        try:
            return method(self, request)
        except Err:
            raise
        except Exception as e:
            log.error(f"{name} raised {e!r}\n{traceback.format_exc()}")
            raise internal(f"{name} failed: {e}") from None

    return call


class Adapter:
    """Subclass it as ``Adapter`` in the app module and set ``MANIFEST``."""

    MANIFEST: Manifest

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, _ in OPERATIONS:
            if name in cls.__dict__:
                setattr(cls, name, _guarded(name, cls.__dict__[name]))

    @classmethod
    def implemented(cls) -> List[t.Operation]:
        """The operations this adapter defines."""
        return [op for name, op in OPERATIONS if getattr(cls, name) is not getattr(Adapter, name)]

    def manifest(self) -> t.AdapterManifest:
        m = self.MANIFEST
        return t.AdapterManifest(
            m.platform, m.display_name, m.version, m.auth, list(m.allowed_hosts), self.implemented()
        )

    def _unsupported(self, operation: str) -> Err:
        return unsupported(f"{self.MANIFEST.platform} does not implement {operation}")

    def get_user_info(self, request: t.LoginRequest) -> t.UserInfo:
        raise self._unsupported("get-user-info")

    def find_contact(self, request: t.FindContactRequest) -> List[t.Contact]:
        raise self._unsupported("find-contact")

    def find_contact_by_name(self, request: t.FindContactByNameRequest) -> List[t.Contact]:
        raise self._unsupported("find-contact-by-name")

    def create_contact(self, request: t.CreateContactRequest) -> t.Contact:
        raise self._unsupported("create-contact")

    def create_call_log(self, request: t.CreateCallLogRequest) -> t.CallLogCreated:
        raise self._unsupported("create-call-log")

    def get_call_log(self, request: t.GetCallLogRequest) -> t.CallLogDetails:
        raise self._unsupported("get-call-log")

    def update_call_log(self, request: t.UpdateCallLogRequest) -> t.CallLogUpdated:
        raise self._unsupported("update-call-log")

    def upsert_call_disposition(self, request: t.UpsertCallDispositionRequest) -> None:
        raise self._unsupported("upsert-call-disposition")

    def create_message_log(self, request: t.CreateMessageLogRequest) -> t.MessageLogCreated:
        raise self._unsupported("create-message-log")

    def update_message_log(self, request: t.UpdateMessageLogRequest) -> None:
        raise self._unsupported("update-message-log")
