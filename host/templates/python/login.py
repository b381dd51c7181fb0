"""Who an API key belongs to. Replace with a call to the CRM
(``switchboard_adapter.request``)."""

from switchboard_adapter import invalid_input, unauthorized
from switchboard_adapter import types as t


def sign_in(credential: t.Credential) -> t.UserInfo:
    if not isinstance(credential, t.Credential_ApiKey):
        raise invalid_input("sign in with an API key")
    if not credential.value.strip():
        raise unauthorized("API key is empty")
    return t.UserInfo(f"user-{len(credential.value)}", "Example User", None, None)
