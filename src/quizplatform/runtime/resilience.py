"""Resilience for outbound calls: a circuit breaker shared by every instance, and retries.

**Circuit breaker.** Closed, it lets calls through and counts failures in a sliding
window; ``failures`` failures within ``window`` seconds open it. Open, it refuses calls
at once (the caller falls back) until ``reset_after`` seconds have passed; then it is
half-open and lets exactly one probe through: success closes it, failure opens it again.

The state lives in the shared key-value store (Redis with several instances, in-process
otherwise), so one instance's failures open the breaker for all of them and one
instance's successful probe closes it for all. Three keys per breaker:

- ``breaker:<name>:failures``: the failure window (``window_add``),
- ``breaker:<name>:opened``: the time it opened (absent: closed),
- ``breaker:<name>:probe``: held (``set_nx``) by the instance whose probe is in flight.

Transitions are taken with ``set_nx`` where two instances may race, so a transition is
counted once. Times are wall-clock seconds, the clock every process on a host shares.

**Retries** (``retrying``): tenacity with exponential backoff and full jitter, on the
errors that say "try again" (timeouts, 429, 5xx), honouring a server's ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

log = structlog.get_logger(__name__)

# How long a probe may hold the half-open slot before another instance may probe: a probe
# that never reports (its process died) must not keep the breaker half-open forever.
PROBE_SLACK_SECONDS = 5.0
# The "opened" mark outlives any sensible reset time; it only keeps Redis tidy.
OPENED_TTL_SECONDS = 24 * 3600.0


class BreakerState(IntEnum):
    """The values of ``quiz_ai_breaker_state`` (alerts compare against 2)."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class BreakerStore(Protocol):
    """The primitives of the shared store a breaker needs (``db.shared_store`` implements them)."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...
    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool: ...
    async def delete(self, *keys: str) -> None: ...
    async def window_add(self, key: str, now: float, window: float) -> int: ...


class BreakerObserver(Protocol):
    """Where a breaker reports its state and transitions (metrics)."""

    def breaker_state(self, name: str, state: BreakerState) -> None: ...
    def breaker_transition(self, name: str, to: BreakerState) -> None: ...


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 3
    window: float = 10.0
    reset_after: float = 30.0
    probe_timeout: float = 20.0  # the longest a probe call can take


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; ``probe`` when it is the half-open breaker's one probe."""

    probe: bool


class BreakerOpen(Exception):
    """The breaker refused the call; ``retry_in`` says when it lets a probe through."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit breaker for {name} is open; next probe in {retry_in:.0f} s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    """A circuit breaker whose state is shared through ``store`` (see the module)."""

    def __init__(
        self,
        name: str,
        store: BreakerStore,
        policy: BreakerPolicy,
        observer: BreakerObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.store = store
        self.policy = policy
        self.observer = observer
        self.clock = clock
        prefix = f"breaker:{name}:"
        self._failures_key = prefix + "failures"
        self._opened_key = prefix + "opened"
        self._probe_key = prefix + "probe"

    async def state(self) -> BreakerState:
        """The shared state now (and the gauge set to it)."""
        opened = await self._opened_at()
        return self._report(self._state_for(opened))

    async def acquire(self) -> Permit:
        """Leave to call, or ``BreakerOpen``. Report the call's outcome with
        ``record_success`` / ``record_failure`` and the same permit."""
        opened = await self._opened_at()
        state = self._report(self._state_for(opened))
        if state is BreakerState.CLOSED:
            return Permit(probe=False)
        assert opened is not None
        retry_in = max(0.0, opened + self.policy.reset_after - self.clock())
        if state is BreakerState.HALF_OPEN:
            ttl = self.policy.probe_timeout + PROBE_SLACK_SECONDS
            if await self.store.set_nx(self._probe_key, b"1", ttl):
                log.info("circuit breaker half-open: probing", breaker=self.name)
                self._transition(BreakerState.HALF_OPEN)
                return Permit(probe=True)
        raise BreakerOpen(self.name, retry_in)

    async def record_success(self, permit: Permit) -> None:
        # Only the probe closes the breaker: a call let through before it opened says
        # nothing about the provider now.
        if not permit.probe:
            return
        await self.store.delete(self._opened_key, self._failures_key, self._probe_key)
        log.info("circuit breaker closed", breaker=self.name)
        self._transition(BreakerState.CLOSED)
        self._report(BreakerState.CLOSED)

    async def record_failure(self, permit: Permit) -> None:
        now = self.clock()
        if permit.probe:
            await self.store.set(self._opened_key, _stamp(now), OPENED_TTL_SECONDS)
            await self.store.delete(self._probe_key)
            log.warning("circuit breaker probe failed: open again", breaker=self.name)
            self._transition(BreakerState.OPEN)
            self._report(BreakerState.OPEN)
            return
        count = await self.store.window_add(self._failures_key, now, self.policy.window)
        if count < self.policy.failures:
            return
        if await self.store.set_nx(self._opened_key, _stamp(now), OPENED_TTL_SECONDS):
            log.warning(
                "circuit breaker opened",
                breaker=self.name,
                failures=count,
                window_seconds=self.policy.window,
                reset_after_seconds=self.policy.reset_after,
            )
            self._transition(BreakerState.OPEN)
        self._report(BreakerState.OPEN)

    async def reset(self) -> None:
        """Close the breaker and forget its failures (tests and operators)."""
        await self.store.delete(self._opened_key, self._failures_key, self._probe_key)
        self._report(BreakerState.CLOSED)

    async def _opened_at(self) -> float | None:
        raw = await self.store.get(self._opened_key)
        return None if raw is None else float(raw)

    def _state_for(self, opened: float | None) -> BreakerState:
        if opened is None:
            return BreakerState.CLOSED
        if self.clock() - opened < self.policy.reset_after:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _report(self, state: BreakerState) -> BreakerState:
        if self.observer is not None:
            self.observer.breaker_state(self.name, state)
        return state

    def _transition(self, to: BreakerState) -> None:
        if self.observer is not None:
            self.observer.breaker_transition(self.name, to)


def _stamp(now: float) -> bytes:
    return repr(now).encode()


# -- retries ---------------------------------------------------------------------------


class RetryableError(Exception):
    """A failure worth another try; ``retry_after`` is the server's wish, in seconds."""

    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base: float = 0.5  # the first wait is up to this long (full jitter)
    cap: float = 10.0  # no wait is longer; a longer Retry-After is not retried


def retrying(
    policy: RetryPolicy, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> AsyncRetrying:
    """A tenacity loop for ``RetryableError``: ``async for attempt in retrying(p):``.

    ``sleep`` is how it waits (tests pass a recorder)."""
    jitter = wait_random_exponential(multiplier=policy.base, max=policy.cap)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return float(jitter(state))

    def worth_retrying(exc: BaseException) -> bool:
        # A server that asks for a longer pause than we would wait is not retried at
        # all: honouring Retry-After means not calling again sooner than it says.
        if not isinstance(exc, RetryableError):
            return False
        return exc.retry_after is None or exc.retry_after <= policy.cap

    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(worth_retrying),
        reraise=True,
        sleep=sleep,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
