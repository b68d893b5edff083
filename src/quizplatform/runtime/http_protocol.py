"""uvicorn's httptools protocol, writing each response's headers and body in one go.

uvicorn writes a response's status line and headers with one ``transport.write`` and its
body with another. An instance killed between the two leaves the load balancer with a
started, truncated response, which it cannot retry elsewhere: the client sees an error.
Holding the headers until the body follows (in the same event-loop turn, as Starlette
sends them) makes a small response one write, so a killed instance has either sent the
whole response or none of it, and "none" is retried by HAProxy. uvicorn has no option
for this, hence this small wrapper.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "


class CoalescingTransport:
    """A transport proxy that holds response headers until the next write (or the end of
    the current event-loop turn, whichever comes first)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held + bytes(data))
        elif bytes(data[: len(_STATUS_LINE)]) == _STATUS_LINE:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send held headers now (a response whose body did not follow at once)."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol over a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, self.loop)))
