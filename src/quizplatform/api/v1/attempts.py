"""Attempts, grading, leaderboard and report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from quizplatform.api.deps import CurrentUser, MaybeUser, ServicesDep, SettingsDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.attempt_json import (
    attempt_json,
    leaderboard_json,
    report_json,
    saved_response_json,
)
from quizplatform.api.v1.schemas import GradeIn

router = APIRouter(
    prefix=API_PREFIX,
    tags=["attempts"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


@router.post(
    "/quizzes/{id}/attempts",
    status_code=201,
    summary="Start an attempt (or resume the running one: 200)",
)
async def start_attempt(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    view, created = await services.attempts.start(caller, id)
    return json_response(attempt_json(view), 201 if created else 200)


@router.put("/attempts/{id}/responses/{question_id}", summary="Save a response (idempotent)")
async def save_response(
    id: str,
    question_id: str,
    caller: CurrentUser,
    services: ServicesDep,
    body: Annotated[Any, Body(description="the response shape of the question's type")],
) -> Response:
    saved = await services.attempts.save_response(caller, id, question_id, body)
    return json_response(saved_response_json(saved))


@router.post("/attempts/{id}/submit", summary="Submit an attempt (repeat-safe)")
async def submit(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    return json_response(attempt_json(await services.attempts.submit(caller, id)))


@router.get("/attempts/{id}", summary="An attempt (its student or the quiz owner)")
async def get_attempt(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    return json_response(attempt_json(await services.attempts.get(caller, id)))


@router.post("/attempts/{id}/grades/{question_id}", summary="Grade an essay response")
async def grade(
    id: str, question_id: str, body: GradeIn, caller: CurrentUser, services: ServicesDep
) -> Response:
    view = await services.attempts.grade(caller, id, question_id, body.score)
    return json_response(attempt_json(view))


@router.get("/quizzes/{id}/leaderboard", summary="Best attempt per student")
async def leaderboard(
    id: str,
    services: ServicesDep,
    settings: SettingsDep,
    caller: MaybeUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> Response:
    limit = min(limit, settings.leaderboard_limit_max)
    return json_response(leaderboard_json(await services.attempts.leaderboard(caller, id, limit)))


@router.get("/quizzes/{id}/report", summary="Item analysis for the quiz owner")
async def report(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    return json_response(report_json(await services.attempts.report(caller, id)))
