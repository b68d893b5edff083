"""Shared fixtures: the API suite runs against SQLite and against PostgreSQL + Redis.

PostgreSQL and Redis are the real servers named by QUIZ_TEST_DATABASE_URL and
QUIZ_TEST_REDIS_URL (default: the machine's 127.0.0.1:5432 and :6379; `make test` starts
throwaway servers when nothing answers there). One database per test session, emptied
between tests; Redis keys carry a per-session prefix and are flushed between tests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy import text

from quizplatform.db import models
from quizplatform.db.migrate import upgrade
from quizplatform.runtime.settings import Settings
from quizplatform.services.container import Services

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.async_api import Browser

PG_URL = os.environ.get("QUIZ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("QUIZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SESSION_TAG = f"qptest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# The modules that take minutes, longest first (measured in `make test`, fresh clone,
# 2026-12-05). With `--no-loadscope-reorder` (Makefile) xdist hands modules to the
# workers in collection order; its default order (most tests first) ran the 5-test
# data_lifecycle module last, alone, minutes after the other workers had finished.
# Collected first, the short modules fill the gaps around them.
SLOW_MODULES_FIRST = (
    "tests/e2e/test_data_lifecycle.py",
    "tests/security/test_openapi_contract.py",
    "tests/integration/test_backup.py",
    "tests/browser/test_student_journey.py",
    "tests/e2e/test_ai_drills.py",
    "tests/integration/test_redis_sentinel.py",
    "tests/browser/test_live_game.py",
    "tests/e2e/test_live_drills.py",
    "tests/deploy/test_image_commands.py",
    "tests/browser/test_failover_in_browser.py",
    "tests/failover/test_read_only_mode.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the slow modules first (a stable sort: each module keeps its order)."""
    rank = {path: n for n, path in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def _pg_admin_dsn() -> str:
    return PG_URL


def _pg_test_url() -> str:
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{SESSION_TAG}"


async def _create_pg_database() -> None:
    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{SESSION_TAG}"')
    finally:
        await conn.close()


async def _drop_pg_database() -> None:
    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{SESSION_TAG}" WITH (FORCE)')
    finally:
        await conn.close()


def make_settings(backend: str, tmp: Path, **overrides: object) -> Settings:
    """Settings for a test app on ``backend`` (sqlite or postgres)."""
    values: dict[str, object] = {
        "env": "development",
        "config_dir": tmp / "no-config",
        "data_dir": tmp,
        "attempt_sweep_interval_seconds": 0,
        "rate_limit_enabled": False,  # tests/api/test_rate_limits.py turns it on
    }
    if backend == "postgres":
        values["database_url"] = _pg_test_url()
        values["redis_url"] = REDIS_URL
    else:
        values["database_url"] = f"sqlite:///{tmp / 'test.sqlite3'}"
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quiz")


_migrated: dict[str, Settings] = {}


async def backend_settings(backend: str, session_tmp: Path) -> Settings:
    if backend not in _migrated:
        if backend == "postgres":
            await _create_pg_database()
        settings = make_settings(backend, session_tmp / backend)
        # Alembic runs its own event loop: give it a thread.
        await asyncio.to_thread(upgrade, settings)
        _migrated[backend] = settings
    return _migrated[backend]


async def reset(services: Services) -> None:
    """Empty every table, the shared store and the near cache."""
    async with services.db.session() as session:
        if not services.db.is_sqlite:  # the audit log refuses DELETE but for its purge
            await session.execute(text("SET LOCAL quiz.audit_purge = 'on'"))
        for table in reversed(models.Base.metadata.sorted_tables):
            await session.execute(table.delete())
    await services.store.flush()
    services.cache.clear()
    services.accounts.cache.clear()


_services: dict[str, Services] = {}


_apps: dict[str, FastAPI] = {}


def shared_app(services: Services) -> FastAPI:
    """The app on ``services`` (one of the backends' shared ones), built once a session.

    An instance builds its app once; so do the tests that only send it requests. FastAPI
    fills in a route's validators at its first request, and a test that built its own
    app paid that for every route it called: a third of a short API test's time.
    """
    from quizplatform.app import create_app

    backend = next(name for name, svc in _services.items() if svc is services)
    if backend not in _apps:
        _apps[backend] = create_app(services.settings, services=services)
    return _apps[backend]


@pytest.fixture(params=BACKENDS)
async def services(request: pytest.FixtureRequest, session_tmp: Path) -> AsyncIterator[Services]:
    """The services of one instance on the parametrised backend, emptied for this test."""
    backend: str = request.param
    if backend not in _services:
        settings = await backend_settings(backend, session_tmp)
        svc = Services.create(settings, store_prefix=f"{SESSION_TAG}:")
        await svc.start(background=False)
        _services[backend] = svc
    svc = _services[backend]
    await reset(svc)
    yield svc


@pytest.fixture(scope="session", autouse=True)
async def _close_services() -> AsyncIterator[None]:
    yield
    for svc in _services.values():
        await svc.close()
    _services.clear()
    if "postgres" in _migrated:
        await _drop_pg_database()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium through Playwright, for the browser tests and the stack drills."""
    from playwright.async_api import async_playwright

    from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh as root (apt chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()
