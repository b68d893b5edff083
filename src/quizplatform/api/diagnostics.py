"""Test-only routes (``QUIZ_DIAGNOSTIC_ROUTES=true``; refused in production): a slow
request for drain drills and a failing one for error-handling drills."""

from __future__ import annotations

import asyncio
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
