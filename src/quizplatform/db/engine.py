"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings, to_async_url


class Database:
    """The primary database: one pooled engine per instance."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        name: str = "primary",
        url: str | None = None,
    ) -> None:
        url = to_async_url(url) if url else settings.async_database_url
        self.url = url
        self.name = name
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 15})
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                url,
                poolclass=_TimedPool,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_timeout=settings.db_pool_timeout_seconds,
                # No pre-ping: it costs a round trip on every checkout. A connection the
                # server dropped fails one request (503, Retry-After), SQLAlchemy then
                # invalidates the pool, and pool_recycle retires idle connections.
                pool_pre_ping=False,
                pool_recycle=1800,
                connect_args={"server_settings": {"application_name": "quizplatform"}},
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        if metrics is not None:
            _instrument(self.engine.sync_engine, metrics, name)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose every statement commits by itself: one round trip for a
        single-statement write, where a transaction would add BEGIN and COMMIT."""
        async with self._autocommit_engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()

    @property
    def sync_engine(self) -> Engine:
        return self.engine.sync_engine


class _TimedPool(AsyncAdaptedQueuePool):
    """The default async pool, timing how long callers wait for a connection."""

    wait_observer: Any = None

    def _do_get(self) -> ConnectionPoolEntry:
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            if self.wait_observer is not None:
                self.wait_observer(time.perf_counter() - started)


def _instrument(engine: Engine, metrics: Metrics, name: str) -> None:
    pool = engine.pool
    if isinstance(pool, _TimedPool):
        pool.wait_observer = metrics.db_pool_wait.labels(name).observe
        metrics.watch_pool(name, pool.size, pool.checkedout, pool.overflow)
    query = metrics.db_query
    errors = metrics.db_errors.labels(name)

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        context._qp_started = time.perf_counter()

    def after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        operation = statement.lstrip().split(None, 1)[0].lower() if statement else "other"
        query.labels(name, operation).observe(time.perf_counter() - context._qp_started)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", lambda _ctx: errors.inc())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
