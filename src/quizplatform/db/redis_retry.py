"""The retry policy of the shared store's Redis connections: retry for a time, not a count.

A failover takes a few seconds (Sentinel marks the master down after its
``down-after-milliseconds``, then elects a leader and promotes a replica; ~3 s in the
stack's topology). Meanwhile the old master refuses connections and Sentinel names no
master; an operation should wait that out, and fail once Redis has been failing for longer.

redis-py's ``Retry`` counts attempts, and applies itself at two levels: to each command,
and again to every connection attempt, one of which a command retry may make (and a
connection taken from the pool connects outside the command's retries). With a count,
the time an operation may wait is the product of both levels and differs by path.
``FailoverRetry`` is redis-py's ``Retry`` with a deadline instead: retries stop once the
errors have lasted ``budget`` seconds since the operation's first one, whichever level
(command or connection) they come from. So every store
operation fails at most ``budget`` seconds after Redis started failing it, plus the last
attempt (a refused connection fails at once; an unanswered one after the socket timeout).
The loop is hand-written because ``Retry`` has no time limit; its arguments and failure
callbacks are redis-py's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff
from redis.exceptions import RedisError

T = TypeVar("T")

# The deadline shared by the retry loops of one operation: the outermost loop makes the
# cell, nested loops (a reconnection inside a command's retry) use it, and the first
# failure in any of them sets it.
_shared: ContextVar[list[float] | None] = ContextVar("redis_retry_deadline", default=None)


class FailoverRetry(Retry):
    """``Retry`` that gives up ``budget`` seconds after an operation's first failure."""

    def __init__(
        self,
        backoff: AbstractBackoff,
        budget: float,
        supported_errors: tuple[type[RedisError], ...],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The count only feeds redis-py's metrics of retry attempts; the deadline decides.
        super().__init__(backoff, retries=1_000_000, supported_errors=supported_errors)
        self.budget = budget
        self._clock = clock

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Call ``do`` until it succeeds, calling ``fail`` after each supported error and
        backing off, unless the next attempt would start after the deadline."""
        cell = _shared.get()
        token = _shared.set([]) if cell is None else None
        deadline = _shared.get()
        assert deadline is not None
        self._backoff.reset()  # type: ignore[no-untyped-call]  # redis-py: untyped
        failures = 0
        try:
            while True:
                try:
                    return await do()
                except self._supported_errors as error:
                    if is_retryable is not None and not is_retryable(error):
                        raise
                    failures += 1
                    if not deadline:  # the operation's first failure starts the clock
                        deadline.append(self._clock() + self.budget)
                    if with_failure_count:
                        await fail(error, failures)
                    else:
                        await fail(error)
                    delay = self._backoff.compute(failures)
                    if self._clock() + delay > deadline[0]:
                        raise error
                    await asyncio.sleep(delay)
        finally:
            if token is not None:
                _shared.reset(token)
