"""Quizzes: authoring, publishing, search, import and export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import UploadFile

from quizplatform.api.deps import CurrentUser, MaybeUser, ServicesDep
from quizplatform.api.responses import json_response, raw_json
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.schemas import QuizIn, QuizPatch
from quizplatform.domain.questions import QuizContent, QuizSettings
from quizplatform.services.errors import Invalid
from quizplatform.services.quizzes import quiz_view

router = APIRouter(prefix=API_PREFIX, tags=["quizzes"])
Format = Literal["gift", "aiken", "json"]


@router.post("/quizzes", status_code=201, summary="Create a quiz (draft)")
async def create_quiz(body: QuizIn, caller: CurrentUser, services: ServicesDep) -> Response:
    content = QuizContent(
        title=body.title,
        description=body.description,
        tags=list(body.tags),
        settings=body.settings.merged_into(QuizSettings()) if body.settings else QuizSettings(),
        questions=[q.to_domain() for q in body.questions],
    )
    snap = await services.quizzes.create(caller, content)
    return json_response(quiz_view(snap, owner=True), 201)


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
    return json_response({"items": items, "total": total, "page": page, "per_page": per_page})


@router.get("/quizzes/{id}", summary="A quiz: full for its owner, without keys for others")
async def get_quiz(id: str, services: ServicesDep, caller: MaybeUser) -> Response:
    snap, is_owner = await services.quizzes.visible(caller, id)
    if is_owner:
        return json_response(quiz_view(snap, owner=True))
    return raw_json(await services.quizzes.student_view_bytes(snap))


@router.patch("/quizzes/{id}", summary="Change a quiz; answered questions are versioned")
async def patch_quiz(
    id: str, body: QuizPatch, caller: CurrentUser, services: ServicesDep
) -> Response:
    current = await services.quizzes.owned(caller, id)
    changes: dict[str, Any] = {}
    for name in ("title", "description", "tags"):
        if getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if body.settings is not None:
        changes["settings"] = body.settings.merged_into(current.settings)
    if body.questions is not None:
        changes["questions"] = [q.to_domain() for q in body.questions]
    snap = await services.quizzes.update(caller, id, changes)
    return json_response(quiz_view(snap, owner=True))


@router.delete("/quizzes/{id}", status_code=204, summary="Delete a quiz and its attempts")
async def delete_quiz(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    await services.quizzes.delete(caller, id)
    return Response(status_code=204)


@router.post("/quizzes/{id}/publish", summary="Publish a quiz")
async def publish(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    snap = await services.quizzes.set_status(caller, id, publish=True)
    return json_response(quiz_view(snap, owner=True))


@router.post("/quizzes/{id}/unpublish", summary="Take a quiz back to draft")
async def unpublish(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    snap = await services.quizzes.set_status(caller, id, publish=False)
    return json_response(quiz_view(snap, owner=True))


@router.post(
    "/quizzes/import",
    status_code=201,
    summary="Import a GIFT, Aiken or JSON file as a draft quiz",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def import_quiz(
    request: Request,
    caller: CurrentUser,
    services: ServicesDep,
    format: Format,
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    text = await _uploaded_text(request)
    snap = await services.quizzes.import_text(caller, format, text, title)
    return json_response(quiz_view(snap, owner=True), 201)


@router.get("/quizzes/{id}/export", summary="Download a quiz as GIFT, Aiken or JSON")
async def export_quiz(
    id: str, format: Format, caller: CurrentUser, services: ServicesDep
) -> Response:
    text, media_type = await services.quizzes.export_text(caller, id, format)
    extension = {"gift": "gift.txt", "aiken": "aiken.txt", "json": "json"}[format]
    return Response(
        text.encode(),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="quiz-{id}.{extension}"'},
    )


async def _uploaded_text(request: Request) -> str:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid(
                "send the file in the multipart field 'file'",
                [{"loc": ["body", "file"], "message": "missing"}],
            )
        raw = await upload.read()
    else:
        raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            "the file is not UTF-8 text",
            [{"line": raw[: exc.start].count(b"\n") + 1, "message": "not UTF-8"}],
        ) from exc
    if not text.strip():
        raise Invalid("the file is empty", [{"line": 1, "message": "empty file"}])
    return text
