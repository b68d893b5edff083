"""Whether this instance can write: read-only mode while the database has no leader.

``LeaderState`` lives on the primary ``Database``. A write that fails because the write
URL has no leader (``db/failover.py``: ``Kind.NO_LEADER``) puts the instance in read-only
mode; a committed write, or a probe of the write URL that finds a writable server, ends
it. While read-only, a probe runs every ``probe_interval`` seconds, so the end is seen
without traffic, and safe requests read from a replica instead of the primary.

Metrics: ``db_read_only`` (1 while read-only) and ``db_read_only_seconds_total``
(brought up to date at every probe and when the mode ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from quizplatform.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

PROBE_INTERVAL_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0

#: Answers whether the write URL reaches a server that accepts writes (raises if none).
Probe = Callable[[], Awaitable[bool]]


class LeaderState:
    """Read-only since when (None: writes work, as far as this instance knows)."""

    def __init__(
        self,
        probe: Probe,
        metrics: Metrics | None = None,
        *,
        probe_interval: float = PROBE_INTERVAL_SECONDS,
    ) -> None:
        self._probe = probe
        self._metrics = metrics
        self.probe_interval = probe_interval
        self._since: float | None = None  # time.time() when read-only mode began
        self._accounted: float = 0.0  # time.monotonic() up to which seconds are counted
        self._reason = ""
        self._task: asyncio.Task[None] | None = None

    @property
    def read_only(self) -> bool:
        return self._since is not None

    @property
    def since(self) -> float | None:
        """Unix time when read-only mode began (None: not read-only)."""
        return self._since

    def seconds(self) -> float:
        """How long this instance has been read-only (0 when it is not)."""
        return 0.0 if self._since is None else max(0.0, time.time() - self._since)

    def describe(self) -> str:
        """A sentence for ``/health``."""
        if self._since is None:
            return "writes work"
        return f"no database leader: writes answered read_only for {self.seconds():.0f} s" + (
            f" ({self._reason})" if self._reason else ""
        )

    def lost(self, reason: str) -> None:
        """A write found no leader: enter read-only mode (once) and start probing."""
        if self._since is None:
            self._since = time.time()
            self._accounted = time.monotonic()
            self._reason = reason
            if self._metrics is not None:
                self._metrics.db_read_only.set(1)
            log.warning("database has no leader: read-only mode", reason=reason)
        self._start_probing()

    def confirmed(self) -> None:
        """A write committed: the write URL has a leader."""
        if self._since is None:
            return
        seconds = self.seconds()
        self._account()
        self._since = None
        self._reason = ""
        if self._metrics is not None:
            self._metrics.db_read_only.set(0)
        log.info("database leader back: writes resume", read_only_seconds=round(seconds, 3))

    def _account(self) -> None:
        now = time.monotonic()
        if self._metrics is not None and self._since is not None:
            self._metrics.db_read_only_seconds.inc(max(0.0, now - self._accounted))
        self._accounted = now

    def _start_probing(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            self._task = asyncio.get_running_loop().create_task(self._probe_until_writable())
        except RuntimeError:  # no event loop (a synchronous caller): the next write tells
            self._task = None

    async def _probe_until_writable(self) -> None:
        while self._since is not None:
            await asyncio.sleep(self.probe_interval)
            self._account()
            try:
                writable = await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - still no leader; try again
                log.debug("leader probe failed", error=type(exc).__name__)
                continue
            if writable:
                self.confirmed()

    async def close(self) -> None:
        """Stop probing (at shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
