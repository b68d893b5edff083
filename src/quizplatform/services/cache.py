"""A near cache: values kept in this process, dropped on every instance when they change.

Reads of hot, rarely changing data (a published quiz, a token's user) cost a dict lookup
instead of a Redis round trip. Writers call ``invalidate``; the key is published on the
shared store so every instance drops its copy. If an instance loses the subscription it
drops everything (messages sent meanwhile are lost), and entries expire after ``ttl``
seconds regardless, which bounds staleness even in the worst case.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import Counter

from quizplatform.db.kv import KeyValueStore
from quizplatform.runtime.metrics import Metrics

CHANNEL = "invalidate"
log = structlog.get_logger(__name__)


class NearCache:
    def __init__(
        self,
        store: KeyValueStore,
        ttl: float,
        maxsize: int = 10_000,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        # A plain dict of (expires, value), oldest first. Written by hand rather than with
        # cachetools.TTLCache: this lookup is on every request's path and TTLCache's
        # bookkeeping cost several times the rest of the hit.
        self._entries: dict[str, tuple[float, Any]] = {}
        self._ttl = ttl
        self._maxsize = maxsize
        self._metrics = metrics
        self._counters: dict[str, tuple[Counter, Counter]] = {}

    async def start(self) -> None:
        await self._store.subscribe(CHANNEL, self._on_message)

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        value = None
        if entry is not None:
            if entry[0] > time.monotonic():
                value = entry[1]
            else:
                self._entries.pop(key, None)
        if self._metrics is not None:
            hit, miss = self._counters_for(key.split(":", 1)[0])
            (miss if value is None else hit).inc()
        return value

    def put(self, key: str, value: Any) -> None:
        self._entries.pop(key, None)  # re-insert at the end: dict order is age order
        self._entries[key] = (time.monotonic() + self._ttl, value)
        while len(self._entries) > self._maxsize:
            del self._entries[next(iter(self._entries))]

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
            if self._metrics is not None:
                self._metrics.cache_invalidations.labels("sent").inc()
            try:
                await self._store.publish(CHANNEL, key)
            except Exception:  # the write has happened; other copies expire by TTL
                log.warning("cache invalidation not published", key=key, exc_info=True)

    def clear(self) -> None:
        """Forget everything held in this process."""
        self._entries.clear()

    def _on_message(self, key: str) -> None:
        if self._metrics is not None:
            self._metrics.cache_invalidations.labels("received").inc()
        if key == "*":
            self._entries.clear()
        else:
            self._entries.pop(key, None)
