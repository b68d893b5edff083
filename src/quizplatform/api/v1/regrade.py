"""Regrading a quiz's submitted attempts after its key was fixed (dry run by default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from quizplatform.api.deps import CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.schemas.base import Strict
from quizplatform.services.attempts import RegradePlan

router = APIRouter(
    prefix=API_PREFIX,
    tags=["attempts"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


class RegradeIn(Strict):
    """``dry_run`` (the default): say what would change and write nothing."""

    dry_run: bool = True


@router.post(
    "/quizzes/{id}/regrade",
    summary="Regrade submitted attempts against the current keys (dry run by default)",
)
async def regrade(
    id: str, caller: CurrentUser, services: ServicesDep, body: RegradeIn | None = None
) -> Response:
    dry_run = True if body is None else body.dry_run
    plan = await services.attempts.regrade(caller, id, dry_run=dry_run)
    return json_response(regrade_json(plan, dry_run=dry_run))


def regrade_json(plan: RegradePlan, *, dry_run: bool) -> dict[str, Any]:
    """The plan: every attempt whose result changes, and per current question how many
    responses are scored differently (or stay on their older version)."""
    return {
        "quiz_id": plan.quiz_id,
        "dry_run": dry_run,
        "applied": plan.applied,
        "attempts_checked": plan.attempts_checked,
        "attempts_changed": len(plan.attempts),
        "attempts_moved_only": plan.attempts_moved_only,
        "total_delta": plan.total_delta,
        "attempts": [
            {
                "attempt_id": a.attempt_id,
                "user_id": a.user_id,
                "student": a.student,
                "email": a.email,
                "old": {
                    "score": a.old_score,
                    "max_score": a.old_max_score,
                    "percent": a.old_percent,
                },
                "new": {
                    "score": a.new_score,
                    "max_score": a.new_max_score,
                    "percent": a.new_percent,
                },
                "delta": a.delta,
                "responses_changed": a.responses_changed,
                "questions_updated": a.questions_updated,
            }
            for a in plan.attempts
        ],
        "questions": [
            {
                "question_id": q.question_id,
                "responses_changed": q.responses_changed,
                "kept_on_old_version": q.kept_on_old_version,
            }
            for q in plan.questions
        ],
    }
