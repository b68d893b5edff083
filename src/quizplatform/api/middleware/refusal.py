"""The middleware's own answers to requests it refuses (400, 413, 415, 429): the JSON
error envelope on API paths, an HTML error page on web paths."""

from __future__ import annotations

from typing import NamedTuple

import orjson
from starlette.types import Scope, Send

from quizplatform.runtime.routes import is_web_path
from quizplatform.runtime.web_hooks import ErrorPageRenderer


class Refusal(NamedTuple):
    """Why a request is refused: its status, error code, message and extra headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] | None = None


class RefusalWriter:
    """Sends a ``Refusal`` as JSON, or as a page when ``error_page`` is given and the path
    is a web page."""

    def __init__(self, error_page: ErrorPageRenderer | None) -> None:
        self.error_page = error_page

    async def send(self, scope: Scope, send: Send, request_id: str, refusal: Refusal) -> None:
        """Answer the request with ``refusal``."""
        if self.error_page is None or not is_web_path(scope["path"]):
            await send_error(send, request_id, refusal)
            return
        body = self.error_page(refusal.status, refusal.message, request_id)
        html = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
        await send_body(send, refusal.status, body, {**html, **(refusal.headers or {})})


async def send_error(send: Send, request_id: str, refusal: Refusal) -> None:
    """The JSON error envelope (``api/errors.py``'s shape) for ``refusal``."""
    error = {
        "code": refusal.code,
        "message": refusal.message,
        "request_id": request_id,
        "details": [],
    }
    body = orjson.dumps({"error": error})
    headers = {"content-type": "application/json", **(refusal.headers or {})}
    await send_body(send, refusal.status, body, headers)


async def send_body(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    """One complete response: ``headers`` (names in any case) plus its Content-Length."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
