"""Quizzes: authoring, publishing, search (import and export: ``imports.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from quizplatform.api.deps import CurrentUser, MaybeUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response, raw_json
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.documents import quiz_json, quiz_json_bytes, quiz_summary_json
from quizplatform.domain.questions import QuizContent, QuizSettings
from quizplatform.schemas.quizzes import QuizIn, QuizPatch
from quizplatform.services.quizzes import QuizChanges, QuizSnapshot, quiz_document

router = APIRouter(
    prefix=API_PREFIX,
    tags=["quizzes"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


@router.post("/quizzes", status_code=201, summary="Create a quiz (draft)")
async def create_quiz(body: QuizIn, caller: CurrentUser, services: ServicesDep) -> Response:
    content = QuizContent(
        title=body.title,
        description=body.description,
        tags=list(body.tags),
        settings=body.settings.merged_into(QuizSettings()) if body.settings else QuizSettings(),
        questions=[q.to_domain() for q in body.questions],
    )
    draws = tuple(d.to_domain() for d in body.draws)
    snap = await services.quizzes.create(caller, content, draws=draws)
    return json_response(_owner_view(snap), 201)


@router.get("/quizzes", summary="Published quizzes, or the caller's own with mine=true")
async def list_quizzes(
    services: ServicesDep,
    caller: MaybeUser,
    mine: bool = False,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    items, total = await services.quizzes.search(
        caller, mine=mine, text=q, tag=tag, page=page, per_page=per_page
    )
    return json_response(
        {
            "items": [quiz_summary_json(item) for item in items],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )


@router.get("/quizzes/{id}", summary="A quiz: full for its owner, without keys for others")
async def get_quiz(id: str, services: ServicesDep, caller: MaybeUser) -> Response:
    snap, is_owner = await services.quizzes.visible(caller, id)
    if is_owner:
        return json_response(_owner_view(snap))
    return raw_json(await services.quizzes.student_view_bytes(snap, quiz_json_bytes))


@router.patch("/quizzes/{id}", summary="Change a quiz; answered questions are versioned")
async def patch_quiz(
    id: str, body: QuizPatch, caller: CurrentUser, services: ServicesDep
) -> Response:
    current = await services.quizzes.owned(caller, id)
    changes = QuizChanges(
        title=body.title,
        description=body.description,
        tags=None if body.tags is None else tuple(body.tags),
        settings=None if body.settings is None else body.settings.merged_into(current.settings),
        questions=None if body.questions is None else tuple(q.to_domain() for q in body.questions),
        draws=None if body.draws is None else tuple(d.to_domain() for d in body.draws),
    )
    snap = await services.quizzes.update(caller, id, changes)
    return json_response(_owner_view(snap))


@router.delete("/quizzes/{id}", status_code=204, summary="Delete a quiz and its attempts")
async def delete_quiz(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    await services.quizzes.delete(caller, id)
    return Response(status_code=204)


@router.post("/quizzes/{id}/publish", summary="Publish a quiz")
async def publish(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    snap = await services.quizzes.set_status(caller, id, publish=True)
    return json_response(_owner_view(snap))


@router.post("/quizzes/{id}/unpublish", summary="Take a quiz back to draft")
async def unpublish(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    snap = await services.quizzes.set_status(caller, id, publish=False)
    return json_response(_owner_view(snap))


def _owner_view(snap: QuizSnapshot) -> dict[str, object]:
    return quiz_json(quiz_document(snap, owner=True))
