"""HTTP to the CRM over ``wasi:http``, in the shape of ``requests``:

    response = request("GET", "https://api.example.com/v1/persons", headers={...})
    response.raise_for_status()
    people = response.json()

Only hosts the manifest's ``allowed_hosts`` names are reachable; the host
refuses the rest. Requests block until the whole answer is read.
"""

import json as _json
from typing import Any, Dict, Mapping, Optional
from urllib.parse import urlencode, urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler
from wit_world.imports import types as http
from wit_world.imports.streams import StreamError_Closed

# Most bytes moved through a stream in one call.
_CHUNK = 4096

_METHODS = {
    "GET": http.Method_Get,
    "HEAD": http.Method_Head,
    "POST": http.Method_Post,
    "PUT": http.Method_Put,
    "DELETE": http.Method_Delete,
    "PATCH": http.Method_Patch,
    "OPTIONS": http.Method_Options,
}


class HttpError(Exception):
    """The request could not be made, or ``raise_for_status`` found an error status."""

    def __init__(self, message: str, response: "Optional[Response]" = None):
        super().__init__(message)
        self.response = response


class Response:
    """A CRM's answer: status, headers (lower-case names) and the whole body."""

    def __init__(self, status: int, headers: Dict[str, str], content: bytes):
        self.status_code = status
        self.headers = headers
        self.content = content

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)

    def raise_for_status(self) -> None:
        if not self.ok:
            raise HttpError(f"HTTP {self.status_code}: {self.text[:200]}", self)


def request(
    method: str,
    url: str,
    *,
    params: Optional[Mapping[str, str]] = None,
    headers: Optional[Mapping[str, str]] = None,
    json: Any = None,
    data: "bytes | str | None" = None,
) -> Response:
    """Send one request and read its whole answer."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"not an http(s) URL: {url}")
    path = parts.path or "/"
    query = parts.query
    if params:
        query = f"{query}&{urlencode(params)}" if query else urlencode(params)
    body: Optional[bytes] = None
    fields = {k.lower(): v for k, v in (headers or {}).items()}
    if json is not None:
        body = _json.dumps(json).encode()
        fields.setdefault("content-type", "application/json")
    elif data is not None:
        body = data.encode() if isinstance(data, str) else data

    outgoing = http.OutgoingRequest(
        http.Fields.from_list([(k, v.encode()) for k, v in fields.items()])
    )
    verb = method.upper()
    outgoing.set_method(_METHODS[verb]() if verb in _METHODS else http.Method_Other(verb))
    outgoing.set_scheme(http.Scheme_Https() if parts.scheme == "https" else http.Scheme_Http())
    outgoing.set_authority(parts.netloc)
    outgoing.set_path_with_query(f"{path}?{query}" if query else path)
    outgoing_body = outgoing.body()
    if body:
        stream = outgoing_body.write()
        for start in range(0, len(body), _CHUNK):
            stream.blocking_write_and_flush(body[start : start + _CHUNK])
        stream.__exit__(None, None, None)
    http.OutgoingBody.finish(outgoing_body, None)

    try:
        future = outgoing_handler.handle(outgoing, None)
    except Err as e:
        raise HttpError(f"{verb} {url}: {e.value}") from None
    answer = future.get()
    while answer is None:
        future.subscribe().block()
        answer = future.get()
    if not isinstance(answer, Ok) or not isinstance(answer.value, Ok):
        error = answer.value if isinstance(answer, Ok) else answer
        raise HttpError(f"{verb} {url}: {getattr(error, 'value', error)}")
    incoming = answer.value.value
    status = incoming.status()
    names = {k.lower(): v.decode("latin-1") for k, v in incoming.headers().entries()}
    incoming_body = incoming.consume()
    stream = incoming_body.stream()
    content = bytearray()
    while True:
        try:
            content += stream.blocking_read(_CHUNK * 4)
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise HttpError(f"{verb} {url}: reading the answer: {e.value}") from None
    stream.__exit__(None, None, None)
    http.IncomingBody.finish(incoming_body)
    return Response(status, names, bytes(content))
