"""The request body's policy: no NUL in the URL, a size limit (larger for quiz imports),
the accepted content types (JSON on the API, forms on web pages), and a counted body."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope

from quizplatform.api.middleware.refusal import Refusal
from quizplatform.runtime.routes import CARRIED_IMPORT_SUFFIX, is_import_path, is_web_path
from quizplatform.runtime.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_JSON_TYPES = ("application/json",)
# A quiz file: text (GIFT, Aiken), JSON, XML (Moodle XML), a zip package (QTI), any bytes.
_IMPORT_TYPES = (
    "application/json",
    "text/",
    "multipart/form-data",
    "application/xml",
    "application/zip",
    "application/x-zip-compressed",
    "application/octet-stream",
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyTooLarge(Exception):
    """The body grew past its limit while it was read."""


class BodyPolicy:
    """Checks a request's URL and body headers before the app sees it, and guards the body
    while the app reads it."""

    def __init__(self, settings: Settings) -> None:
        self.max_body_bytes = settings.max_body_bytes
        self.max_import_bytes = settings.max_import_bytes

    def limit(self, path: str) -> int:
        """The largest body accepted on ``path``: a file posted back base64-encoded in a
        form (the web import's save step) may be a third larger than the file, plus room
        for the form's other fields."""
        if path.endswith(CARRIED_IMPORT_SUFFIX):
            return -(-self.max_import_bytes * 4 // 3) + 64 * 1024
        return self.max_import_bytes if is_import_path(path) else self.max_body_bytes

    def check(self, scope: Scope, headers: dict[bytes, bytes]) -> Refusal | None:
        """Why the request is refused before its body is read (None: it is not)."""
        return _check_nul(scope) or self._check_body(scope, headers)

    async def guarded_receive(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, sizes: list[int]
    ) -> Receive:
        """``receive`` that counts the body into ``sizes[0]`` and raises ``BodyTooLarge``
        past the limit. A chunked body's size is known only while reading it: it is read
        here first, since the framework turns an error raised from receive() into a 400,
        not a 413."""
        limit = self.limit(scope["path"])
        if scope["method"] in BODY_METHODS and b"content-length" not in headers:
            messages = await _buffer(receive, limit)
            if messages is None:
                raise BodyTooLarge
            receive = _replay(messages, receive)
        return _counting(receive, limit, sizes)

    def _check_body(self, scope: Scope, headers: dict[bytes, bytes]) -> Refusal | None:
        if scope["method"] not in BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return Refusal(400, "bad_request", "invalid Content-Length")
            limit = self.limit(scope["path"])
            if size > limit:
                message = f"the request body is larger than {limit} bytes"
                return Refusal(413, "payload_too_large", message)
            if size == 0:
                return None
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not ctype:
            return None
        return _check_media(scope["path"], ctype.split(";", 1)[0].strip())


def _check_nul(scope: Scope) -> Refusal | None:
    """Refuse a NUL character in the path or query string: PostgreSQL text cannot hold one,
    so it would otherwise reach the database as an error (bodies are checked by the
    request schemas and the form readers)."""
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query:
        return Refusal(400, "bad_request", "the URL contains a NUL character")
    return None


def _check_media(path: str, media: str) -> Refusal | None:
    """Web pages post forms (and htmx sends the same); the API takes JSON, and files on
    its import routes."""
    if is_web_path(path):
        if media.startswith(_FORM_TYPES):
            return None
        message = f"Content-Type {media!r} is not accepted here; send a form"
        return Refusal(415, "unsupported_media_type", message)
    importing = is_import_path(path)
    allowed = _IMPORT_TYPES if importing else _JSON_TYPES
    if media.startswith(allowed) or media.endswith(("+json", "+xml") if importing else "+json"):
        return None
    wanted = (
        "a quiz file (text, JSON, XML, zip) or a multipart form"
        if importing
        else "application/json"
    )
    message = f"Content-Type {media!r} is not accepted here; send {wanted}"
    return Refusal(415, "unsupported_media_type", message)


async def _buffer(receive: Receive, limit: int) -> list[Message] | None:
    """The request's messages up to the end of its body; None when it exceeds ``limit``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _counting(receive: Receive, limit: int, sizes: list[int]) -> Receive:
    async def wrapped() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            sizes[0] += len(message.get("body", b""))
            if sizes[0] > limit:
                raise BodyTooLarge
        return message

    return wrapped
