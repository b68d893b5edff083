"""The near cache (services/cache.py): expiry, its size bound, invalidation across
instances (two caches sharing one store: the in-process one, and real Redis), and the
memory of recent invalidations that keeps a value loaded during an invalidation out.

The cache's own clock (``time.monotonic``) is replaced by a hand-moved one where time
matters; the tests across Redis run on the real clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from quizplatform.db.shared_store import MemoryStore, RedisStore
from quizplatform.services import cache as cache_module
from quizplatform.services.cache import NearCache

from .conftest import StoreFactory

PROPAGATION_LIMIT = 1.0  # seconds an invalidation may take to reach another instance


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The near cache's clock, moved by hand (asyncio keeps the real one)."""
    fake = Clock()
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


async def eventually(condition: Callable[[], bool], limit: float = 5.0) -> float:
    """Wait until ``condition()`` holds; return how long that took (fail after ``limit`` s)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > limit:
            pytest.fail(f"still not true after {limit} s")
        await asyncio.sleep(0.002)
    return loop.time() - started


async def started_caches(stores: StoreFactory, count: int, **options: Any) -> list[NearCache]:
    """``count`` caches as on ``count`` instances, each listening for invalidations."""
    caches = [NearCache(stores(), ttl=60, **options) for _ in range(count)]
    for cache in caches:
        cache.put("probe", "before the subscription")
        await cache.start()
    if isinstance(caches[0]._store, RedisStore):
        # Redis confirms a subscription with "*" (drop everything): then it is listening.
        await eventually(lambda: all(cache.get("probe") is None for cache in caches))
    return caches


# -- one cache ------------------------------------------------------------------------------
def test_an_entry_is_served_until_its_ttl_and_then_dropped(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=10)
    cache.put("quiz:1", "v1")
    clock.now += 9.99
    assert cache.get("quiz:1") == "v1"
    clock.now += 0.01
    assert cache.get("quiz:1") is None
    assert "quiz:1" not in cache._entries
    cache.put("quiz:1", "v2")  # a new put starts a new ttl
    clock.now += 9.99
    assert cache.get("quiz:1") == "v2"


def test_beyond_maxsize_the_least_recently_used_goes_first(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=10, maxsize=3)
    for key in "abc":
        cache.put(key, key.upper())
        clock.now += 1
    cache.put("a", "A2")  # put again: the most recent now
    assert cache.get("b") == "B"  # a read makes it the most recent, but not younger
    cache.put("d", "D")  # c goes: least recently used
    assert [cache.get(k) for k in "abcd"] == ["A2", "B", None, "D"]
    for key in "efgh":
        cache.put(key, key)
    assert len(cache._entries) == 3


def test_a_read_does_not_extend_the_ttl(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=10, maxsize=3)
    cache.put("a", "A")
    clock.now += 9
    assert cache.get("a") == "A"
    clock.now += 1
    assert cache.get("a") is None


def test_a_hot_entry_survives_many_puts_after_it(clock: Clock) -> None:
    """The attempt shapes of an exam (one entry each) must not push out its quiz."""
    cache = NearCache(MemoryStore(), ttl=60, maxsize=100)
    cache.put("quiz:hot", "Q")
    for n in range(1000):
        cache.put(f"attempt:{n}", n)
        assert cache.get("quiz:hot") == "Q", n
    assert len(cache._entries) == 100


async def test_invalidate_drops_the_key_here_at_once_and_only_that_key() -> None:
    cache = NearCache(MemoryStore(), ttl=10)
    cache.put("quiz:1", "v1")
    cache.put("quiz:2", "v2")
    await cache.invalidate("quiz:1")
    assert cache.get("quiz:1") is None
    assert cache.get("quiz:2") == "v2"


async def test_an_invalidation_that_cannot_be_published_still_drops_the_key_here() -> None:
    class Unreachable(MemoryStore):
        async def publish(self, channel: str, message: str) -> None:
            raise ConnectionError("store down")

    cache = NearCache(Unreachable(), ttl=10)
    cache.put("quiz:1", "v1")
    await cache.invalidate("quiz:1")
    assert cache.get("quiz:1") is None


async def test_a_star_message_drops_everything(stores: StoreFactory) -> None:
    one, two = await started_caches(stores, 2)
    for key in ("quiz:1", "token:2"):
        two.put(key, "value")
    await one.invalidate("*")
    await eventually(lambda: two.get("quiz:1") is None and two.get("token:2") is None)


# -- two instances --------------------------------------------------------------------------
async def test_an_invalidation_reaches_the_other_instance_quickly(stores: StoreFactory) -> None:
    writer, reader = await started_caches(stores, 2)
    for cache in (writer, reader):
        cache.put("quiz:1", "old")
        cache.put("quiz:2", "other")
    await writer.invalidate("quiz:1")
    assert writer.get("quiz:1") is None
    took = await eventually(lambda: reader.get("quiz:1") is None)
    assert took < PROPAGATION_LIMIT
    assert reader.get("quiz:2") == "other"


async def test_every_invalidation_of_a_burst_arrives(stores: StoreFactory) -> None:
    writer, reader = await started_caches(stores, 2)
    keys = [f"quiz:{i}" for i in range(200)]
    for key in keys:
        reader.put(key, "old")
    async with asyncio.timeout(5):  # more at once than the store has connections
        await asyncio.gather(*(writer.invalidate(key) for key in keys))
    await eventually(lambda: all(reader.get(key) is None for key in keys), PROPAGATION_LIMIT)


# -- the recent-invalidation memory ---------------------------------------------------------
async def load_through(cache: NearCache, key: str, load: Callable[[], Awaitable[str]]) -> str:
    """Read ``key`` as QuizService.snapshot does: from the cache, else load and put it
    back, unless the key was invalidated since the load began."""
    cached = cache.get(key)
    if cached is not None:
        return str(cached)
    started = time.monotonic()
    value = await load()
    cache.put(key, value, since=started)
    return value


async def test_a_value_loaded_while_the_key_is_invalidated_is_not_cached(
    stores: StoreFactory,
) -> None:
    """A slow read that fetched the old value before the write; the write's invalidation
    arrives before the read puts it back. The old value must not stay in the cache."""
    writer, reader = await started_caches(stores, 2, remember_invalidations=5.0)
    database = {"quiz:1": "old"}
    fetched, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> str:
        value = database["quiz:1"]
        fetched.set()
        await release.wait()
        return value

    loading = asyncio.create_task(load_through(reader, "quiz:1", slow_load))
    await fetched.wait()
    database["quiz:1"] = "new"
    await writer.invalidate("quiz:1")
    await eventually(lambda: reader.recently_invalidated("quiz:1"))
    release.set()
    assert await loading == "old"  # this reader got what was there when it read
    assert reader.get("quiz:1") is None  # but did not keep it

    async def load() -> str:
        return database["quiz:1"]

    assert await load_through(reader, "quiz:1", load) == "new"
    assert reader.get("quiz:1") == "new"  # a load begun after the invalidation is kept


def test_a_load_begun_at_the_instant_of_the_invalidation_is_not_kept(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=10, remember_invalidations=5.0)
    cache._on_message("quiz:1")
    cache.put("quiz:1", "maybe old", since=clock.now)
    assert cache.get("quiz:1") is None
    cache.put("quiz:2", "unrelated", since=clock.now)
    assert cache.get("quiz:2") == "unrelated"


def test_after_a_star_no_load_begun_before_it_is_kept(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=10, remember_invalidations=5.0)
    began = clock.now
    clock.now += 1
    cache._on_message("*")
    cache.put("quiz:7", "maybe old", since=began)
    assert cache.get("quiz:7") is None
    cache.put("quiz:7", "fresh", since=clock.now + 0.5)
    assert cache.get("quiz:7") == "fresh"


def test_an_invalidation_is_remembered_for_the_window_only(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=60, remember_invalidations=5.0)
    cache._on_message("quiz:1")
    clock.now += 5.0
    assert cache.recently_invalidated("quiz:1")
    clock.now += 0.01
    assert not cache.recently_invalidated("quiz:1")
    assert not cache.recently_invalidated("quiz:2")


def test_without_the_memory_nothing_is_remembered(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=60)
    began = clock.now
    cache._on_message("quiz:1")
    assert not cache.recently_invalidated("quiz:1")
    cache.put("quiz:1", "value", since=began)
    assert cache.get("quiz:1") == "value"


def test_the_memory_forgets_old_invalidations_and_stays_small(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=60, remember_invalidations=5.0)
    cache._on_message("a")
    clock.now += 1
    cache._on_message("b")
    clock.now += 1
    cache._on_message("a")  # noted again: now younger than b
    clock.now += 4.5  # b is 5.5 s old, a 4.5 s
    cache._on_message("c")
    assert cache.invalidated_since("a", 0.0)
    assert not cache.invalidated_since("b", 0.0)  # forgotten
    for i in range(10_000):
        cache._on_message(f"quiz:{i}")
        clock.now += 0.01  # a hundred a second: 5 s hold about 500
    assert len(cache._invalidated) <= 501


def test_clear_forgets_entries_and_invalidations(clock: Clock) -> None:
    cache = NearCache(MemoryStore(), ttl=60, remember_invalidations=5.0)
    began = clock.now
    cache.put("quiz:1", "v")
    cache._on_message("quiz:2")
    cache._on_message("*")
    cache.clear()
    assert cache.get("quiz:1") is None
    cache.put("quiz:2", "v2", since=began)
    assert cache.get("quiz:2") == "v2"


class _Loader:
    """Counts its calls; each call waits for ``release`` (so callers pile up) and puts."""

    def __init__(self, cache: NearCache, key: str, fail_first: bool = False) -> None:
        self.cache, self.key, self.fail_first = cache, key, fail_first
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        call = self.calls
        await self.release.wait()
        if self.fail_first and call == 1:
            raise RuntimeError("database gone")
        value = f"v{call}"
        self.cache.put(self.key, value)
        return value


async def _pile_up(cache: NearCache, loader: _Loader, callers: int) -> list[Any]:
    tasks = [asyncio.create_task(cache.load_once(loader.key, loader)) for _ in range(callers)]
    await asyncio.sleep(0)  # every caller is in: one loading, the rest waiting
    return tasks


async def test_concurrent_misses_load_once() -> None:
    cache = NearCache(MemoryStore(), ttl=10, remember_invalidations=10)
    loader = _Loader(cache, "quiz:1")
    tasks = await _pile_up(cache, loader, 50)
    loader.release.set()
    assert await asyncio.gather(*tasks) == ["v1"] * 50
    assert loader.calls == 1
    assert cache.get("quiz:1") == "v1"
    assert not cache._loading  # nothing left behind


async def test_when_the_load_fails_the_waiters_load_for_themselves() -> None:
    cache = NearCache(MemoryStore(), ttl=10, remember_invalidations=10)
    loader = _Loader(cache, "quiz:1", fail_first=True)
    tasks = await _pile_up(cache, loader, 3)
    loader.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], RuntimeError)  # only the caller whose load failed
    assert sorted(results[1:]) == ["v2", "v3"]
    assert not cache._loading


async def test_a_load_that_an_invalidation_overtook_is_not_shared() -> None:
    cache = NearCache(MemoryStore(), ttl=10, remember_invalidations=10)
    loader = _Loader(cache, "quiz:1")
    first = asyncio.create_task(cache.load_once("quiz:1", loader))
    await asyncio.sleep(0)
    await cache.invalidate("quiz:1")  # the quiz changed while it was being read
    second = asyncio.create_task(cache.load_once("quiz:1", loader))
    await asyncio.sleep(0)
    loader.release.set()
    assert await first == "v1"
    assert await second == "v2"  # read again, after the change
    assert loader.calls == 2
