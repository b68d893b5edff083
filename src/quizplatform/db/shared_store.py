"""Shared state that is not the source of truth: tokens, lockout counters, leaderboards,
caches and locks.

``RedisStore`` is what several instances share; ``MemoryStore`` is its in-process twin for
the embedded single-instance default. Both offer the same small set of primitives, so the
services above never know which one they talk to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quizplatform.db.redis_retry import FailoverRetry
from quizplatform.db.sentinel import MasterFollowingConnection, NewestMasterSentinel
from quizplatform.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

InvalidationHandler = Callable[[str], Awaitable[None] | None]


class KeyValueStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...
    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool: ...
    async def delete(self, *keys: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def incr_many(self, updates: list[tuple[str, int, float]]) -> list[int]:
        """Add ``amount`` to each counter (created with ``ttl``); return the new values."""
        ...

    async def window_add(self, key: str, now: float, window: float) -> int:
        """Record an event at ``now`` and return how many events fall in the window."""
        ...

    async def window_count(self, key: str, now: float, window: float) -> tuple[int, float]:
        """Events in the window ending at ``now``, and the time of the oldest (0 if none)."""
        ...

    async def window_claim(
        self, key: str, attempt: str, now: float, window: float, limit: int
    ) -> tuple[str, float]:
        """Atomically count the failures in the window and the attempts still pending, and
        record ``attempt`` as pending if together they stay below ``limit``.

        Returns ``("claimed", _)``, ``("busy", _)`` (below the limit in failures, but
        attempts in flight could reach it: try again shortly) or ``("full", oldest)`` (the
        limit of failures is reached; ``oldest`` is the oldest failure's time)."""
        ...

    async def window_settle(self, key: str, attempt: str, now: float, *, failed: bool) -> None:
        """End pending ``attempt``: it counts as a failure at ``now`` if ``failed``."""
        ...

    async def ranked_put(self, key: str, member: str, rank: float, details: bytes) -> bool:
        """Keep ``member`` with ``details`` if ``rank`` beats its current rank."""
        ...

    async def ranked_top(self, key: str, limit: int) -> list[bytes]:
        """The details of the best ``limit`` members, best first."""
        ...

    async def publish(self, channel: str, message: str) -> None: ...
    async def subscribe(self, channel: str, handler: InvalidationHandler) -> None:
        """Call ``handler`` with every message on ``channel``, and with "*" whenever
        messages may have been missed (Redis: at every start or resumption of the
        subscription)."""
        ...

    async def ping(self) -> None: ...
    async def describe(self) -> dict[str, str]:
        """What the store is, for the deep health check (``detail``, maybe ``master``)."""
        ...

    async def close(self) -> None: ...
    async def flush(self) -> None:
        """Remove everything (tests only)."""
        ...


# window_claim: the count and the add in one step, so concurrent callers cannot all see
# "below the limit" before any of them adds (a raced sign-in lockout).
_WINDOW_CLAIM = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[2]))
local failures, pending, oldest = 0, 0, nil
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local member, score = entries[i], tonumber(entries[i + 1])
  if string.sub(member, 1, 2) == 'f:' then
    failures = failures + 1
    if oldest == nil or score < oldest then oldest = score end
  elseif score < now - tonumber(ARGV[6]) then
    redis.call('ZREM', KEYS[1], member)
  else
    pending = pending + 1
  end
end
if failures >= tonumber(ARGV[3]) then return {'full', tostring(oldest)} end
if failures + pending >= tonumber(ARGV[3]) then return {'busy', '0'} end
redis.call('ZADD', KEYS[1], now, 'p:' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'claimed', '0'}
"""
# A pending attempt whose instance died before settling it stops counting after this.
PENDING_SECONDS = 30.0

_RANKED_PUT = """
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def _untimed(_operation: str) -> Iterator[None]:
    yield


