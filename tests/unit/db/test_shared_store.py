"""The shared store's primitives (db/shared_store.py) under concurrency, on the in-process store
and on real Redis (a prefix of the test's own)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from tests.conftest import REDIS_URL

from quizplatform.db.shared_store import COMMAND_SLOTS, KeyValueStore, MemoryStore, RedisStore


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis = RedisStore(REDIS_URL, prefix=f"qptest-kv-{uuid.uuid4().hex[:10]}:")
    try:
        yield redis
    finally:
        await redis.flush()
        await redis.close()


async def test_more_concurrent_operations_than_the_pool_has_connections(
    store: KeyValueStore,
) -> None:
    """A burst beyond redis-py's connection limit waits for free connections instead of
    failing (as if Redis were down) and retrying for seconds."""
    count = 3 * COMMAND_SLOTS
    async with asyncio.timeout(5):
        await asyncio.gather(*(store.set(f"k{i}", str(i).encode()) for i in range(count)))
        values = await asyncio.gather(*(store.get(f"k{i}") for i in range(count)))
        await asyncio.gather(*(store.publish("channel", str(i)) for i in range(count)))
    assert values == [str(i).encode() for i in range(count)]


async def test_concurrent_increments_are_all_counted(store: KeyValueStore) -> None:
    totals = await asyncio.gather(
        *(store.incr_many([("a", 1, 60), ("b", 2, 60)]) for _ in range(50))
    )
    assert sorted(t[0] for t in totals) == list(range(1, 51))
    assert await store.incr_many([("a", 0, 60), ("b", 0, 60)]) == [50, 100]


async def test_concurrent_claims_never_exceed_the_limit(store: KeyValueStore) -> None:
    """window_claim counts and adds in one step: of many concurrent attempts, exactly
    ``limit`` are claimed; settling them as failures fills the window."""
    now, limit = time.time(), 5
    outcomes = await asyncio.gather(
        *(store.window_claim("lock", f"a{i}", now, 60.0, limit) for i in range(40))
    )
    claimed = [f"a{i}" for i, (outcome, _) in enumerate(outcomes) if outcome == "claimed"]
    assert len(claimed) == limit
    assert {outcome for outcome, _ in outcomes} == {"claimed", "busy"}
    for attempt in claimed:
        await store.window_settle("lock", attempt, now, failed=True)
    outcome, oldest = await store.window_claim("lock", "late", now + 1, 60.0, limit)
    assert outcome == "full"
    assert oldest == pytest.approx(now)


async def test_a_successful_attempt_gives_its_place_back(store: KeyValueStore) -> None:
    now = time.time()
    assert (await store.window_claim("lock", "one", now, 60.0, 1))[0] == "claimed"
    assert (await store.window_claim("lock", "two", now, 60.0, 1))[0] == "busy"
    await store.window_settle("lock", "one", now, failed=False)
    assert (await store.window_claim("lock", "two", now, 60.0, 1))[0] == "claimed"
