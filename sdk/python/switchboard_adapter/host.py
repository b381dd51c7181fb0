"""The host's imports: ``kv`` (the adapter's durable storage), ``config``
(the operator's settings) and ``log``."""

import json
from typing import Any, Callable, Optional, TypeVar

from componentize_py_types import Err
from wit_world.imports import config as _config
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log

from .errors import internal

T = TypeVar("T")


def _storage(what: str, run: Callable[[], T]) -> T:
    try:
        return run()
    except Err as e:
        raise internal(f"key-value storage: {what}: {e.value}") from None


class _Kv:
    """The adapter's key-value storage. A call's writes are committed when
    the call succeeds, together with what the host records for it."""

    def get(self, key: str) -> Optional[bytes]:
        """The bytes at ``key``, or ``None``."""
        return _storage(f"get {key}", lambda: _kv.get(key))

    def get_text(self, key: str) -> Optional[str]:
        """The UTF-8 text at ``key``, or ``None``."""
        value = self.get(key)
        return None if value is None else value.decode()

    def get_json(self, key: str) -> Any:
        """The JSON value at ``key``, or ``None``."""
        text = self.get_text(key)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise internal(f"key-value storage: value at {key} is not JSON: {e}") from None

    def set(self, key: str, value: "bytes | str") -> None:
        """Store bytes or text at ``key``."""
        data = value.encode() if isinstance(value, str) else value
        _storage(f"set {key}", lambda: _kv.set(key, data))

    def set_json(self, key: str, value: Any) -> None:
        """Store ``value`` as compact JSON at ``key``."""
        self.set(key, json.dumps(value, separators=(",", ":")))

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        _storage(f"delete {key}", lambda: _kv.delete(key))

    def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to the counter at ``key``; the new value."""
        return _storage(f"increment {key}", lambda: _kv.increment(key, delta))


class _Config:
    """The operator's settings for this adapter (``[config]`` in its ``.toml``)."""

    def get(self, key: str) -> Optional[str]:
        """The setting ``key``, or ``None``."""
        return _config.get(key)


class _Log:
    """Log lines, tagged by the host with the adapter and the request. Never
    log credentials."""

    def trace(self, message: str) -> None:
        _log.log(_log.Level.TRACE, message)

    def debug(self, message: str) -> None:
        _log.log(_log.Level.DEBUG, message)

    def info(self, message: str) -> None:
        _log.log(_log.Level.INFO, message)

    def warn(self, message: str) -> None:
        _log.log(_log.Level.WARN, message)

    def error(self, message: str) -> None:
        _log.log(_log.Level.ERROR, message)


kv = _Kv()
config = _Config()
log = _Log()
