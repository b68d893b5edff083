"""Engine and session factory for SQLite (embedded default) and PostgreSQL, the
read/write split over streaming replicas (``read_session``; see ``db/routing.py``), and
read-only mode while the database has no leader (``db/failover.py``, ``db/leader.py``).

Failover. Write sessions (``session``, ``autocommit``) and reads on the primary connect
eagerly, so a write URL without a leader is seen before the caller's work starts; a
failover failure leaves them as ``WriteAborted`` (nothing happened: the request layer may
run the request again) or ``CommitOutcomeUnknown`` (lost while committing). A failure
that shows there is no leader puts ``Database.leader`` in read-only mode, during which a
safe request's primary sessions are served by a replica (``db_route_total{target=
"replica_no_leader"}``): stale is better than failing. A committed write ends the mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from quizplatform.db.failover import (
    Backoff,
    Kind,
    WriteAborted,
    current_commits,
    failover_errors,
    note_commit,
)
from quizplatform.db.leader import LeaderState
from quizplatform.db.routing import ReadRoute, current_route, pin_to_primary
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings, to_async_url

log = structlog.get_logger(__name__)
T = TypeVar("T")

# What a replica that cannot be reached raises when a session connects: refused or timed
# out (OSError, TimeoutError), or a driver error (unknown host, too many connections,
# the server starting up). Not the pool's own timeout: a busy replica is not a dead one.
_UNREACHABLE = (OSError, DBAPIError)

# SQLSTATEs that mean the server behind this connection cannot take writes now (read-only
# after a demotion, shutting down): SQLAlchemy is told they are disconnects, so it drops
# the connection and the pool instead of reusing a connection to a demoted server.
_NOT_A_LEADER_STATES = frozenset({"25006", "57P01", "57P02", "57P03"})
_WRITABLE = "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"


class Database:
    """A database: one pooled engine per instance.

    The primary also routes pure reads (``read_session``) to its ``replicas``.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics | None = None,
        name: str = "primary",
        url: str | None = None,
        *,
        replicas: Sequence[Database] = (),
        read_only: bool = False,
        connect_timeout: float | None = None,
        replica_retry_seconds: float = 5.0,
    ) -> None:
        url = to_async_url(url) if url else settings.async_database_url
        self.url = url
        self.name = name
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 15})
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            if read_only:
                event.listen(self.engine.sync_engine, "connect", _sqlite_query_only)
        else:
            server_settings = {"application_name": "quizplatform"}
            if read_only:  # a replica refuses writes anyway; this says so for any database
                server_settings["default_transaction_read_only"] = "on"
            connect_args: dict[str, Any] = {"server_settings": server_settings}
            if connect_timeout is not None:
                connect_args["timeout"] = connect_timeout
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
                connect_args=connect_args,
            )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.replicas = list(replicas)
        self.replica_retry_seconds = replica_retry_seconds
        self._next_replica = 0
        self._down_until: dict[str, float] = {}  # replica name -> monotonic time
        self._routes = _RouteCounters(metrics)
        # Read-only mode (no leader); only the primary's is ever entered and exported.
        self.leader = LeaderState(self._leader_writable, None if read_only else metrics)
        self.leader_wait_seconds = settings.db_leader_wait_seconds
        if metrics is not None:
            _instrument(self.engine.sync_engine, metrics, name)
        if not self.is_sqlite and not read_only:
            event.listen(self.engine.sync_engine, "handle_error", _drop_non_leader_connections)
        event.listen(self.engine.sync_engine, "after_cursor_execute", _note_autocommit)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error.

        The primary: for writes, and for reads that must see the latest writes. The
        request's later reads go to the primary too. The commit is explicit, after a
        flush: a connection lost during the COMMIT itself is ``CommitOutcomeUnknown``,
        any failover failure before it ``WriteAborted``. A safe request served while
        there is no leader gets a replica's session instead (read-only: a write in it
        fails with 25006, i.e. ``WriteAborted``)."""
        pin_to_primary()
        session, on_primary = await self._open(self._routes.primary_write)
        async with session:
            with self._failover(on_primary):
                yield session
                await session.flush()
            with self._failover(on_primary, committing=on_primary):
                await session.commit()
        if on_primary:
            self._committed()

    @asynccontextmanager
    async def autocommit(self, *, idempotent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection whose every statement commits by itself: one round trip for a
        single-statement write, where a transaction would add BEGIN and COMMIT.

        A connection lost while a statement runs is ``CommitOutcomeUnknown`` (the
        statement may have committed), unless the caller says its statements are
        ``idempotent`` (running them again changes nothing more, like an upsert of the
        same value): then it is ``WriteAborted`` and the request may run again."""
        conn = await self._connect_primary(self._autocommit_engine)
        try:
            with self._failover(True, committing=not idempotent):
                yield conn
        finally:
            await conn.close()
        self._committed()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection on the primary in a transaction that commits on success and rolls
        back on error: ``session()`` without the ORM, for the hot writes whose statements
        are built once (the unit of work's bookkeeping cost more than the SQL).

        Same failover rules as ``session()``: a connection lost during the COMMIT itself
        is ``CommitOutcomeUnknown``, any failover failure before it ``WriteAborted``."""
        conn = await self._connect_primary(self.engine)
        try:
            with self._failover(True):
                trans = await conn.begin()
                yield conn
            with self._failover(True, committing=True):
                await trans.commit()
        finally:
            await conn.close()  # rolls back what was not committed
        self._committed()

    async def _connect_primary(self, engine: AsyncEngine) -> AsyncConnection:
        """A started connection of ``engine`` (the primary's), waiting for a leader."""
        pin_to_primary()
        self._routes.primary_write()
        backoff = Backoff()
        while True:
            conn = engine.connect()
            try:
                with self._failover(True, connecting=True):
                    await conn.start()
                return conn
            except WriteAborted as exc:
                await self._wait_for_leader(exc, backoff)

    @asynccontextmanager
    async def read_session(self, *, fresh: bool = False) -> AsyncIterator[AsyncSession]:
        """A session for a pure read (write nothing in it).

        A replica when there are replicas and the current request may read from one
        (``db/routing.py``: a safe request by someone who has not written lately, before
        it has written anything); otherwise, or with ``fresh`` (the read must see every
        committed write), the primary. One request keeps to one replica; requests take
        the replicas in turn. A replica that cannot be reached is skipped for
        ``replica_retry_seconds`` on this instance and the read goes elsewhere, the
        primary last. A safe request's read meant for the primary goes to a replica
        while there is no leader.
        """
        route = current_route() if self.replicas and not fresh else None
        if route is not None and await route.replica_allowed():
            replica_session = await self._replica_session(route)
            if replica_session is not None:
                self._routes.replica_read()
                # A replica's connection is cut when HAProxy stops routing to it (it was
                # promoted, or fell behind): WriteAborted, and the request runs again.
                async with replica_session:
                    with self._failover(False):
                        yield replica_session
                        await replica_session.commit()
                return
            self._routes.replica_fallback()
            count = _nothing
        else:
            count = self._routes.primary_read
        session, on_primary = await self._open(count)
        async with session:
            with self._failover(on_primary):
                yield session
                await session.commit()

    async def run_read(
        self, read: Callable[[AsyncSession], Awaitable[T]], *, fresh: bool = False
    ) -> T:
        """``read(session)`` in a ``read_session``; run again on a fresh session when a
        failover cuts it, within the request's leader wait. For a pure read that comes
        after the request's own commit (which the request layer can no longer run again),
        such as the quiz just created: reading twice changes nothing."""
        backoff = Backoff()
        while True:
            try:
                async with self.read_session(fresh=fresh) as session:
                    return await read(session)
            except WriteAborted as exc:
                commits = current_commits()
                if commits is None or exc.verdict.kind is Kind.CONFLICT:
                    raise
                remaining = commits.remaining(self.leader_wait_seconds)
                if remaining <= 0:
                    raise
                await asyncio.sleep(backoff.delay(remaining))

    async def _open(self, count_primary: Callable[[], None]) -> tuple[AsyncSession, bool]:
        """A connected session on the primary (True), or, for a safe request while the
        primary has no leader, on a replica (False)."""
        route = current_route()
        stand_in = route is not None and route.safe and bool(self.replicas)
        if stand_in and self.leader.read_only:
            replica_session = await self._stand_in(route)
            if replica_session is not None:
                return replica_session, False
        backoff = Backoff()
        while True:
            session = self.sessionmaker()
            try:
                with self._failover(True, connecting=True):
                    await session.connection()
            except WriteAborted as exc:
                await session.close()
                if stand_in and exc.verdict.kind is Kind.NO_LEADER:
                    replica_session = await self._stand_in(route)
                    if replica_session is not None:
                        return replica_session, False
                await self._wait_for_leader(exc, backoff)
                continue
            except BaseException:
                await session.close()
                raise
            count_primary()
            return session, True

    async def _wait_for_leader(self, exc: WriteAborted, backoff: Backoff) -> None:
        """A connection could not be opened because there is no leader: nothing was sent,
        so wait (backoff) and try again, within the request's leader wait; re-raise when
        it is over or outside a request. Waiting here rather than running the whole
        request again also covers a request that has already committed (a read after its
        write, e.g. the quiz just created)."""
        commits = current_commits()
        if exc.verdict.kind is not Kind.NO_LEADER or exc.verdict.in_flight or commits is None:
            raise exc
        remaining = commits.remaining(self.leader_wait_seconds)
        if remaining <= 0:
            raise exc
        await asyncio.sleep(backoff.delay(remaining))

    async def _stand_in(self, route: ReadRoute | None) -> AsyncSession | None:
        assert route is not None
        replica_session = await self._replica_session(route)
        if replica_session is not None:
            self._routes.replica_no_leader()
        return replica_session

    async def _replica_session(self, route: ReadRoute) -> AsyncSession | None:
        """A connected session on the request's replica (or the next one that answers);
        None when none does."""
        while (replica := self._replica_for(route)) is not None:
            session = replica.sessionmaker()
            try:
                await session.connection()
            except _UNREACHABLE as exc:
                await session.close()
                self._replica_failed(replica, route, exc)
                continue
            return session
        return None

    @contextmanager
    def _failover(
        self, on_primary: bool, *, connecting: bool = False, committing: bool = False
    ) -> Iterator[None]:
        """``failover_errors``; a failure that shows the primary has no leader starts
        read-only mode."""
        try:
            with failover_errors(connecting=connecting, committing=committing):
                yield
        except WriteAborted as exc:
            if on_primary and exc.verdict.kind is Kind.NO_LEADER:
                self.leader.lost(_describe(exc.__cause__))
            raise

    def _committed(self) -> None:
        note_commit()
        self.leader.confirmed()

    async def _leader_writable(self) -> bool:
        """The probe of read-only mode: the write URL reaches a writable server."""
        async with self.engine.connect() as conn:
            return bool(await conn.scalar(text(_WRITABLE)))

    def _replica_for(self, route: ReadRoute) -> Database | None:
        """The request's replica if it is up, else the next one up in turn, else None."""
        now = time.monotonic()
        chosen = route.replica
        if chosen is not None and self._down_until.get(chosen.name, 0.0) <= now:
            return chosen
        count = len(self.replicas)
        for step in range(count):
            candidate = self.replicas[(self._next_replica + step) % count]
            if self._down_until.get(candidate.name, 0.0) <= now:
                self._next_replica = (self._next_replica + step + 1) % count
                route.replica = candidate
                return candidate
        route.replica = None
        return None

    def _replica_failed(self, replica: Database, route: ReadRoute, exc: BaseException) -> None:
        self._down_until[replica.name] = time.monotonic() + self.replica_retry_seconds
        route.replica = None
        log.warning(
            "replica unreachable; reading elsewhere",
            replica=replica.name,
            error=type(exc).__name__,
            retry_in_seconds=self.replica_retry_seconds,
        )

    async def replication_lag_seconds(self) -> float:
        """On a streaming replica: seconds its replay is behind (0 when caught up)."""
        async with self.engine.connect() as conn:
            lag = await conn.scalar(
                text(
                    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
                    "THEN 0 ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
                )
            )
        return float(lag or 0.0)

    async def dispose(self) -> None:
        await self.leader.close()
        await self.engine.dispose()

    @property
    def sync_engine(self) -> Engine:
        return self.engine.sync_engine


class _RouteCounters:
    """The children of ``db_route_total``, looked up once."""

    def __init__(self, metrics: Metrics | None) -> None:
        def counter(target: str) -> Callable[[], None]:
            if metrics is None:
                return _nothing
            return metrics.db_route.labels(target).inc

        self.primary_write = counter("primary_write")
        self.primary_read = counter("primary_read")
        self.replica_read = counter("replica_read")
        self.replica_fallback = counter("replica_fallback")
        self.replica_no_leader = counter("replica_no_leader")


def _nothing() -> None:
    return None


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


def _describe(error: BaseException | None) -> str:
    if error is None:
        return ""
    orig = getattr(error, "orig", None) or error
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:120] if str(orig) else ''}"


def _drop_non_leader_connections(context: ExceptionContext) -> None:
    """Treat "this server cannot take writes now" as a disconnect (``_NOT_A_LEADER_STATES``)."""
    state = getattr(context.original_exception, "sqlstate", None)
    if state in _NOT_A_LEADER_STATES:
        context.is_disconnect = True


def _note_autocommit(
    conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
) -> None:
    """An autocommit statement that ran has committed: the request may not be repeated."""
    if context is not None and context.execution_options.get("isolation_level") == "AUTOCOMMIT":
        note_commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()
