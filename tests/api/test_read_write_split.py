"""Read/write split (QUIZ_DATABASE_REPLICA_URLS): reads go to a replica, writes and
read-your-writes to the primary, on SQLite and on PostgreSQL + Redis.

The "replica" is a separate database of the same kind with the same schema that never
receives the primary's writes: a replica that lags forever, so what a read returns shows
where it went. Each test runs two instances (the user's next request may land on another
one) sharing the primary and the store (Redis, or one in-process store on SQLite).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from structlog.testing import capture_logs

from quizplatform.app import create_app
from quizplatform.db import models
from quizplatform.db.migrate import upgrade
from quizplatform.db.routing import ReadRoute, enter_route, exit_route, marker_key
from quizplatform.db.shared_store import KeyValueStore, MemoryStore
from quizplatform.runtime.settings import Settings, to_async_url
from quizplatform.services.container import Services
from tests.api.helpers import Api, User
from tests.api.samples import all_types_quiz
from tests.conftest import PG_URL, SESSION_TAG, make_settings

# read_your_writes_seconds in these tests: long enough never to end by itself while a
# step runs on a loaded machine (0.5 s did, in CI); settle() ends it when a test wants.
WINDOW = 60.0
TARGETS = ("primary_write", "primary_read", "replica_read", "replica_fallback")


# -- the lagging replica ------------------------------------------------------------------
_replicas: dict[str, str] = {}


def _pg_url(database: str) -> str:
    return f"{PG_URL.rsplit('/', 1)[0]}/{database}"


async def _replica_url(services: Services, tmp: Path) -> str:
    """A migrated database beside the primary that gets none of its writes (emptied)."""
    backend = "sqlite" if services.settings.uses_sqlite else "postgres"
    if backend not in _replicas:
        if backend == "postgres":
            name = f"{SESSION_TAG}_replica"
            conn = await asyncpg.connect(PG_URL)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
            url = _pg_url(name)
        else:
            url = f"sqlite:///{tmp / 'replica.sqlite3'}"
        settings = make_settings(backend, tmp, database_url=url)
        await asyncio.to_thread(upgrade, settings)  # Alembic runs its own event loop
        _replicas[backend] = url
    url = _replicas[backend]
    engine = create_async_engine(to_async_url(url))
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # the audit log refuses DELETE otherwise
                await conn.execute(text("SET LOCAL quiz.audit_purge = 'on'"))
            for table in reversed(models.Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()
    return url


@pytest.fixture(scope="module", autouse=True)
async def _drop_replicas() -> AsyncIterator[None]:
    yield
    if "postgres" in _replicas:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{SESSION_TAG}_replica" WITH (FORCE)')
        finally:
            await conn.close()
        del _replicas["postgres"]


@pytest.fixture
async def replica_url(services: Services, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await _replica_url(services, tmp_path_factory.getbasetemp())


async def replay_everything(primary_url: str, replica_url: str) -> None:
    """Make the replica a copy of the primary as it is now (then it lags again)."""
    source = create_async_engine(to_async_url(primary_url))
    target = create_async_engine(to_async_url(replica_url))
    try:
        async with source.connect() as src, target.begin() as dst:
            if target.dialect.name == "postgresql":
                await dst.execute(text("SET LOCAL quiz.audit_purge = 'on'"))
            for table in reversed(models.Base.metadata.sorted_tables):
                await dst.execute(table.delete())
            for table in models.Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in await src.execute(table.select())]
                if rows:
                    await dst.execute(table.insert(), rows)
    finally:
        await source.dispose()
        await target.dispose()


# -- instances -------------------------------------------------------------------------------
@dataclass
class Instance:
    services: Services
    api: Api

    @property
    def http(self) -> httpx.AsyncClient:
        return self.api.http

    def routes(self) -> dict[str, float]:
        registry = self.services.metrics.registry
        return {
            t: registry.get_sample_value("db_route_total", {"target": t}) or 0.0 for t in TARGETS
        }


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {t: after[t] - before[t] for t in TARGETS if after[t] != before[t]}


@asynccontextmanager
async def instances(
    services: Services, replica_urls: list[str], count: int = 2, **changes: Any
) -> AsyncIterator[list[Instance]]:
    """``count`` instances on the test primary with these replicas, sharing one store."""
    settings: Settings = services.settings.model_copy(
        update={
            "database_replica_urls": replica_urls,
            "read_your_writes_seconds": WINDOW,
            **changes,
        }
    )
    shared: KeyValueStore | None = None if settings.redis_url else MemoryStore()
    prefix = getattr(services.store, "prefix", "qp:")
    started: list[Services] = []
    try:
        result = []
        async with AsyncExitStack() as stack:
            for _ in range(count):
                svc = Services.create(settings, store=shared, store_prefix=prefix)
                started.append(svc)
                await svc.start(background=False)
                app = create_app(settings, services=svc)
                client = await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
                )
                result.append(Instance(svc, Api(client, svc)))
            yield result
    finally:
        for svc in started:
            await svc.close()


async def settle(instance: Instance, *users: User) -> None:
    """End the users' read-your-writes windows now, as their expiry would: their markers
    go from the shared store. (``test_marker_is_set_by_writes_only_and_expires`` shows a
    marker expiring by itself.)"""
    await instance.services.store.delete(*(marker_key(user.id) for user in users))


def quiz_titled(title: str) -> dict[str, Any]:
    return {**all_types_quiz(), "title": title}


def titles(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["title"] for item in r.json()["items"]]


# -- tests -------------------------------------------------------------------------------------
async def test_reads_follow_the_writer_to_the_primary_then_go_to_the_replica(
    services: Services, replica_url: str
) -> None:
    async with instances(services, [replica_url]) as (a, b):
        teacher = await a.api.user("teacher")
        other = await a.api.user("student")
        await settle(a, teacher, other)  # signing in keeps a user's reads on the primary too

        quiz = await a.api.quiz(teacher, quiz_titled("Fresh quiz"))  # create + publish on A
        before = b.routes()
        # Read-your-writes on another instance: the teacher's reads go to the primary.
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
        assert r.status_code == 200, r.text
        assert r.json()["title"] == "Fresh quiz"
        r = await b.http.get("/api/v1/quizzes?mine=true", headers=teacher.headers)
        assert titles(r) == ["Fresh quiz"]
        assert delta(before, b.routes()) == {"primary_read": 2}

        # Everyone else reads from the replica, which has not seen the quiz.
        before = b.routes()
        assert titles(await b.http.get("/api/v1/quizzes")) == []
        assert titles(await b.http.get("/api/v1/quizzes", headers=other.headers)) == []
        r = await b.http.get("/api/v1/me", headers=other.headers)
        assert r.status_code == 404  # the replica does not have the account either
        assert delta(before, b.routes()) == {"replica_read": 3}

        # After the window the teacher's reads go to the replica as well.
        await settle(a, teacher, other)
        before = b.routes()
        r = await b.http.get("/api/v1/quizzes?mine=true", headers=teacher.headers)
        assert titles(r) == []
        b.services.cache.clear()  # B holds the quiz from the primary read above
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
        assert r.status_code == 404
        # (A quiz not found is looked up twice: by the fast lane, then by the route.)
        assert set(delta(before, b.routes())) == {"replica_read"}

        # Writes always go to the primary, and their reads in the same request too.
        before = b.routes()
        r = await b.http.patch(
            f"/api/v1/quizzes/{quiz['id']}", json={"title": "Renamed"}, headers=teacher.headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["title"] == "Renamed"
        moved = delta(before, b.routes())
        assert moved.get("primary_write", 0) >= 1 and "replica_read" not in moved, moved
        assert await b.services.store.exists(marker_key(teacher.id))
        r = await a.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
        assert r.json()["title"] == "Renamed"


async def test_metrics_endpoint_shows_the_routes(services: Services, replica_url: str) -> None:
    async with instances(services, [replica_url], count=1) as (a,):
        await a.http.get("/api/v1/quizzes")
        text = (await a.http.get("/metrics")).text
    assert 'db_route_total{target="replica_read"} 1.0' in text


def unreachable(services: Services, tmp_path: Path) -> str:
    """A replica URL nothing answers at: a closed port (PostgreSQL), a missing directory."""
    if services.settings.uses_sqlite:
        return f"sqlite:///{tmp_path / 'no-such-dir' / 'replica.sqlite3'}"
    return "postgresql://postgres@127.0.0.1:1/replica"


async def test_unreachable_replica_falls_back_to_the_primary(
    services: Services, tmp_path: Path
) -> None:
    closed = unreachable(services, tmp_path)
    async with instances(services, [closed]) as (a, b):
        teacher = await a.api.user("teacher")
        await a.api.quiz(teacher, quiz_titled("Still here"))
        await settle(a, teacher)
        before = b.routes()
        with capture_logs() as logs:
            assert titles(await b.http.get("/api/v1/quizzes")) == ["Still here"]
            assert titles(await b.http.get("/api/v1/quizzes")) == ["Still here"]
        assert delta(before, b.routes()) == {"replica_fallback": 2}
        warnings = [x for x in logs if x["event"].startswith("replica unreachable")]
        # One warning: after a failure the replica is left alone for a while.
        assert len(warnings) == 1 and warnings[0]["replica"] == "replica1", logs


async def test_reads_skip_an_unreachable_replica_for_a_reachable_one(
    services: Services, replica_url: str, tmp_path: Path
) -> None:
    closed = unreachable(services, tmp_path)
    async with instances(services, [closed, replica_url], count=1) as (a,):
        before = a.routes()
        for _ in range(3):
            assert titles(await a.http.get("/api/v1/quizzes")) == []
        assert delta(before, a.routes()) == {"replica_read": 3}


async def test_one_request_keeps_to_one_replica_and_requests_take_turns(
    services: Services, replica_url: str
) -> None:
    async with instances(services, [replica_url, replica_url], count=1) as (a,):
        db = a.services.db

        async def anonymous() -> str | None:
            return None

        chosen = []
        for _ in range(3):
            route = ReadRoute(safe=True, user=anonymous, store=a.services.store)
            token = enter_route(route)
            try:
                async with db.read_session():
                    pass
                first = route.replica
                async with db.read_session():
                    pass
                assert route.replica is first is not None
                chosen.append(first.name)
            finally:
                exit_route(token)
        assert chosen == ["replica1", "replica2", "replica1"]


async def test_a_request_that_wrote_reads_from_the_primary(
    services: Services, replica_url: str
) -> None:
    async with instances(services, [replica_url], count=1) as (a,):
        db, store = a.services.db, a.services.store
        lookups: list[str] = []

        async def who() -> str | None:
            lookups.append("user")
            return "u1"

        async def read(route: ReadRoute, *, write: bool = False) -> dict[str, float]:
            before = a.routes()
            token = enter_route(route)
            try:
                if write:
                    async with db.session():
                        pass
                async with db.read_session():
                    pass
            finally:
                exit_route(token)
            return delta(before, a.routes())

        assert await read(ReadRoute(safe=True, user=who, store=store)) == {"replica_read": 1}
        route = ReadRoute(safe=True, user=who, store=store)
        assert await read(route, write=True) == {"primary_write": 1, "primary_read": 1}
        unsafe = ReadRoute(safe=False, user=who, store=store)
        assert await read(unsafe) == {"primary_read": 1}
        # A fresh marker keeps the user on the primary; it is looked up once per request.
        await store.set(marker_key("u1"), b"1", ttl=5)
        lookups.clear()
        route = ReadRoute(safe=True, user=who, store=store)
        assert await read(route) == {"primary_read": 1}
        assert await read(route) == {"primary_read": 1}
        assert lookups == ["user"]
        # No request (background work, the command line): the primary.
        before = a.routes()
        async with db.read_session():
            pass
        assert delta(before, a.routes()) == {"primary_read": 1}


async def test_a_change_is_not_undone_by_the_replica_through_the_near_cache(
    services: Services, replica_url: str
) -> None:
    async with instances(services, [replica_url]) as (a, b):
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, quiz_titled("Version 1"))
        await replay_everything(services.settings.database_url or "", replica_url)
        await settle(a, teacher, student)
        # B caches version 1 (from the replica, which has it).
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
        assert r.json()["title"] == "Version 1"

        r = await a.http.patch(
            f"/api/v1/quizzes/{quiz['id']}", json={"title": "Version 2"}, headers=teacher.headers
        )
        assert r.status_code == 200, r.text
        key = f"quiz:{quiz['id']}"
        deadline = time.monotonic() + 3
        while not b.services.cache.recently_invalidated(key):  # pub/sub reaches B
            assert time.monotonic() < deadline, "B never heard of the change"
            await asyncio.sleep(0.01)
        # A student's read on B refills B's cache: from the primary, not from the replica
        # (which still has version 1), or the teacher would see version 1 on B below.
        before = b.routes()
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
        assert r.json()["title"] == "Version 2"
        assert delta(before, b.routes()) == {"primary_read": 1}
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
        assert r.json()["title"] == "Version 2"

        # Proof that the replica is stale: once the window is over, a miss reads version 1.
        await settle(a, teacher, student)
        b.services.cache.clear()
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
        assert r.json()["title"] == "Version 1"


class CountingStore:
    """Records every shared-store call made through the wrapped store's methods."""

    METHODS = ("get", "set", "set_nx", "delete", "exists", "incr_many", "window_add")

    def __init__(self, store: KeyValueStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str]] = []
        for name in self.METHODS:
            real = getattr(store, name)
            monkeypatch.setattr(store, name, self._wrap(name, real))

    def markers(self) -> list[tuple[str, str]]:
        """The calls about read-your-writes markers."""
        return [c for c in self.calls if c[1].startswith("ryw:")]

    def _wrap(self, name: str, real: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, str(args[0]) if args else ""))
            return await real(*args, **kwargs)

        return wrapper


