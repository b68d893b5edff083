"""The circuit breaker (on the in-process store and on real Redis, shared by two breaker
objects as two instances would share it) and the retry policy."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from email.utils import formatdate

import pytest
from tests.conftest import REDIS_URL

from quizplatform.db.shared_store import KeyValueStore, MemoryStore, RedisStore
from quizplatform.runtime.resilience import (
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RetryableError,
    RetryPolicy,
    parse_retry_after,
    retrying,
)

POLICY = BreakerPolicy(failures=3, window=10.0, reset_after=30.0, probe_timeout=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    def __init__(self) -> None:
        self.states: list[tuple[str, BreakerState]] = []
        self.transitions: list[tuple[str, BreakerState]] = []

    def breaker_state(self, name: str, state: BreakerState) -> None:
        self.states.append((name, state))

    def breaker_transition(self, name: str, to: BreakerState) -> None:
        self.transitions.append((name, to))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis = RedisStore(REDIS_URL, prefix=f"qptest-breaker-{uuid.uuid4().hex[:8]}:")
    try:
        yield redis
    finally:
        await redis.flush()
        await redis.close()


def breaker(store: KeyValueStore, clock: Clock, observer: Recorder | None = None) -> CircuitBreaker:
    return CircuitBreaker("gemini", store, POLICY, observer=observer, clock=clock)


async def fail(b: CircuitBreaker) -> None:
    await b.record_failure(await b.acquire())


async def test_three_failures_within_the_window_open_it(store: KeyValueStore) -> None:
    clock, seen = Clock(), Recorder()
    b = breaker(store, clock, seen)
    await fail(b)
    clock.now += 4
    await fail(b)
    assert await b.state() is BreakerState.CLOSED
    clock.now += 4
    await fail(b)
    assert await b.state() is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as refused:
        await b.acquire()
    assert 25 < refused.value.retry_in <= 30
    assert seen.transitions == [("gemini", BreakerState.OPEN)]
    assert seen.states[-1] == ("gemini", BreakerState.OPEN)


async def test_failures_spread_wider_than_the_window_do_not(store: KeyValueStore) -> None:
    clock = Clock()
    b = breaker(store, clock)
    for _ in range(5):
        await fail(b)
        clock.now += 6  # never three within 10 s
    assert await b.state() is BreakerState.CLOSED


async def test_half_open_lets_one_probe_through_and_success_closes(store: KeyValueStore) -> None:
    clock, seen = Clock(), Recorder()
    b = breaker(store, clock, seen)
    for _ in range(3):
        await fail(b)
    clock.now += 30
    assert await b.state() is BreakerState.HALF_OPEN
    probe = await b.acquire()
    assert probe.probe
    with pytest.raises(BreakerOpen):  # only one probe at a time
        await b.acquire()
    await b.record_success(probe)
    assert await b.state() is BreakerState.CLOSED
    assert not (await b.acquire()).probe
    assert [to for _, to in seen.transitions] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


async def test_a_failed_probe_opens_it_for_another_reset_period(store: KeyValueStore) -> None:
    clock = Clock()
    b = breaker(store, clock)
    for _ in range(3):
        await fail(b)
    clock.now += 31
    probe = await b.acquire()
    await b.record_failure(probe)
    assert await b.state() is BreakerState.OPEN
    clock.now += 29
    assert await b.state() is BreakerState.OPEN
    clock.now += 2
    assert await b.state() is BreakerState.HALF_OPEN


async def test_a_probe_that_never_reports_does_not_hold_half_open_forever(
    store: KeyValueStore,
) -> None:
    clock = Clock()
    b = breaker(store, clock)
    for _ in range(3):
        await fail(b)
    clock.now += 30
    await b.acquire()  # the probing process dies here
    if isinstance(store, MemoryStore):  # the probe slot's TTL runs on the store's own clock
        store._values[b._probe_key] = (b"1", time.monotonic() - 1)
    else:
        await store.delete(b._probe_key)  # what its TTL (probe timeout + slack) does
    assert (await b.acquire()).probe


async def test_only_the_probe_closes_it(store: KeyValueStore) -> None:
    clock = Clock()
    b = breaker(store, clock)
    early = await b.acquire()  # a call let through while closed
    for _ in range(3):
        await fail(b)
    await b.record_success(early)  # finishing late says nothing about the provider now
    assert await b.state() is BreakerState.OPEN


@pytest.mark.postgres
async def test_two_instances_sharing_redis_open_and_close_together() -> None:
    prefix = f"qptest-breaker-{uuid.uuid4().hex[:8]}:"
    one, two = RedisStore(REDIS_URL, prefix), RedisStore(REDIS_URL, prefix)
    clock, seen_one, seen_two = Clock(), Recorder(), Recorder()
    a, b = breaker(one, clock, seen_one), breaker(two, clock, seen_two)
    try:
        await fail(a)
        await fail(b)
        await fail(a)  # three failures between them
        assert await b.state() is BreakerState.OPEN
        with pytest.raises(BreakerOpen):
            await b.acquire()
        clock.now += 30
        probes = await asyncio.gather(a.acquire(), b.acquire(), return_exceptions=True)
        winners = [p for p in probes if not isinstance(p, BaseException)]
        assert len(winners) == 1  # one probe for both instances
        winner = a if not isinstance(probes[0], BaseException) else b
        await winner.record_success(winners[0])
        assert await a.state() is BreakerState.CLOSED
        assert await b.state() is BreakerState.CLOSED
        opened = [
            t for s in (seen_one, seen_two) for t in s.transitions if t[1] is BreakerState.OPEN
        ]
        assert len(opened) == 1  # the transition is counted once
    finally:
        await one.flush()
        await one.close()
        await two.close()


# -- retries ---------------------------------------------------------------------------


class Flaky(RetryableError):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("try again")
        self.retry_after = retry_after


async def run(policy: RetryPolicy, failures: list[Exception]) -> tuple[int, list[float]]:
    """Call a function that raises ``failures`` in turn; the calls and the waits asked for
    (recorded instead of slept)."""
    calls = 0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async for attempt in retrying(policy, sleep=sleep):
        with attempt:
            calls += 1
            if calls <= len(failures):
                raise failures[calls - 1]
    return calls, waits


async def test_retries_until_success_within_the_attempts() -> None:
    count, waits = await run(RetryPolicy(attempts=3, base=0.01, cap=0.05), [Flaky(), Flaky()])
    assert count == 3 and len(waits) == 2


async def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    with pytest.raises(Flaky):
        await run(RetryPolicy(attempts=2, base=0.01, cap=0.05), [Flaky(), Flaky(), Flaky()])


async def test_other_errors_are_not_retried() -> None:
    with pytest.raises(KeyError):
        await run(RetryPolicy(attempts=5, base=0.01, cap=0.05), [KeyError("x")])


async def test_retry_after_is_honoured() -> None:
    count, waits = await run(RetryPolicy(attempts=2, base=0.01, cap=5), [Flaky(retry_after=4)])
    assert count == 2
    assert waits == [4]


async def test_a_retry_after_longer_than_the_cap_is_not_retried() -> None:
    with pytest.raises(Flaky):
        await run(RetryPolicy(attempts=3, base=0.01, cap=1), [Flaky(retry_after=60)])


async def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(attempts=8, base=1.0, cap=6.0)
    samples = [(await run(policy, [Flaky()] * 7))[1] for _ in range(40)]
    for waits in samples:
        # Full jitter: each wait anywhere in [0, min(cap, base * 2^n)].
        assert all(0 <= w <= min(6.0, 2.0 ** (n + 1)) for n, w in enumerate(waits))
    first, last = [s[0] for s in samples], [s[-1] for s in samples]
    assert len({round(w, 6) for w in first}) > 30  # random, not a fixed ladder
    assert max(last) > 2.0  # the range grew beyond the first step's


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    assert 58 <= (parse_retry_after(formatdate(now + 60, usegmt=True), now) or 0) <= 61
