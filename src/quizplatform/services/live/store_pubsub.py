"""One pub/sub connection per instance for every live game channel (``RedisLiveStore``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import structlog
from redis.asyncio.client import PubSub

from quizplatform.db.shared_store import InvalidationHandler, RedisStore

log = structlog.get_logger(__name__)


class ChannelSubscription:
    def __init__(self, channels: GameChannels, channel: str, handler: InvalidationHandler) -> None:
        self._channels, self._channel, self._handler = channels, channel, handler
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._channels.remove(self._channel, self._handler)


class GameChannels:
    """Every game channel of one instance on ONE pub/sub connection (a connection per
    game would drain the shared pool), read by one task. The handlers of a channel get
    "*" at each subscribe confirmation: at the start and after redis-py resubscribed
    following a reconnection."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._handlers: dict[str, list[InvalidationHandler]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, channel: str, handler: InvalidationHandler) -> ChannelSubscription:
        async with self._lock:
            handlers = self._handlers.setdefault(channel, [])
            handlers.append(handler)
            if len(handlers) == 1:
                try:
                    await self._ensure().subscribe(channel)
                except BaseException:
                    del self._handlers[channel]
                    raise
            else:
                await _call(handler, "*")
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())
        return ChannelSubscription(self, channel, handler)

    async def remove(self, channel: str, handler: InvalidationHandler) -> None:
        async with self._lock:
            handlers = self._handlers.get(channel, [])
            if handler in handlers:
                handlers.remove(handler)
            if not handlers and channel in self._handlers:
                del self._handlers[channel]
                if self._pubsub is not None:
                    try:
                        await self._pubsub.unsubscribe(channel)
                    except Exception:  # noqa: BLE001 - the reader resubscribes what is left
                        log.warning("live unsubscribe failed", channel=channel)

    def _ensure(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._store.redis.pubsub()
        return self._pubsub

    async def _read(self) -> None:
        while self._handlers:
            pubsub = self._ensure()
            try:
                message = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a lost connection must not end the reader
                await self._restart()
                continue
            if message is None:
                continue
            kind, channel = message.get("type"), _s(message.get("channel") or b"")
            data = message.get("data")
            if kind == "subscribe":
                await self._deliver(channel, "*")
            elif kind == "message" and isinstance(data, bytes | str):
                await self._deliver(channel, _s(data))

    async def _deliver(self, channel: str, message: str) -> None:
        for handler in list(self._handlers.get(channel, [])):
            try:
                await _call(handler, message)
            except Exception:  # one failing handler must not stop the others
                log.exception("live channel handler failed", channel=channel)

    async def _restart(self) -> None:
        """After redis-py's own retries gave up: tell every handler messages may be lost,
        wait, and subscribe everything again on a new connection."""
        for channel in list(self._handlers):
            await self._deliver(channel, "*")
        await asyncio.sleep(1.0)
        async with self._lock:
            old, self._pubsub = self._pubsub, None
            if old is not None:
                with contextlib.suppress(Exception):  # it is broken anyway
                    await old.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            if self._handlers:
                try:
                    await self._ensure().subscribe(*self._handlers)
                except Exception:  # noqa: BLE001 - tried again on the next read error
                    log.warning("live resubscribe failed")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        self._handlers.clear()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            self._pubsub = None


async def _call(handler: InvalidationHandler, message: str) -> None:
    result = handler(message)
    if result is not None:
        await cast(Any, result)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