async def test_without_replicas_requests_cost_no_store_calls(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not api.services.replicas
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, quiz_titled("Plain"))
    await api.http.get("/api/v1/me", headers=student.headers)  # the token is cached now
    counting = CountingStore(api.services.store, monkeypatch)
    registry = api.services.metrics.registry
    reads_before = registry.get_sample_value("db_route_total", {"target": "primary_read"}) or 0

    assert titles(await api.http.get("/api/v1/quizzes")) == ["Plain"]
    assert (await api.http.get("/api/v1/me", headers=student.headers)).status_code == 200
    assert (await api.http.get(f"/api/v1/quizzes/{quiz['id']}")).status_code == 200
    assert counting.calls == []
    r = await api.http.patch(
        f"/api/v1/quizzes/{quiz['id']}", json={"title": "Plainer"}, headers=teacher.headers
    )
    assert r.status_code == 200
    assert not [c for c in counting.calls if c[1].startswith("ryw:")], counting.calls
    reads = registry.get_sample_value("db_route_total", {"target": "primary_read"}) or 0
    assert reads - reads_before >= 3  # list, me, and the quiz snapshot: counted all the same


async def test_with_replicas_a_cached_quiz_costs_no_store_call_or_database(
    services: Services, replica_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with instances(services, [replica_url]) as (a, b):
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, quiz_titled("Hot"))
        await replay_everything(services.settings.database_url or "", replica_url)
        await settle(a, teacher, student)
        r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
        assert r.status_code == 200  # B has the token and the quiz in its near cache now
        counting = CountingStore(b.services.store, monkeypatch)
        before = b.routes()
        for _ in range(3):
            r = await b.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=student.headers)
            assert r.status_code == 200
        assert counting.calls == []
        assert delta(before, b.routes()) == {}


async def test_marker_is_set_by_writes_only_and_expires(
    services: Services, replica_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = 2.0  # long enough to see the marker on a loaded machine, short enough to wait
    async with instances(services, [replica_url], count=1, read_your_writes_seconds=window) as (a,):
        teacher = await a.api.user("teacher")
        assert await a.services.store.exists(marker_key(teacher.id))  # signed in just now
        await asyncio.sleep(window + 0.2)
        assert not await a.services.store.exists(marker_key(teacher.id))
        counting = CountingStore(a.services.store, monkeypatch)
        await a.http.get("/api/v1/quizzes", headers=teacher.headers)
        assert counting.markers() == [("exists", marker_key(teacher.id))]
        counting.calls.clear()
        r = await a.http.post("/api/v1/quizzes", json=quiz_titled("New"), headers=teacher.headers)
        assert r.status_code == 201
        assert counting.markers() == [("set", marker_key(teacher.id))]  # a write never asks
        counting.calls.clear()
        await a.http.get("/api/v1/quizzes")  # anonymous: nothing to look up
        assert counting.calls == []
