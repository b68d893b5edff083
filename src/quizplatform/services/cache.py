"""A near cache: values kept in this process, dropped on every instance when they change.

Reads of hot, rarely changing data (a published quiz, a token's user) cost a dict lookup
instead of a Redis round trip. Writers call ``invalidate``; the key is published on the
shared store so every instance drops its copy. If an instance loses the subscription it
drops everything (messages sent meanwhile are lost), and entries expire after ``ttl``
seconds regardless, which bounds staleness even in the worst case.

With read replicas, a value read from a replica may predate a write that was just
invalidated. ``remember_invalidations`` (seconds; the read-your-writes window) makes the
cache remember recent invalidations: the reader fills such a key from the primary
(``recently_invalidated``) and does not store a value read before the key was invalidated
(``put(..., since=...)``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter

from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.metrics import Metrics

T = TypeVar("T")
CHANNEL = "invalidate"
_NEVER = float("-inf")
log = structlog.get_logger(__name__)


class NearCache:
    def __init__(
        self,
        store: KeyValueStore,
        ttl: float,
        maxsize: int = 10_000,
        metrics: Metrics | None = None,
        remember_invalidations: float = 0.0,
    ) -> None:
        self._store = store
        # A plain dict of (expires, value), least recently used first. Written by hand
        # rather than with cachetools.TTLCache: this lookup is on every request's path and
        # TTLCache's bookkeeping cost several times the rest of the hit.
        self._entries: dict[str, tuple[float, Any]] = {}
        self._ttl = ttl
        self._maxsize = maxsize
        self._metrics = metrics
        self._counters: dict[str, tuple[Counter, Counter]] = {}
        # key -> monotonic time of its last invalidation, oldest first; only kept (and
        # only pruned) when remember_invalidations > 0.
        self._remember = remember_invalidations
        self._invalidated: dict[str, float] = {}
        self._invalidated_all = _NEVER
        # key -> (the load in progress, when it began): see load_once.
        self._loading: dict[str, tuple[asyncio.Future[Any], float]] = {}

    async def load_once(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """``load()``, shared by the concurrent callers for the same ``key`` (single flight).

        When a hot entry expires, every request in flight at that moment misses it at
        once: 64 connections reading one quiz made 51 database reads of it together and
        stalled the process (``make bench``: GET quiz p99 200-324 ms against ~15 ms).
        Now the first caller loads (``load`` puts the value, with its own rules) and the
        others wait for its result. A waiter loads for itself when that load failed or
        the key was invalidated after it began (its result may predate the change)."""
        pending = self._loading.get(key)
        if pending is not None:
            future, began = pending
            await asyncio.wait([future])
            if not future.cancelled() and not self.invalidated_since(key, began):
                return future.result()  # type: ignore[no-any-return]
            return await load()
        future = asyncio.get_running_loop().create_future()
        self._loading[key] = (future, time.monotonic())
        try:
            value = await load()
        except BaseException:
            future.cancel()  # the waiters load for themselves
            raise
        finally:
            if self._loading.get(key, (None,))[0] is future:
                del self._loading[key]
        future.set_result(value)
        return value

    async def start(self) -> None:
        await self._store.subscribe(CHANNEL, self._on_message)

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        value = None
        if entry is not None:
            if entry[0] > time.monotonic():
                value = entry[1]
                # To the end: dict order is then recency order, and a full cache drops
                # the least recently used entry, never a hot quiz that many attempts
                # (one entry each) were added after.
                del self._entries[key]
                self._entries[key] = entry
            else:
                self._entries.pop(key, None)
        if self._metrics is not None:
            hit, miss = self._counters_for(key.split(":", 1)[0])
            (miss if value is None else hit).inc()
        return value

    def put(self, key: str, value: Any, *, since: float | None = None) -> None:
        """Keep ``value``; with ``since`` (the ``time.monotonic()`` when it was read), not
        if the key was invalidated meanwhile (needs ``remember_invalidations``)."""
        if since is not None and self.invalidated_since(key, since):
            return
        self._entries.pop(key, None)  # re-insert at the end: dict order is recency order
        self._entries[key] = (time.monotonic() + self._ttl, value)
        while len(self._entries) > self._maxsize:
            del self._entries[next(iter(self._entries))]

    def invalidated_since(self, key: str, since: float) -> bool:
        """Whether ``key`` was invalidated at or after ``since`` (as far as remembered)."""
        return self._invalidated_all >= since or self._invalidated.get(key, _NEVER) >= since

    def recently_invalidated(self, key: str) -> bool:
        """Whether ``key`` was invalidated within the last ``remember_invalidations`` s."""
        return self._remember > 0 and self.invalidated_since(key, time.monotonic() - self._remember)

    def _note_invalidated(self, key: str) -> None:
        if self._remember <= 0:
            return
        now = time.monotonic()
        if key == "*":
            self._invalidated_all = now
            self._invalidated.clear()
            return
        self._invalidated.pop(key, None)  # re-insert at the end: dict order is age order
        self._invalidated[key] = now
        horizon = now - self._remember
        while True:  # ends at the latest: the key just noted is not old
            oldest = next(iter(self._invalidated))
            if self._invalidated[oldest] >= horizon:
                break
            del self._invalidated[oldest]

    def _counters_for(self, cache: str) -> tuple[Counter, Counter]:
        counters = self._counters.get(cache)
        if counters is None:
            assert self._metrics is not None
            family = self._metrics.cache_requests
            counters = (family.labels(cache, "hit"), family.labels(cache, "miss"))
            self._counters[cache] = counters
        return counters

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` here at once and on every other instance."""
        for key in keys:
            self._entries.pop(key, None)
            self._note_invalidated(key)
            if self._metrics is not None:
                self._metrics.cache_invalidations.labels("sent").inc()
            try:
                await self._store.publish(CHANNEL, key)
            except Exception:  # the write has happened; other copies expire by TTL
                log.warning("cache invalidation not published", key=key, exc_info=True)

    def clear(self) -> None:
        """Forget everything held in this process (remembered invalidations too)."""
        self._entries.clear()
        self._invalidated.clear()
        self._invalidated_all = _NEVER

    def _on_message(self, key: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_invalidations.labels("received").inc()
        self._note_invalidated(key)
        if key == "*":
            self._entries.clear()
        else:
            self._entries.pop(key, None)
