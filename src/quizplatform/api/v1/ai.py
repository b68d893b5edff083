"""AI drafts: ask for a draft quiz (a background job) and follow the job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from quizplatform.ai.base import DraftRequest
from quizplatform.api.deps import CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.documents import job_json
from quizplatform.domain.drafts import DRAFT_TYPES
from quizplatform.schemas.ai import AIQuizIn

router = APIRouter(
    prefix=API_PREFIX,
    tags=["ai"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


@router.post(
    "/ai/quizzes",
    status_code=202,
    summary="Ask for an AI-drafted quiz; returns a job to follow at /jobs/{id}",
)
async def request_draft(body: AIQuizIn, caller: CurrentUser, services: ServicesDep) -> Response:
    request = DraftRequest(
        num_questions=body.num_questions,
        question_types=tuple(dict.fromkeys(body.question_types or DRAFT_TYPES)),
        topic=body.topic.strip() if body.topic else None,
        source_text=body.source_text.strip() if body.source_text else None,
        difficulty=body.difficulty,
        language=body.language.strip() if body.language else None,
        title=body.title,
    )
    job = await services.ai.request_draft(caller, request)
    body_out = {"job_id": job.id, **job_json(job)}
    return json_response(body_out, 202, {"Location": f"{API_PREFIX}/jobs/{job.id}"})


@router.get("/jobs/{id}", summary="A background job: status, result, provider, timings")
async def get_job(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    return json_response(job_json(await services.ai.job(caller, id)))


@router.get("/jobs", summary="The caller's background jobs, newest first")
async def list_jobs(
    caller: CurrentUser,
    services: ServicesDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    items, total = await services.ai.jobs(caller, page, per_page)
    return json_response(
        {
            "items": [job_json(item) for item in items],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )
