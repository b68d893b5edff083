"""A WebSocket client for an ASGI app in the test's own event loop.

Starlette's ``TestClient`` runs the app in a thread with an event loop of its own; the
suite's services (database pools, Redis connections) belong to the test's loop, so a
socket test drives the app's ASGI interface directly instead: the same messages a server
would send it, in this loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message


class Closed(Exception):
    """The server closed the socket (``code``), or refused it before accepting."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class AsgiSocket:
    """One WebSocket connection to ``app``; ``async with`` connects and disconnects."""

    def __init__(
        self,
        app: ASGIApp,
        path: str = "/api/v1/live/ws",
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.app = app
        self.path = path
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers]
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.close_code: int | None = None

    async def __aenter__(self) -> AsgiSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test"), *self.headers],
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "subprotocols": [],
            "state": {},
        }

        async def run() -> None:
            await self.app(scope, self._to_app.get, self._from_app.put)

        self._task = asyncio.create_task(run())
        await self._to_app.put({"type": "websocket.connect"})
        message = await asyncio.wait_for(self._from_app.get(), 5)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000))
        assert message["type"] == "websocket.accept", message

    async def send_json(self, data: object) -> None:
        await self.send_text(json.dumps(data))

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def receive(self, wait: float = 5.0) -> dict[str, Any]:
        """The next JSON message; ``Closed`` if the server closed the socket instead."""
        if self.close_code is not None:
            raise Closed(self.close_code)
        message = await asyncio.wait_for(self._from_app.get(), wait)
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code", 1000))
            await self._to_app.put({"type": "websocket.disconnect", "code": self.close_code})
            raise Closed(self.close_code)
        assert message["type"] == "websocket.send", message
        data: dict[str, Any] = json.loads(message["text"])
        return data

    async def receive_type(self, kind: str, wait: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next message of type ``kind`` whose fields equal ``match`` (others skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            message = await self.receive(max(deadline - loop.time(), 0.01))
            if message.get("type") == kind and all(message.get(k) == v for k, v in match.items()):
                return message

    async def closed(self, wait: float = 5.0) -> int:
        """Read until the server closes the socket, within ``wait`` in all; its close code.

        The deadline is for the whole read: a server that keeps sending states (the hub's
        rechecks) and never closes must fail the test, not hold it forever.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            while True:
                await self.receive(max(deadline - loop.time(), 0.01))
        except Closed as closed:
            return closed.code

    async def disconnect(self) -> None:
        if self._task is None:
            return
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(self._task, 5)
        finally:
            self._task = None
