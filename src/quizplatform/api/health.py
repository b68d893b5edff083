"""Health endpoints (outside /api/v1): live, ready and a deep check."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from quizplatform.api.responses import json_response
from quizplatform.db.migrate import current_revision, head_revision
from quizplatform.services.container import Services

router = APIRouter(tags=["operations"], include_in_schema=False)
CHECK_TIMEOUT = 1.0


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.get("/health/live")
async def live() -> Response:
    return json_response({"status": "ok"})


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    services = _services(request)
    if request.app.state.draining:
        return json_response({"status": "unavailable", "reason": "draining"}, 503)
    result = await _database(services)
    if result["status"] != "ok":
        return json_response({"status": "unavailable", "reason": result.get("detail")}, 503)
    return json_response({"status": "ok"})


@router.get("/health")
async def deep(request: Request) -> Response:
    services = _services(request)
    database, cache = await asyncio.gather(_database(services), _cache(services))
    checks = {"database": database, "cache": cache}
    status = (
        "down"
        if database["status"] != "ok"
        else ("degraded" if any(c["status"] != "ok" for c in checks.values()) else "ok")
    )
    return json_response(
        {"status": status, "version": services.settings.version, "checks": checks},
        503 if status == "down" else 200,
    )


async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check, CHECK_TIMEOUT)
        result: dict[str, Any] = {"status": "ok"}
        if detail:
            result["detail"] = detail
    except TimeoutError:
        result = {"status": "down", "detail": f"no answer within {CHECK_TIMEOUT:g} s"}
    except SchemaBehind as exc:
        result = {"status": "down", "detail": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any failure is a failed check
        result = {"status": "down", "detail": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def _database(services: Services) -> dict[str, Any]:
    async def check() -> str | None:
        async with services.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revision)
        head = head_revision(services.settings)
        if current != head:
            raise SchemaBehind(f"schema at {current}, code expects {head}")
        return None

    result = await _timed(check())
    return result


async def _cache(services: Services) -> dict[str, Any]:
    async def check() -> str:
        await services.store.ping()
        return "redis" if services.settings.redis_url else "in-process"

    return await _timed(check())


class SchemaBehind(RuntimeError):
    pass
