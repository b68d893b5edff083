"""Resource limits of one process: an RSS watchdog, an address-space backstop, a CPU share.

- The RSS watchdog (``QUIZ_MEMORY_LIMIT_MB``) reads the resident set size every
  ``QUIZ_MEMORY_CHECK_INTERVAL_SECONDS``; above the limit it logs, counts
  ``process_recycles_total{reason="memory"}`` and returns, and the server then drains and
  exits 0 exactly as on SIGTERM (``GracefulServer.start_drain``), for its supervisor to
  start a fresh process. Growth is handled without failing a request.
- ``RLIMIT_AS`` (``QUIZ_ADDRESS_SPACE_LIMIT_MB``) is the hard backstop when memory grows
  faster than the watchdog looks: allocations beyond it fail (``MemoryError``) instead of
  the host running out of memory. It limits *virtual* memory, which Python, glibc's
  per-thread arenas and uvloop reserve far beyond what they use, so it must be generous
  (at least 4x the RSS limit).
- ``os.nice`` (``QUIZ_CPU_NICE``) lowers the CPU priority: on one host, the share of CPU
  this process gets when the CPUs are contended.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import Callable

import psutil
import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)
MIB = 1024 * 1024


class ResourceLimitError(RuntimeError):
    """A configured limit cannot be applied to this process."""


def apply_process_limits(*, address_space_limit_mb: int, cpu_nice: int) -> None:
    """Apply the address-space limit and the nice increment (each 0: leave unchanged).

    Only the soft ``RLIMIT_AS`` is set (the kernel enforces it); it cannot exceed the
    hard limit this process was started with.
    """
    if address_space_limit_mb > 0:
        limit = address_space_limit_mb * MIB
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY and limit > hard:
            raise ResourceLimitError(
                f"QUIZ_ADDRESS_SPACE_LIMIT_MB={address_space_limit_mb} is above this "
                f"process's hard address-space limit ({hard // MIB} MB)"
            )
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    if cpu_nice > 0:
        os.nice(cpu_nice)
    if address_space_limit_mb > 0 or cpu_nice > 0:
        log.info(
            "resource limits applied",
            address_space_limit_mb=address_space_limit_mb or None,
            nice=os.nice(0),
        )


def _own_rss() -> int:
    return int(psutil.Process().memory_info().rss)


class MemoryWatchdog:
    """Waits until this process's resident memory exceeds ``limit_mb``."""

    def __init__(
        self,
        limit_mb: int,
        interval: float,
        recycles: Counter | None = None,
        rss: Callable[[], int] = _own_rss,
    ) -> None:
        self.limit_mb = limit_mb
        self.interval = interval
        self.recycles = recycles
        self._rss = rss

    async def wait_exceeded(self) -> None:
        """Return (after logging and counting) once RSS is above the limit."""
        limit = self.limit_mb * MIB
        while True:
            await asyncio.sleep(self.interval)
            rss = self._rss()
            if rss > limit:
                log.warning(
                    "memory limit exceeded, recycling",
                    rss_mb=round(rss / MIB, 1),
                    limit_mb=self.limit_mb,
                )
                if self.recycles is not None:
                    self.recycles.labels("memory").inc()
                return
