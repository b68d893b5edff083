"""How database failures are classified (db/failover.py), the backoff, read-only mode's
state (db/leader.py), and the retry layer (api/retry.py) on a small real FastAPI app.

The driver errors are asyncpg's own exception classes wrapped the way SQLAlchemy wraps
them (its asyncpg adapter, then ``DBAPIError``); the integration tests in
``tests/failover/`` meet the same errors from a real PostgreSQL behind a real HAProxy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.exceptions
from fastapi import FastAPI, Request
from sqlalchemy import create_engine, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from quizplatform.api.errors import install_error_handlers
from quizplatform.api.retry import FailoverRetryMiddleware
from quizplatform.db.failover import (
    READ_ONLY_PARTLY_SAVED_MESSAGE,
    Backoff,
    CommitOutcomeUnknown,
    Kind,
    Verdict,
    WriteAborted,
    assess,
    current_commits,
    failover_errors,
    note_commit,
)
from quizplatform.db.leader import LeaderState
from quizplatform.runtime.metrics import Metrics


def wrapped(error: Exception, *, invalidated: bool = False) -> DBAPIError:
    """``error`` as SQLAlchemy raises it from a statement."""
    try:
        try:
            raise error
        except Exception as raw:
            adapter = (
                AsyncAdapt_asyncpg_dbapi.InterfaceError
                if isinstance(raw, asyncpg.InterfaceError)
                else AsyncAdapt_asyncpg_dbapi.Error
            )
            raise adapter(str(raw), raw) from raw
    except AsyncAdapt_asyncpg_dbapi.Error as orig:
        try:
            raise DBAPIError("INSERT ...", {}, orig, connection_invalidated=invalidated) from orig
        except DBAPIError as exc:
            return exc
    raise AssertionError


def no_leader(in_flight: bool = False) -> Verdict:
    return Verdict(Kind.NO_LEADER, in_flight)


@pytest.mark.parametrize(
    ("error", "connecting", "verdict"),
    [
        (wrapped(asyncpg.ReadOnlySQLTransactionError("read-only")), False, no_leader()),
        (wrapped(asyncpg.CannotConnectNowError("starting")), False, no_leader()),
        (asyncpg.CannotConnectNowError("starting"), True, no_leader()),
        (wrapped(asyncpg.AdminShutdownError("terminating")), False, no_leader(True)),
        (wrapped(asyncpg.CrashShutdownError("crash")), False, no_leader(True)),
        (wrapped(asyncpg.SerializationError("serialize")), False, Verdict(Kind.CONFLICT, False)),
        (wrapped(asyncpg.DeadlockDetectedError("deadlock")), False, Verdict(Kind.CONFLICT, False)),
        (
            wrapped(asyncpg.ConnectionDoesNotExistError("closed in the middle"), invalidated=True),
            False,
            Verdict(Kind.CUT, True),
        ),
        (
            wrapped(asyncpg.InterfaceError("connection is closed"), invalidated=True),
            False,
            Verdict(Kind.CUT, False),
        ),
        (
            wrapped(
                asyncpg.InterfaceError(
                    "cannot call PreparedStatement.fetch(): the underlying connection is closed"
                ),
                invalidated=True,
            ),
            False,
            Verdict(Kind.CUT, False),
        ),
        (ConnectionError("unexpected connection_lost() call"), True, no_leader()),
        (ConnectionRefusedError(111, "refused"), True, no_leader()),
        (TimeoutError(), True, no_leader()),
    ],
)
def test_failover_failures_are_classified(
    error: BaseException, connecting: bool, verdict: Verdict
) -> None:
    assert assess(error, connecting=connecting) == verdict


def test_other_failures_are_not_a_failover(tmp_path: Path) -> None:
    assert assess(wrapped(asyncpg.UniqueViolationError("duplicate"))) is None
    assert assess(PoolTimeoutError("pool exhausted")) is None
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as exc:
            raise redis.exceptions.ConnectionError("redis down") from exc
    except redis.exceptions.ConnectionError as redis_error:
        assert assess(redis_error) is None  # a Redis failure inside a session is not ours
    assert assess(_database_is_locked(tmp_path)) is None


def _database_is_locked(tmp: Path) -> OperationalError:
    """SQLite's real "database is locked": one connection writes, another tries to."""
    path = tmp / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x int)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    except OperationalError as exc:
        assert "database is locked" in str(exc)
        return exc
    finally:
        holder.close()
        engine.dispose()
    raise AssertionError("the write was not refused")


def test_a_loss_while_committing_is_commit_unknown_and_anything_before_is_aborted() -> None:
    lost = wrapped(asyncpg.ConnectionDoesNotExistError("closed in the middle"), invalidated=True)
    with pytest.raises(CommitOutcomeUnknown), failover_errors(committing=True):
        raise lost
    with pytest.raises(WriteAborted), failover_errors():
        raise lost
    # Refused before anything was sent: aborted, even while committing.
    with pytest.raises(WriteAborted), failover_errors(committing=True):
        raise wrapped(asyncpg.ReadOnlySQLTransactionError("read-only"))
    with pytest.raises(ValueError), failover_errors(committing=True):
        raise ValueError("not a database failure")


