"""A near cache: values kept in this process, dropped on every instance when they change.

Reads of hot, rarely changing data (a published quiz, a token's user) cost a dict lookup
instead of a Redis round trip. Writers call ``invalidate``; the key is published on the
shared store so every instance drops its copy. If an instance loses the subscription it
drops everything (messages sent meanwhile are lost), and entries expire after ``ttl``
seconds regardless, which bounds staleness even in the worst case.
"""

from __future__ import annotations

from typing import Any

import structlog
from cachetools import TTLCache

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
        self._entries: TTLCache[str, Any] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._metrics = metrics

    async def start(self) -> None:
        await self._store.subscribe(CHANNEL, self._on_message)

    def get(self, key: str) -> Any | None:
        value = self._entries.get(key)
        if self._metrics is not None:
            cache = key.split(":", 1)[0]
            self._metrics.cache_requests.labels(cache, "miss" if value is None else "hit").inc()
        return value

    def put(self, key: str, value: Any) -> None:
        self._entries[key] = value

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
