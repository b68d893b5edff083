"""Test-only routes (``QUIZ_DIAGNOSTIC_ROUTES=true``; refused in production): a slow
request for drain drills and a failing one for error-handling drills."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from quizplatform.api.responses import json_response

router = APIRouter(prefix="/_diag", include_in_schema=False)


@router.get("/sleep")
async def sleep(seconds: Annotated[float, Query(ge=0, le=60)] = 1.0) -> Response:
    await asyncio.sleep(seconds)
    return json_response({"slept": seconds})


@router.get("/error")
async def error() -> Response:
    raise RuntimeError("diagnostic failure: SELECT * FROM users -- /srv/quizplatform/api.py")


@router.get("/cpu")
async def burn_cpu(ms: Annotated[float, Query(ge=0, le=1000)] = 20.0) -> Response:
    """Keep the CPU busy for ``ms`` milliseconds (autoscaler drills)."""
    deadline = time.perf_counter() + ms / 1000
    spins = 0
    while time.perf_counter() < deadline:
        spins += 1
    return json_response({"busy_ms": ms, "spins": spins})
