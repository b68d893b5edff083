"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request): request ids,
body size and content-type limits, access metrics and logs."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings

log = structlog.get_logger("quizplatform.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}
_JSON_TYPES = ("application/json",)
_IMPORT_TYPES = ("application/json", "text/plain", "multipart/form-data", "text/")


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    """Gives every request an id, enforces body limits, and records metrics and a log line."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                raw = message["headers"]
                if not any(k.lower() == b"x-request-id" for k, _ in raw):
                    raw.append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            rejection = self._check_body(scope, headers)
            if rejection is not None:
                await _send_error(send_with_id, request_id, *rejection)
                return
            limit = self._limit(scope)
            await self.app(scope, _limited(receive, limit), send_with_id)
        except BodyTooLarge:
            await _send_error(
                send_with_id, request_id, 413, "payload_too_large", "the request body is too large"
            )
        finally:
            self._observe(scope, status_holder[0], time.perf_counter() - started, request_id)

    def _limit(self, scope: Scope) -> int:
        if scope["path"].endswith("/import"):
            return self.settings.max_import_bytes
        return self.settings.max_body_bytes

    def _check_body(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        if scope["method"].encode() not in _BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > self._limit(scope):
                    return (
                        413,
                        "payload_too_large",
                        (f"the request body is larger than {self._limit(scope)} bytes"),
                    )
                if int(length) == 0:
                    return None
            except ValueError:
                return 400, "bad_request", "invalid Content-Length"
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not ctype:
            return None
        allowed = _IMPORT_TYPES if scope["path"].endswith("/import") else _JSON_TYPES
        media = ctype.split(";", 1)[0].strip()
        if not (media.startswith(allowed) or media.endswith("+json")):
            return (
                415,
                "unsupported_media_type",
                (f"Content-Type {media!r} is not accepted here; send application/json"),
            )
        return None

    def _observe(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        template = route_template(scope)
        method = scope["method"]
        self.metrics.observe_request(method, template, status, seconds)
        state: dict[str, Any] = scope.get("state", {})
        if template.startswith(("/health", "/metrics")) and status < 400:
            return
        log.info(
            "request",
            request_id=request_id,
            method=method,
            route=template,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            user_id=state.get("user_id"),
            instance=self.settings.instance_id,
        )


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/quizzes/{id}``), never the raw path."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if "endpoint" in scope:  # a plain Starlette route (docs, OpenAPI): a fixed path
        return str(scope["path"])
    return "<unmatched>"


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return wrapped


async def _send_error(send: Send, request_id: str, status: int, code: str, message: str) -> None:
    body = orjson.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id, "details": []}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
