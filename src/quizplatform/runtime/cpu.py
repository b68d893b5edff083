"""CPU-heavy work (password hashing, reading large imports, offline drafting) runs in a
worker thread, so the event loop keeps answering health checks and other requests, and at
most ``slots`` such jobs run at once per instance: the rest wait their turn instead of
piling threads (and memory: one argon2 hash takes 64 MiB) on two cores.

A thread cannot be cancelled, so the work itself must stop in time: parsers and the
drafter check a ``quizplatform.domain.limits.Deadline`` as they go.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CpuPool:
    """At most ``slots`` CPU-bound calls at once, each in a worker thread."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        # asyncio.Semaphore binds to the running loop on first use, so one pool can be
        # built before the loop starts (Services.create) and used inside it.
        self._semaphore = asyncio.Semaphore(slots)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a thread once a slot is free."""
        async with self._semaphore:
            work = asyncio.ensure_future(asyncio.to_thread(functools.partial(fn, *args, **kwargs)))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # The client went away, but the thread runs on: keep its slot until it
                # ends, or cancelled requests would let more than ``slots`` run at once.
                await asyncio.wait([work])
                raise
