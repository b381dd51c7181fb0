"""{{platform}}: a Switchboard adapter. componentize-py serves the class
named ``Adapter`` in this module."""

from switchboard_adapter import Adapter as Base
from switchboard_adapter import Manifest
from switchboard_adapter import types as t

from login import sign_in


class Adapter(Base):
    MANIFEST = Manifest(
        platform="{{platform}}",
        display_name="{{platform}}",
        version="0.1.0",
        # The hosts the adapter may reach, e.g. "api.example.com".
        allowed_hosts=[],
    )

    def get_user_info(self, request: t.LoginRequest) -> t.UserInfo:
        return sign_in(request.credential)
