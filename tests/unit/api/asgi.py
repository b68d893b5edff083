"""A fake ASGI conversation for the middleware's collaborators: a scope, a receive fed
from a list of body chunks, and a send that records the messages."""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope


def http_scope(
    method: str = "GET",
    path: str = "/api/v1/quizzes",
    headers: dict[str, str] | None = None,
    query: bytes = b"",
) -> Scope:
    """An HTTP scope with an empty request state (its context starts on first use)."""
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": raw,
        "query_string": query,
        "client": ("203.0.113.7", 5000),
        "scheme": "http",
        "state": {},
    }


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """The scope's headers as the entry point passes them on."""
    return dict(scope["headers"])


def chunked_receive(*chunks: bytes) -> Receive:
    """A ``receive`` giving ``chunks`` as one body, then a disconnect."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


class RecordingSend:
    """A ``send`` that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


def anything(**fields: Any) -> Any:
    """A stand-in object with ``fields`` as attributes."""
    return type("Stand_in", (), fields)()
