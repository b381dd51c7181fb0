"""pyTestCRM's contacts: each user's list under ``contacts/<user id>``, ids
from the ``next-contact-id`` counter. Found by phone (same digits) and by
name (case-insensitive substring), as testCRM's."""

from typing import Any, Dict, List

from switchboard_adapter import kv
from switchboard_adapter import types as t


def _key(user_id: str) -> str:
    return f"contacts/{user_id}"


def _load(user_id: str) -> List[Dict[str, Any]]:
    return kv.get_json(_key(user_id)) or []


def _digits(number: str) -> str:
    return "".join(c for c in number if "0" <= c <= "9")


def _contact(entry: Dict[str, Any]) -> t.Contact:
    return t.Contact(entry["id"], entry["name"], entry["phone"], None, entry["contactType"], None)


def create(request: t.CreateContactRequest) -> t.Contact:
    entries = _load(request.user.user_id)
    entry = {
        "id": str(kv.increment("next-contact-id")),
        "name": request.name,
        "phone": request.phone_number,
        "contactType": request.contact_type,
    }
    entries.append(entry)
    kv.set_json(_key(request.user.user_id), entries)
    return _contact(entry)


def find(request: t.FindContactRequest) -> List[t.Contact]:
    wanted = _digits(request.phone_number)
    return [_contact(e) for e in _load(request.user.user_id) if wanted and _digits(e["phone"]) == wanted]


def find_by_name(request: t.FindContactByNameRequest) -> List[t.Contact]:
    wanted = request.name.strip().lower()
    return [_contact(e) for e in _load(request.user.user_id) if wanted and wanted in e["name"].lower()]
