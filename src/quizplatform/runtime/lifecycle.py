"""Graceful shutdown for one instance.

On SIGTERM (or a first Ctrl-C) the instance turns not-ready at once (``/health/ready``
answers 503, so the load balancer takes it out of rotation), keeps serving for the drain
delay, then stops accepting connections, lets in-flight requests finish for up to the
shutdown timeout, closes its pools and exits 0. A second signal stops at once.

The memory watchdog (``runtime/resources.py``) starts exactly the same drain when the
process's RSS exceeds its limit, so that the supervisor starts a fresh process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import structlog
import uvicorn
from prometheus_client import Histogram

from quizplatform.runtime.resources import MemoryWatchdog

log = structlog.get_logger(__name__)


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a drain phase before its own graceful shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain_delay: float,
        on_drain: Callable[[], None],
        memory_watchdog: MemoryWatchdog | None = None,
    ) -> None:
        super().__init__(config)
        self.drain_delay = drain_delay
        self.on_drain = on_drain
        self.drain_started: float | None = None
        self.memory_watchdog = memory_watchdog
        self._watchdog_task: asyncio.Task[None] | None = None

    def start_drain(self, **why: str) -> None:
        """Turn not-ready now and stop after the drain delay (first SIGTERM, watchdog)."""
        if self.drain_started is not None:
            return
        self.drain_started = time.monotonic()
        self.on_drain()
        log.info("draining", drain_delay=self.drain_delay, **why)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn we do not re-raise the signal after shutting down: a drained,
        # cleanly stopped instance exits 0.
        if self.drain_started is None:
            self.start_drain(signal=signal.Signals(sig).name)
        elif sig == signal.SIGINT or self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True  # a second SIGTERM skips the rest of the drain delay

    async def on_tick(self, counter: int) -> bool:
        if (
            self.drain_started is not None
            and not self.should_exit
            and time.monotonic() - self.drain_started >= self.drain_delay
        ):
            log.info("stopping: no new connections, finishing in-flight requests")
            self.should_exit = True
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.memory_watchdog is not None:
            self._watchdog_task = asyncio.create_task(self._recycle_above_memory_limit())

    async def _recycle_above_memory_limit(self) -> None:
        assert self.memory_watchdog is not None
        await self.memory_watchdog.wait_exceeded()
        self.start_drain(reason="memory_limit")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog_task
        await super().shutdown(sockets=sockets)


_gc_timer: Callable[[str, dict[str, int]], None] | None = None


def watch_gc(pauses: Histogram) -> None:
    """Time every garbage collection of this process into ``pauses`` (by generation), so
    a latency outlier can be told apart from a collection. The collector is the
    process's, so one timer per process: a later call replaces the earlier one."""
    global _gc_timer
    by_generation = [pauses.labels(str(g)) for g in range(3)]
    started = [0.0]

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            by_generation[info["generation"]].observe(time.perf_counter() - started[0])

    if _gc_timer in gc.callbacks:
        gc.callbacks.remove(_gc_timer)
    gc.callbacks.append(timer)
    _gc_timer = timer


def tune_gc() -> None:
    """Garbage collection settings for a serving process, applied once it has started.

    Everything loaded at start-up lives as long as the process, so it is frozen out of
    the collector's way (full collections, i.e. latency spikes, stay short). Requests
    allocate many short-lived objects; collecting the youngest generation every 700
    allocations (the default) cost more than it freed (measured with ``make bench``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