def test_backoff_doubles_to_its_cap_with_jitter_and_stops_at_the_deadline() -> None:
    backoff = Backoff(first=0.05, cap=1.0)
    steps = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for step in steps:
        assert step / 2 <= backoff.delay(remaining=100) <= step
    assert backoff.delay(remaining=0.01) == 0.01


async def test_leader_state_counts_read_only_time_and_a_probe_ends_it() -> None:
    metrics = Metrics("test", "test", "test")
    writable = asyncio.Event()

    async def probe() -> bool:
        if not writable.is_set():
            raise ConnectionRefusedError(111, "no leader")
        return True

    state = LeaderState(probe, metrics, probe_interval=0.05)
    state.lost("refused")
    state.lost("refused again")  # once
    assert state.read_only and metrics.db_read_only._value.get() == 1
    await asyncio.sleep(0.3)
    assert state.read_only  # the probe failed meanwhile
    assert "no database leader: writes answered read_only for" in state.describe()
    writable.set()
    for _ in range(100):
        if not state.read_only:
            break
        await asyncio.sleep(0.05)
    assert not state.read_only and metrics.db_read_only._value.get() == 0
    assert metrics.db_read_only_seconds._value.get() >= 0.3
    await state.close()


# -- the retry layer on a small app -------------------------------------------------------
def retrying_app(failures: list[Exception], wait: float = 5.0) -> tuple[FastAPI, list[bytes]]:
    """An app whose POST /echo raises the next of ``failures``, then echoes its body."""
    app = FastAPI()
    install_error_handlers(app)
    bodies: list[bytes] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        bodies.append(await request.body())
        if failures:
            raise failures.pop(0)
        return {"body": bodies[-1].decode(), "repeatable": current_commits().repeatable}  # type: ignore[union-attr]

    metrics = Metrics("test", "test", "test")
    app.add_middleware(FailoverRetryMiddleware, wait_seconds=wait, metrics=metrics)
    app.state.metrics = metrics
    return app, bodies


async def post(app: FastAPI, body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/echo", content=body)


def outcome(app: FastAPI, name: str) -> float:
    value = app.state.metrics.registry.get_sample_value("db_write_retries_total", {"outcome": name})
    return value or 0.0


async def test_an_aborted_request_runs_again_with_its_body() -> None:
    app, bodies = retrying_app([WriteAborted(no_leader()), WriteAborted(Verdict(Kind.CUT, False))])
    r = await post(app, b"x" * 100_000)
    assert r.status_code == 200, r.text
    assert r.json()["body"] == "x" * 100_000
    assert bodies == [b"x" * 100_000] * 3
    assert outcome(app, "recovered") == 1


async def test_after_the_wait_the_answer_is_read_only() -> None:
    app, bodies = retrying_app([WriteAborted(no_leader()) for _ in range(1000)], wait=0.3)
    r = await post(app, b"{}")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "read_only"
    assert r.headers["x-quiz-read-only"] == "1" and r.headers["retry-after"] == "5"
    assert 2 < len(bodies) < 20  # 50 ms doubling, within 0.3 s
    assert outcome(app, "read_only") == 1


async def test_a_request_that_committed_or_lost_a_commit_is_not_run_again() -> None:
    app, bodies = retrying_app([CommitOutcomeUnknown()])
    r = await post(app, b"{}")
    assert r.status_code == 503 and r.json()["error"]["code"] == "commit_unknown"
    assert "x-quiz-read-only" not in r.headers
    assert len(bodies) == 1 and outcome(app, "commit_unknown") == 1

    app, bodies = retrying_app([])

    @app.post("/partly")
    async def partly() -> None:
        note_commit()  # a first transaction committed, then the leader went away
        raise WriteAborted(no_leader())

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/partly")
    # Not read_only ("nothing was saved"): something was, so the client must check first.
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "commit_unknown"
    assert r.json()["error"]["message"] == READ_ONLY_PARTLY_SAVED_MESSAGE
    assert "x-quiz-read-only" not in r.headers
    assert outcome(app, "commit_unknown") == 1


def test_sqlite_instances_have_no_retry_layer(tmp_path: Path) -> None:
    """One SQLite file has no failover: nothing is retried, nothing is wrapped."""
    from tests.conftest import make_settings

    from quizplatform.app import create_app

    sqlite = create_app(make_settings("sqlite", tmp_path))
    assert FailoverRetryMiddleware not in {m.cls for m in sqlite.user_middleware}
    postgres = create_app(
        make_settings("sqlite", tmp_path, database_url="postgresql://x@127.0.0.1:1/q")
    )
    assert FailoverRetryMiddleware in {m.cls for m in postgres.user_middleware}
