"""The caller's question bank: list and filter, add, edit (a new version), remove, and
move or tag questions in bulk. A teacher's own bank only: there is no way to name
another's, and students have none (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from quizplatform.api.deps import CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.schemas.bank import BankMoveIn, BankTagIn, Category
from quizplatform.schemas.questions import QuestionIn

router = APIRouter(
    prefix=API_PREFIX,
    tags=["bank"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


@router.get("/bank/questions", summary="The caller's bank questions, filtered by category/tag")
async def list_bank(
    caller: CurrentUser,
    services: ServicesDep,
    category: Annotated[Category | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    found = await services.bank.search(
        caller, category=category, tag=tag, text=q, page=page, per_page=per_page
    )
    return json_response(
        {"items": list(found.items), "total": found.total, "page": page, "per_page": per_page}
    )


@router.get("/bank/categories", summary="The caller's bank categories with question counts")
async def bank_categories(caller: CurrentUser, services: ServicesDep) -> Response:
    counts = await services.bank.categories(caller)
    return json_response(
        {"items": [{"category": c.category, "questions": c.questions} for c in counts]}
    )


@router.post("/bank/questions", status_code=201, summary="Add a question to the caller's bank")
async def add_bank_question(
    body: Annotated[QuestionIn, Body()], caller: CurrentUser, services: ServicesDep
) -> Response:
    return json_response(await services.bank.add(caller, body.to_domain()), 201)


@router.patch(
    "/bank/questions/{question_id}",
    summary="Edit a bank question: a new version with a new id (attempts keep the old)",
)
async def edit_bank_question(
    question_id: str,
    body: Annotated[QuestionIn, Body()],
    caller: CurrentUser,
    services: ServicesDep,
) -> Response:
    return json_response(await services.bank.edit(caller, question_id, body.to_domain()))


@router.delete(
    "/bank/questions/{question_id}",
    status_code=204,
    summary="Remove a question from the bank (attempts that drew it keep it)",
)
async def remove_bank_question(
    question_id: str, caller: CurrentUser, services: ServicesDep
) -> Response:
    await services.bank.remove(caller, question_id)
    return Response(status_code=204)


@router.post("/bank/questions/move", summary="File bank questions under a category")
async def move_bank_questions(
    body: BankMoveIn, caller: CurrentUser, services: ServicesDep
) -> Response:
    moved = await services.bank.move(caller, body.ids, body.category)
    return json_response({"moved": moved})


@router.post("/bank/questions/tag", summary="Add and remove tags on bank questions")
async def tag_bank_questions(
    body: BankTagIn, caller: CurrentUser, services: ServicesDep
) -> Response:
    changed = await services.bank.retag(caller, body.ids, body.add, body.remove)
    return json_response({"changed": changed})
