"""The rate limiter (services/ratelimit.py): its sliding window, and its counts shared
by several instances through the store (in-process, and real Redis).

Times are passed in explicitly and lie a few windows in the future: ``flush`` forgets
counters two windows older than the real clock, and must not forget these.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import pytest

from quizplatform.db.shared_store import KeyValueStore, MemoryStore
from quizplatform.services.ratelimit import Limit, RateLimiter

from .conftest import StoreFactory

WINDOW = 60.0


def window_start(windows_ahead: int = 5) -> float:
    """The start of a window ``windows_ahead`` windows after the current one."""
    return (int(time.time() // WINDOW) + windows_ahead) * WINDOW


def accepted(limiter: RateLimiter, key: str, limit: Limit, now: float, hits: int) -> int:
    """How many of ``hits`` requests at ``now`` the limiter lets through."""
    return sum(limiter.hit(key, limit, now) is None for _ in range(hits))


async def shared_total(store: KeyValueStore, key: str, now: float) -> int:
    """What the store holds for ``key``'s window at ``now`` (all instances' flushed hits)."""
    value = await store.get(f"rl:{key}:{int(now // WINDOW)}")
    return int(value or b"0")


# -- Limit ----------------------------------------------------------------------------------
def test_parse_reads_requests_per_seconds() -> None:
    assert Limit.parse("300/60") == Limit(300, 60.0)
    assert Limit.parse("5/0.5") == Limit(5, 0.5)
    assert Limit.parse("7") == Limit(7, 60.0)


@pytest.mark.parametrize("text", ["0/60", "-1/60", "5/0", "5/-3", "x/60", "5/y", ""])
def test_parse_refuses_what_is_not_a_limit(text: str) -> None:
    with pytest.raises(ValueError):
        Limit.parse(text)


# -- one instance ---------------------------------------------------------------------------
async def test_exactly_the_limit_passes_in_a_window(stores: StoreFactory) -> None:
    limiter, start = RateLimiter(stores()), window_start()
    limit = Limit(10, WINDOW)
    assert accepted(limiter, "k", limit, start + 1, 10) == 10
    assert limiter.hit("k", limit, start + 2) is not None
    await limiter.flush()
    assert limiter.hit("k", limit, start + 3) is not None
    assert await shared_total(limiter.store, "k", start) == 10


def test_retry_after_is_the_rest_of_the_window_rounded_up_and_at_least_one_second() -> None:
    limiter, start = RateLimiter(MemoryStore()), window_start()
    limit = Limit(1, WINDOW)
    assert limiter.hit("k", limit, start) is None
    assert limiter.hit("k", limit, start + 45) == 15
    assert limiter.hit("k", limit, start + 44.5) == 16
    assert limiter.hit("k", limit, start + WINDOW - 0.01) == 1


def test_keys_are_counted_apart_each_with_its_own_limit() -> None:
    limiter, now = RateLimiter(MemoryStore()), window_start() + 1
    assert accepted(limiter, "ip:login:1", Limit(2, WINDOW), now, 5) == 2
    assert accepted(limiter, "ip:login:2", Limit(2, WINDOW), now, 5) == 2
    assert accepted(limiter, "user:write:1", Limit(4, WINDOW), now, 5) == 4
    assert limiter.hit("ip:login:1", Limit(2, WINDOW), now) is not None


def test_the_previous_window_counts_by_how_much_of_it_still_overlaps() -> None:
    limiter, start = RateLimiter(MemoryStore()), window_start()
    limit = Limit(10, WINDOW)
    assert accepted(limiter, "k", limit, start + 59, 10) == 10
    # The boundary instant belongs to the new window, which the full previous one overlaps.
    assert limiter.hit("k", limit, start + WINDOW) is not None
    # Half-way, half of the previous window still counts: 5 of 10 remain.
    assert accepted(limiter, "k", limit, start + WINDOW * 1.5, 10) == 5
    # A quarter of the way into the next one: 5 * 0.75 = 3.75 still count, so 6 pass.
    assert accepted(limiter, "k", limit, start + WINDOW * 2.25, 10) == 6


def test_a_window_two_back_does_not_count() -> None:
    limiter, start = RateLimiter(MemoryStore()), window_start()
    limit = Limit(10, WINDOW)
    assert accepted(limiter, "k", limit, start + 1, 10) == 10
    assert accepted(limiter, "k", limit, start + 2 * WINDOW, 12) == 10


def test_reset_forgets_the_local_counts() -> None:
    limiter, now = RateLimiter(MemoryStore()), window_start() + 1
    assert accepted(limiter, "k", Limit(3, WINDOW), now, 5) == 3
    limiter.reset()
    assert accepted(limiter, "k", Limit(3, WINDOW), now, 5) == 3


async def test_concurrent_requests_never_pass_beyond_the_limit(stores: StoreFactory) -> None:
    """Many concurrent requests while the limiter flushes in the background: exactly the
    limit passes, and the store ends up with exactly what passed (hits accepted while a
    flush waits for the store are pushed by the next one, not lost nor counted twice)."""
    limiter = RateLimiter(stores(), flush_interval=0.002)
    limit, now = Limit(60, WINDOW), window_start() + 1
    flusher = asyncio.create_task(limiter.run())
    rng = random.Random(15)

    async def request() -> bool:
        await asyncio.sleep(rng.random() * 0.05)
        return limiter.hit("k", limit, now) is None

    try:
        results = await asyncio.gather(*(request() for _ in range(300)))
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
    await limiter.flush()
    assert sum(results) == 60
    assert await shared_total(limiter.store, "k", now) == 60


# -- several instances sharing the store ------------------------------------------------------
async def test_an_instance_learns_the_others_counts_at_its_flush(stores: StoreFactory) -> None:
    one, two = RateLimiter(stores()), RateLimiter(stores())
    limit, now = Limit(10, WINDOW), window_start() + 1
    assert accepted(one, "k", limit, now, 6) == 6
    await one.flush()
    # Two knows nothing yet: its first request passes, and its flush reads the total.
    assert two.hit("k", limit, now) is None
    await two.flush()
    assert accepted(two, "k", limit, now, 10) == 3
    await two.flush()
    assert await shared_total(two.store, "k", now) == 10


async def test_instances_overshoot_by_at_most_what_the_others_pass_between_flushes(
    stores: StoreFactory,
) -> None:
    """Rounds: every instance takes a request, then all flush at once. An instance's
    knowledge misses at most the others' requests of the last round and the current one,
    so at most ``limit + 2 * (instances - 1)`` pass (without sharing: ``instances * limit``).
    """
    limiters = [RateLimiter(stores()) for _ in range(4)]
    limit, now = Limit(20, WINDOW), window_start() + 1
    passed = 0
    for _ in range(3 * limit.requests):
        passed += sum(limiter.hit("k", limit, now) is None for limiter in limiters)
        await asyncio.gather(*(limiter.flush() for limiter in limiters))
    assert limit.requests <= passed <= limit.requests + 2 * (len(limiters) - 1)
    assert await shared_total(limiters[0].store, "k", now) == passed


async def test_the_next_window_starts_from_the_shared_total_of_the_last(
    stores: StoreFactory,
) -> None:
    one, two = RateLimiter(stores()), RateLimiter(stores())
    limit, start = Limit(10, WINDOW), window_start()
    assert accepted(one, "k", limit, start + 1, 5) == 5
    await one.flush()
    assert accepted(two, "k", limit, start + 2, 1) == 1
    await two.flush()  # two knows all 6 of this window
    assert accepted(two, "k", limit, start + 3, 4) == 4
    await two.flush()
    # Half-way into the next window, 10 * 0.5 of the last still count.
    assert accepted(two, "k", limit, start + WINDOW * 1.5, 10) == 5


async def test_an_instance_new_to_a_key_weighs_the_previous_window_after_its_flush(
    stores: StoreFactory,
) -> None:
    """One instance took the whole limit in the last window; another, which saw none of
    it, gets the key's requests now (a new instance, a client's new connection). After
    its first flush it must weigh the last window like the first instance would."""
    one, two = RateLimiter(stores()), RateLimiter(stores())
    limit, start = Limit(10, WINDOW), window_start()
    assert accepted(one, "k", limit, start + 1, 10) == 10
    await one.flush()
    half_way = start + WINDOW * 1.5  # 10 * 0.5 of the last window still count
    assert accepted(one, "k", limit, half_way, 10) == 5
    await one.flush()
    assert accepted(two, "k", limit, half_way, 1) == 1  # knows nothing before its flush
    await two.flush()
    assert accepted(two, "k", limit, half_way, 10) == 0
    assert accepted(one, "k", limit, half_way, 10) == 0