def _timed(
    operation: str,
) -> Callable[
    [Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]]],
    Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]],
]:
    """Time a store operation (metrics: redis_command_duration_seconds{operation}), run
    once one of the store's ``COMMAND_SLOTS`` is free."""

    def decorate(
        fn: Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]],
    ) -> Callable[Concatenate[RedisStore, P], Coroutine[Any, Any, T]]:
        async def wrapper(store: RedisStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
            async with store._slots:
                with store._timer(operation):
                    return await fn(store, *args, **kwargs)

        return wrapper

    return decorate


# Every command and every (re)connection is retried on these errors: a master that died
# or was demoted, a connection that timed out. ReadOnlyError: a demoted master's answer.
RETRY_ON = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
# 0.05, 0.1, 0.2, 0.4, then every 0.5 s: a promoted master is found within half a second.
RETRY_BACKOFF = ExponentialBackoff(cap=0.5, base=0.025)
DEFAULT_RETRY_SECONDS = 5.0
SOCKET_TIMEOUT = 2.0
SENTINEL_SOCKET_TIMEOUT = 0.5
# redis-py's pool opens at most MAX_CONNECTIONS and refuses one more at once
# (MaxConnectionsError, a ConnectionError: retried as if Redis were down). So operations
# wait for one of COMMAND_SLOTS instead; the other connections serve the subscriptions,
# which hold one each for good.
MAX_CONNECTIONS = 100
COMMAND_SLOTS = 80


def retry_policy(seconds: float = DEFAULT_RETRY_SECONDS) -> FailoverRetry:
    """The retry policy of every store connection: a store operation keeps retrying
    (reconnecting, asking the sentinels again) for up to ``seconds`` after its first
    error, which covers a failover; then the error reaches the caller. See
    ``db/redis_retry.py``."""
    return FailoverRetry(RETRY_BACKOFF, seconds, supported_errors=RETRY_ON)


def sentinel_address(entry: str) -> tuple[str, int]:
    """``"host:port"`` as redis-py's Sentinel wants it."""
    host, _, port = entry.rpartition(":")
    return host, int(port)


class RedisStore:
    """Redis-backed store (redis-py asyncio); every key carries ``prefix``.

    Either one server (``url``) or the master of ``sentinel_service`` as the sentinels
    name it (``sentinels``: "host:port" each): connections follow it through a failover.
    An operation that meets connection errors retries for up to ``retry_seconds``.
    """

    def __init__(
        self,
        url: str | None = None,
        prefix: str = "qp:",
        metrics: Metrics | None = None,
        *,
        sentinels: Sequence[str] = (),
        sentinel_service: str = "quiz",
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        password: str | None = None,
    ) -> None:
        self._timer = metrics.redis_timer if metrics else _untimed
        options: dict[str, Any] = {
            **({"password": password} if password else {}),
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "health_check_interval": 30,
            "max_connections": MAX_CONNECTIONS,
            "retry": retry_policy(retry_seconds),
        }
        self.sentinel: Sentinel | None = None
        self.service = sentinel_service
        if sentinels:
            self.sentinel = NewestMasterSentinel(  # type: ignore[no-untyped-call]  # untyped
                [sentinel_address(entry) for entry in sentinels],
                # One quick question per sentinel: a sentinel that is down is skipped for
                # the next one at once (redis-py's default would retry it for seconds).
                sentinel_kwargs={
                    **({"password": password} if password else {}),
                    "socket_timeout": SENTINEL_SOCKET_TIMEOUT,
                    "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT,
                    "retry": Retry(NoBackoff(), 0),
                },
            )
            self.redis: aioredis.Redis = self.sentinel.master_for(
                sentinel_service, connection_class=MasterFollowingConnection, **options
            )
        elif url:
            self.redis = aioredis.Redis.from_url(url, **options)
        else:
            raise ValueError("RedisStore needs a URL or sentinel addresses")
        self.prefix = prefix
        self._ranked_put = self.redis.register_script(_RANKED_PUT)
        self._window_claim = self.redis.register_script(_WINDOW_CLAIM)
        self._listeners: list[asyncio.Task[None]] = []
        self._slots = asyncio.Semaphore(COMMAND_SLOTS)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def key(self, key: str) -> str:
        """``key`` with the store's prefix, for modules that run their own commands on
        ``redis`` (the live game store) and so share this store's connection pool."""
        return self._k(key)

    @asynccontextmanager
    async def command(self, operation: str) -> AsyncIterator[None]:
        """Hold one of the command slots while running ``operation`` on ``redis``, timed
        like the store's own operations (redis_command_duration_seconds{operation})."""
        async with self._slots:
            with self._timer(operation):
                yield

    @_timed("get")
    async def get(self, key: str) -> bytes | None:
        value = await self.redis.get(self._k(key))
        return value if value is None else _as_bytes(value)

    @_timed("set")
    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self.redis.set(self._k(key), value, px=int(ttl * 1000) if ttl else None)

    @_timed("set_nx")
    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self.redis.set(self._k(key), value, px=int(ttl * 1000), nx=True))

    @_timed("delete")
    async def delete(self, *keys: str) -> None:
        if keys:
            await self.redis.delete(*(self._k(k) for k in keys))

    @_timed("exists")
    async def exists(self, key: str) -> bool:
        return bool(await self.redis.exists(self._k(key)))

    @_timed("incr_many")
    async def incr_many(self, updates: list[tuple[str, int, float]]) -> list[int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, amount, ttl in updates:
                pipe.incrby(self._k(key), amount)
                pipe.pexpire(self._k(key), int(ttl * 1000))
            results = await pipe.execute()
        return [int(v) for v in results[0::2]]

    @_timed("window_add")
    async def window_add(self, key: str, now: float, window: float) -> int:
        k = self._k(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, 0, now - window)
            pipe.zadd(k, {f"{now:.6f}:{time.perf_counter_ns()}": now})
            pipe.zcard(k)
            pipe.pexpire(k, int(window * 1000) + 1000)
            result = await pipe.execute()
        return int(result[2])

    @_timed("window_count")
    async def window_count(self, key: str, now: float, window: float) -> tuple[int, float]:
        k = self._k(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, 0, now - window)
            pipe.zcard(k)
            pipe.zrange(k, 0, 0, withscores=True)
            _, count, oldest = await pipe.execute()
        return int(count), float(oldest[0][1]) if oldest else 0.0

    @_timed("window_claim")
    async def window_claim(
        self, key: str, attempt: str, now: float, window: float, limit: int
    ) -> tuple[str, float]:
        ttl_ms = int(window * 1000) + 1000
        outcome, oldest = await self._window_claim(
            keys=[self._k(key)],
            args=[repr(now), repr(window), limit, attempt, ttl_ms, PENDING_SECONDS],
        )
        return _text(outcome), float(oldest)

    @_timed("window_settle")
    async def window_settle(self, key: str, attempt: str, now: float, *, failed: bool) -> None:
        k = self._k(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(k, f"p:{attempt}")
            if failed:
                pipe.zadd(k, {f"f:{attempt}": now})
            await pipe.execute()

    @_timed("ranked_put")
    async def ranked_put(self, key: str, member: str, rank: float, details: bytes) -> bool:
        k = self._k(key)
        result = await self._ranked_put(
            keys=[k, k + ":details"], args=[member, repr(rank), details]
        )
        return bool(result)

    @_timed("ranked_top")
    async def ranked_top(self, key: str, limit: int) -> list[bytes]:
        k = self._k(key)
        members = cast(list[bytes], await self.redis.zrevrange(k, 0, limit - 1))
        if not members:
            return []
        details = await self.redis.hmget(k + ":details", members)
        return [_as_bytes(d) for d in details if d is not None]

    @_timed("publish")
    async def publish(self, channel: str, message: str) -> None:
        await self.redis.publish(self._k(channel), message)

    async def subscribe(self, channel: str, handler: InvalidationHandler) -> None:
        task = asyncio.create_task(self._listen(self._k(channel), handler))
        self._listeners.append(task)

    async def _listen(self, channel: str, handler: InvalidationHandler) -> None:
        # Reconnects forever (redis-py resubscribes by itself within the retry policy; with
        # Sentinel, on the new master). Messages published while we were away are lost, so
        # the handler gets "*" (drop everything) at every subscribe confirmation, i.e. at
        # the start and after every reconnection, and after an error.
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        data = message.get("data")
                        if message.get("type") == "subscribe":
                            await _call(handler, "*")
                        elif message.get("type") == "message" and isinstance(data, bytes):
                            await _call(handler, data.decode())
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a lost connection must not end the listener
                await _call(handler, "*")
                await asyncio.sleep(1.0)

    @_timed("ping")
    async def ping(self) -> None:
        await self.redis.ping()

    async def describe(self) -> dict[str, str]:
        if self.sentinel is None:
            return {"detail": "redis"}
        host, port = await self.sentinel.discover_master(self.service)
        return {
            "detail": f"redis via sentinel (service {self.service})",
            "master": f"{host}:{port}",
        }

    async def close(self) -> None:
        await asyncio.gather(*(_cancel(task) for task in self._listeners))
        self._listeners.clear()
        await self.redis.aclose()
        if self.sentinel is not None:
            await self.sentinel.aclose()

    async def flush(self) -> None:
        keys = [k async for k in self.redis.scan_iter(match=self.prefix + "*", count=500)]
        if keys:
            await self.redis.delete(*keys)


class MemoryStore:
    """In-process equivalent of ``RedisStore`` for a single instance."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._windows: dict[str, list[float]] = {}
        self._claims: dict[str, list[tuple[float, str]]] = {}
        self._ranked: dict[str, dict[str, tuple[float, bytes]]] = {}
        self._handlers: dict[str, list[InvalidationHandler]] = {}

    def _alive(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= time.monotonic():
            del self._values[key]
            return None
        return entry

    async def get(self, key: str) -> bytes | None:
        entry = self._alive(key)
        return entry[0] if entry else None

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._values[key] = (value, time.monotonic() + ttl if ttl else None)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        if self._alive(key) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._values.pop(key, None)
            self._windows.pop(key, None)
            self._claims.pop(key, None)
            self._ranked.pop(key, None)

    async def exists(self, key: str) -> bool:
        return self._alive(key) is not None or any(
            key in kept for kept in (self._windows, self._claims, self._ranked)
        )

    async def incr_many(self, updates: list[tuple[str, int, float]]) -> list[int]:
        totals = []
        for key, amount, ttl in updates:
            current = int((await self.get(key)) or b"0") + amount
            await self.set(key, str(current).encode(), ttl)
            totals.append(current)
        return totals

    async def window_add(self, key: str, now: float, window: float) -> int:
        events = [t for t in self._windows.get(key, []) if t > now - window]
        events.append(now)
        self._windows[key] = events
        return len(events)

    async def window_count(self, key: str, now: float, window: float) -> tuple[int, float]:
        events = [t for t in self._windows.get(key, []) if t > now - window]
        self._windows[key] = events
        return len(events), min(events) if events else 0.0

    async def window_claim(
        self, key: str, attempt: str, now: float, window: float, limit: int
    ) -> tuple[str, float]:
        # No await between the count and the add: atomic on the event loop.
        events = [
            (t, m)
            for t, m in self._claims.get(key, [])
            if t > now - window and (m.startswith("f:") or t >= now - PENDING_SECONDS)
        ]
        self._claims[key] = events
        failures = [t for t, m in events if m.startswith("f:")]
        if len(failures) >= limit:
            return "full", min(failures)
        if len(events) >= limit:
            return "busy", 0.0
        events.append((now, f"p:{attempt}"))
        return "claimed", 0.0

    async def window_settle(self, key: str, attempt: str, now: float, *, failed: bool) -> None:
        events = [e for e in self._claims.get(key, []) if e[1] != f"p:{attempt}"]
        if failed:
            events.append((now, f"f:{attempt}"))
        self._claims[key] = events

    async def window_release(self, key: str, member: str) -> None:
        self._claims[key] = [e for e in self._claims.get(key, []) if e[1] != member]

    async def ranked_put(self, key: str, member: str, rank: float, details: bytes) -> bool:
        ranking = self._ranked.setdefault(key, {})
        current = ranking.get(member)
        if current is not None and current[0] >= rank:
            return False
        ranking[member] = (rank, details)
        return True

    async def ranked_top(self, key: str, limit: int) -> list[bytes]:
        ranking = self._ranked.get(key, {})
        best = sorted(ranking.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
        return [details for _, (_, details) in best]

    async def publish(self, channel: str, message: str) -> None:
        for handler in self._handlers.get(channel, []):
            await _call(handler, message)

    async def subscribe(self, channel: str, handler: InvalidationHandler) -> None:
        self._handlers.setdefault(channel, []).append(handler)

    async def ping(self) -> None:
        return None

    async def describe(self) -> dict[str, str]:
        return {"detail": "in-process"}

    async def close(self) -> None:
        self._handlers.clear()

    async def flush(self) -> None:
        self._values.clear()
        self._windows.clear()
        self._claims.clear()
        self._ranked.clear()


async def _cancel(task: asyncio.Task[None], patience: float = 5.0) -> None:
    """Cancel ``task`` and wait for it to end, cancelling again while it runs on.

    One cancel is not always enough: on Python 3.11, ``asyncio.wait_for`` (which redis-py
    uses to send a command) swallows a cancellation that arrives as the send completes
    (CPython gh-86296), and a listener would then listen forever.
    """
    deadline = time.monotonic() + patience
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: a listener ends only by cancellation
    elif not task.done():
        log.warning("redis subscription did not stop", waited_seconds=patience)


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


async def _call(handler: InvalidationHandler, message: str) -> None:
    result = handler(message)
    if result is not None:
        await result


def create_store(
    redis_url: str | None,
    prefix: str = "qp:",
    metrics: Metrics | None = None,
    *,
    sentinels: Sequence[str] = (),
    sentinel_service: str = "quiz",
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    password: str | None = None,
) -> KeyValueStore:
    """Redis through Sentinel when sentinels are configured, else Redis when a URL is,
    else the in-process store."""
    if not sentinels and not redis_url:
        return MemoryStore()
    return RedisStore(
        redis_url,
        prefix,
        metrics,
        sentinels=sentinels,
        sentinel_service=sentinel_service,
        retry_seconds=retry_seconds,
        password=password,
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
