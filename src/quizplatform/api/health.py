"""Health endpoints (outside /api/v1).

- ``/health/live``: the process can serve at all; no I/O.
- ``/health/ready``: this instance should get traffic: it can serve reads (the primary
  database answers within 1 s, or else a replica does), the schema read from whichever
  answered is at head, and it is not draining. The load balancer checks it. A database
  without a leader does not take the instances out: they serve reads and answer writes
  ``read_only`` (``db/leader.py``).
- ``/health``: every dependency, each with status, latency and detail, checked
  concurrently with its own timeout, so a slow dependency costs at most ~1 s (~2 s when
  the primary does not answer and a replica is asked instead). ``database`` is
  ``degraded`` while there is no leader, ``down`` (503) only when no database answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from quizplatform.api.responses import json_response
from quizplatform.db.engine import Database
from quizplatform.db.schema_version import database_revision
from quizplatform.services.container import Services

router = APIRouter(tags=["operations"], include_in_schema=False)
CHECK_TIMEOUT = 1.0
REPLICA_LAG_DEGRADED_SECONDS = 30.0


class CheckFailed(Exception):
    """A check ran and found a problem worth reporting as its detail."""


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.api_route("/health/live", methods=["GET", "HEAD"])
async def live() -> Response:
    return json_response({"status": "ok"})


@router.api_route("/health/ready", methods=["GET", "HEAD"])
async def ready(request: Request) -> Response:
    if request.app.state.draining:
        return json_response({"status": "unavailable", "reason": "draining"}, 503)
    result = await _readable(_services(request))
    if result["status"] == "down":
        return json_response({"status": "unavailable", "reason": result.get("detail")}, 503)
    if result["status"] == "degraded":
        return json_response({"status": "ok", "detail": result.get("detail")})
    return json_response({"status": "ok"})


@router.get("/health")
async def deep(request: Request) -> Response:
    services = _services(request)
    names = ["database", "replica", "cache", "ai"]
    results = await asyncio.gather(
        _readable(services),
        _timed(lambda: _replicas(services)),
        _timed(lambda: _cache(services)),
        _timed(lambda: _ai(services)),
    )
    checks = dict(zip(names, results, strict=True))
    if checks["database"]["status"] == "down":
        status = "down"
    elif any(c["status"] != "ok" for c in checks.values()) or request.app.state.draining:
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "version": services.settings.version,
        "commit": services.settings.commit,
        "instance": services.settings.instance_id,
        "draining": request.app.state.draining,
        "checks": checks,
    }
    return json_response(body, 503 if status == "down" else 200)


async def _bounded(check: Awaitable[Any], seconds: float) -> Any:
    """``check``'s result, or TimeoutError after ``seconds`` of wall time.

    Not ``asyncio.wait_for``: it waits for the cancelled check to finish, and cancelling
    a query on a server that stopped answering (a frozen database node) can itself hang
    for seconds. The abandoned check is cancelled and left to end on its own."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        raise TimeoutError
    return task.result()


_abandoned: set[asyncio.Future[Any]] = set()


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any]
    try:
        outcome = await _bounded(check(), CHECK_TIMEOUT)
        result = {"status": "ok"}
        if isinstance(outcome, dict):
            result.update(outcome)
        elif outcome:
            result["detail"] = outcome
    except TimeoutError:
        result = {"status": "down", "detail": f"no answer within {CHECK_TIMEOUT:g} s"}
    except CheckFailed as exc:
        result = {"status": "down", "detail": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any failure is a failed check
        result = {"status": "down", "detail": f"{type(exc).__name__}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def _readable(services: Services) -> dict[str, Any]:
    """The database check: ``ok``; ``degraded`` when there is no leader for writes but
    reads are served (by the primary's server or a replica); ``down`` when no database
    answers or the schema is behind this release."""
    # The primary and the replicas at once: together they take at most one timeout.
    primary, *replicas = await asyncio.gather(
        _timed(partial(_database, services.db, services.schema_head)),
        *(_timed(partial(_database, r, services.schema_head)) for r in services.replicas),
    )
    leader = services.db.leader
    if primary["status"] == "ok":
        in_recovery = primary.pop("in_recovery", False)
        if leader.read_only or in_recovery:
            primary["status"] = "degraded"
            primary["detail"] = (
                leader.describe()
                if leader.read_only
                else "no database leader: the write address reaches a server in recovery"
            )
        return primary
    if _schema_problem(primary) or not services.replicas:
        return primary
    for replica, result in zip(services.replicas, replicas, strict=True):
        if result["status"] == "ok":
            result.pop("in_recovery", None)
            why = leader.describe() if leader.read_only else "no database leader"
            result["status"] = "degraded"
            result["detail"] = (
                f"{why}; the primary: {primary.get('detail')}; reads from {replica.name}"
            )
            return result
    return primary


def _schema_problem(result: dict[str, Any]) -> bool:
    return str(result.get("detail", "")).startswith("schema at ")


async def _database(database: Database, head: str | None) -> dict[str, Any]:
    """``SELECT 1`` and the schema revision on ``database``; whether it is in recovery."""
    async with database.engine.connect() as conn:
        if database.is_sqlite:
            await conn.execute(text("SELECT 1"))
            in_recovery = False
        else:
            in_recovery = bool(await conn.scalar(text("SELECT pg_is_in_recovery()")))
        current = await database_revision(conn)
    if current != head:
        raise CheckFailed(f"schema at {current}, this release expects {head}")
    return {"in_recovery": in_recovery}


async def _replicas(services: Services) -> dict[str, Any] | str:
    if not services.replicas:
        return "no replica configured"
    lags: list[float] = []
    for replica in services.replicas:
        lags.append(await replica.replication_lag_seconds())
    worst = max(lags)
    result: dict[str, Any] = {"replicas": len(lags), "lag_seconds": round(worst, 3)}
    if worst > REPLICA_LAG_DEGRADED_SECONDS:
        result["status"] = "degraded"
        result["detail"] = f"replication lag {worst:.1f} s"
    return result


async def _cache(services: Services) -> dict[str, str]:
    """The shared store answers; which one it is (with Sentinel: the current master)."""
    await services.store.ping()
    return await services.store.describe()


async def _ai(services: Services) -> dict[str, Any]:
    """The provider chain and each remote provider's shared breaker state; an open or
    probing breaker makes the check (and the instance) degraded, not down."""
    generator = services.ai.generator
    states = await generator.breaker_states()
    result: dict[str, Any] = {
        "provider": generator.chain[0],
        "chain": generator.chain,
        "breakers": {name: state.label for name, state in states.items()},
    }
    tripped = [name for name, state in states.items() if state.value > 0]
    if tripped:
        result["status"] = "degraded"
        result["detail"] = (
            f"circuit breaker not closed for {', '.join(tripped)}: drafts come from the fallbacks"
        )
    elif not states:
        result["detail"] = "no remote AI provider configured (offline drafts)"
    return result
