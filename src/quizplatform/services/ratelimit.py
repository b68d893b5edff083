"""Rate limits per client address and per user, shared by every instance.

An approximate sliding window (the "sliding window counter": the previous fixed window's
count weighted by how much of it still overlaps, plus the current window's count). Each
instance decides from its own exact local counts plus the totals of all instances as last
read from the shared store, and pushes its increments in one pipeline every
``flush_interval`` seconds. So a request never waits for Redis, and a limit may be
overshot by at most what the other instances accept in one flush interval. Lockout after
failed sign-ins, which must be exact, uses the store's exact windows instead.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from quizplatform.db.shared_store import KeyValueStore


@dataclass(frozen=True)
class Limit:
    requests: int
    window: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"300/60"`` → 300 requests per 60 seconds."""
        count, _, seconds = text.partition("/")
        limit = cls(int(count), float(seconds or 60))
        if limit.requests <= 0 or limit.window <= 0:
            raise ValueError(f"invalid rate limit {text!r}")
        return limit


@dataclass
class _Counter:
    window_index: int
    pending: int = 0  # accepted here, not yet pushed to the store
    local: int = 0  # accepted here in this window
    shared_current: int = 0  # all instances, this window, as last read
    shared_previous: int = 0  # all instances, previous window, as last read
    window: float = 60.0
    previous_read: bool = False  # shared_previous read from the store in this window


@dataclass
class RateLimiter:
    store: KeyValueStore
    flush_interval: float = 0.1
    _counters: dict[str, _Counter] = field(default_factory=dict)

    def hit(self, key: str, limit: Limit, now: float | None = None) -> int | None:
        """Count a request; return None if allowed, else seconds until retrying makes sense."""
        now = time.time() if now is None else now
        index = int(now // limit.window)
        counter = self._counters.get(key)
        if counter is None or counter.window_index != index:
            counter = self._roll(key, counter, index, limit.window)
        overlap = 1.0 - (now % limit.window) / limit.window
        current = max(counter.shared_current, counter.local - counter.pending) + counter.pending
        estimate = counter.shared_previous * overlap + current
        if estimate + 1 > limit.requests:
            return max(1, math.ceil(limit.window * overlap))
        counter.pending += 1
        counter.local += 1
        return None

    def _roll(self, key: str, old: _Counter | None, index: int, window: float) -> _Counter:
        previous = 0
        if old is not None and old.window_index == index - 1:
            previous = max(old.shared_current, old.local)
        counter = _Counter(index, shared_previous=previous, window=window)
        self._counters[key] = counter
        return counter

    def reset(self) -> None:
        """Forget the local counts (the shared ones expire with their windows)."""
        self._counters.clear()

    async def flush(self) -> None:
        """Push local increments and read back every instance's totals."""
        now = time.time()
        dirty = []
        for key, c in list(self._counters.items()):
            if c.window_index < int(now // c.window) - 1:
                del self._counters[key]  # two windows old: no longer matters
            elif c.pending:
                dirty.append((key, c, c.pending))
        if not dirty:
            return
        updates = [
            (f"rl:{key}:{c.window_index}", pending, c.window * 2) for key, c, pending in dirty
        ]
        # Once per window also the previous window's total: an instance that saw none of
        # it (new, or the key's requests went elsewhere) would otherwise not weigh it.
        unread = [(key, c) for key, c, _ in dirty if not c.previous_read]
        updates += [(f"rl:{key}:{c.window_index - 1}", 0, c.window * 2) for key, c in unread]
        totals = await self.store.incr_many(updates)
        for (_, c, pending), total in zip(dirty, totals[: len(dirty)], strict=True):
            c.pending -= pending
            c.shared_current = max(c.shared_current, total)
        for (_, c), total in zip(unread, totals[len(dirty) :], strict=True):
            c.shared_previous = max(c.shared_previous, total)
            c.previous_read = True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - limits keep working on local counts meanwhile
                await asyncio.sleep(1.0)
