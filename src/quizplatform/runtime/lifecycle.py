"""Graceful shutdown for one instance.

On SIGTERM (or a first Ctrl-C) the instance turns not-ready at once (``/health/ready``
answers 503, so the load balancer takes it out of rotation), keeps serving for the drain
delay, then stops accepting connections, lets in-flight requests finish for up to the
shutdown timeout, closes its pools and exits 0. A second signal stops at once.
"""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Callable
from types import FrameType

import structlog
import uvicorn

log = structlog.get_logger(__name__)


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a drain phase before its own graceful shutdown."""

    def __init__(
        self, config: uvicorn.Config, *, drain_delay: float, on_drain: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self.drain_delay = drain_delay
        self.on_drain = on_drain
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn we do not re-raise the signal after shutting down: a drained,
        # cleanly stopped instance exits 0.
        if self.drain_started is None:
            self.drain_started = time.monotonic()
            self.on_drain()
            log.info("draining", signal=signal.Signals(sig).name, drain_delay=self.drain_delay)
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
