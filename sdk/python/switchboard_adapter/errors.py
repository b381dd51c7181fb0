"""Errors an adapter raises: each is one case of the WIT ``adapter-error``
variant, and the host maps it to the App Connect answer (``NOT_FOUND``,
``RATE_LIMITED``, …). ``raise not_found("no contact 7")``."""

from typing import Optional

from componentize_py_types import Err
from wit_world.imports import crm_types as t


def unsupported(message: str) -> Err:
    """The adapter does not implement this operation."""
    return Err(t.AdapterError_Unsupported(message))


def unauthorized(message: str) -> Err:
    """The CRM rejected the credential (HTTP 401 or equivalent)."""
    return Err(t.AdapterError_Unauthorized(message))


def not_found(message: str) -> Err:
    """The record asked for does not exist in the CRM."""
    return Err(t.AdapterError_NotFound(message))


def invalid_input(message: str) -> Err:
    """The request cannot be served as given."""
    return Err(t.AdapterError_InvalidInput(message))


def rate_limited(retry_after_seconds: Optional[int], message: str) -> Err:
    """The CRM is rate limiting this user; ``retry_after_seconds`` when it said."""
    return Err(t.AdapterError_RateLimited(t.RateLimit(retry_after_seconds, message)))


def upstream(status: int, message: str) -> Err:
    """The CRM answered with an error status."""
    return Err(t.AdapterError_Upstream(t.UpstreamError(status, message)))


def internal(message: str) -> Err:
    """Anything else went wrong inside the adapter."""
    return Err(t.AdapterError_Internal(message))
