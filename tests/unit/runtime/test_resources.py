"""The RSS watchdog, and the drain it starts on the server (the one SIGTERM starts)."""

from __future__ import annotations

import signal

import uvicorn
from prometheus_client import CollectorRegistry, Counter

from quizplatform.runtime.lifecycle import GracefulServer
from quizplatform.runtime.resources import MIB, MemoryWatchdog


async def test_watchdog_returns_once_rss_is_above_the_limit_and_counts_it() -> None:
    readings = iter([10 * MIB, 20 * MIB, 21 * MIB])  # 20 MB is not above a 20 MB limit
    registry = CollectorRegistry()
    recycles = Counter("process_recycles_total", "test", ["reason"], registry=registry)
    watchdog = MemoryWatchdog(20, 0.001, recycles, rss=lambda: next(readings))
    await watchdog.wait_exceeded()
    assert next(readings, None) is None  # it returned on the third reading, not before
    assert registry.get_sample_value("process_recycles_total", {"reason": "memory"}) == 1


async def test_watchdog_starts_the_sigterm_drain_once() -> None:
    drains: list[int] = []
    server = GracefulServer(
        uvicorn.Config(app=lambda: None),
        drain_delay=5.0,
        on_drain=lambda: drains.append(1),
        memory_watchdog=MemoryWatchdog(1, 0.001, rss=lambda: 2 * MIB),
    )
    await server._recycle_above_memory_limit()
    assert drains == [1] and server.drain_started is not None
    assert not server.should_exit  # it serves on for the drain delay, like on SIGTERM
    server.handle_exit(signal.SIGTERM, None)  # then a SIGTERM skips the rest of the delay
    assert drains == [1] and server.should_exit
