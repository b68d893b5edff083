"""Stores for the service unit tests: the in-process store, and real Redis under a
prefix of the test's own (several stores on one prefix act as several instances)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from tests.conftest import REDIS_URL

from quizplatform.db.shared_store import KeyValueStore, MemoryStore, RedisStore

STORES = ["memory", pytest.param("redis", marks=pytest.mark.postgres)]

StoreFactory = Callable[[], KeyValueStore]


@pytest.fixture
async def redis_stores() -> AsyncIterator[Callable[[], RedisStore]]:
    """Opens RedisStores sharing one fresh prefix; flushed and closed afterwards."""
    prefix = f"qptest-unit-{uuid.uuid4().hex[:10]}:"
    opened: list[RedisStore] = []

    def open_store() -> RedisStore:
        store = RedisStore(REDIS_URL, prefix=prefix)
        opened.append(store)
        return store

    yield open_store
    if opened:
        await opened[0].flush()
    for store in opened:
        await store.close()


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest, redis_stores: Callable[[], RedisStore]) -> StoreFactory:
    """Opens the stores of instances that share state: one MemoryStore handed to every
    caller (one process), or a new RedisStore on the test's prefix each call."""
    if request.param == "redis":
        return redis_stores
    shared = MemoryStore()
    return lambda: shared
