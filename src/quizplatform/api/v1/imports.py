"""Quiz files: import (with format detection), preview an import, export. Every format
registered in ``quizplatform.domain.formats`` is offered, text or binary (a zip package).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from quizplatform.api.deps import CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.documents import quiz_json
from quizplatform.domain.formats import FORMAT_INFO, FORMATS, FormatInfo
from quizplatform.services.errors import Invalid
from quizplatform.services.imports import FileIssue, ImportPreview
from quizplatform.services.quizzes import quiz_document

router = APIRouter(
    prefix=API_PREFIX,
    tags=["quizzes"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)

if TYPE_CHECKING:
    Format = str
else:  # every registered format, so the OpenAPI document lists them
    Format = Literal[FORMATS]

# The body types an import takes (the body policy accepts the same on import routes).
_FILE_BODY: dict[str, Any] = {
    "content": {
        "text/plain": {"schema": {"type": "string", "minLength": 1}},
        # Read as the file's bytes whatever the type: format=json expects the platform's
        # JSON document, moodle_xml Moodle XML, qti a zip package.
        "application/json": {"schema": {}},
        "application/xml": {"schema": {}},
        "text/xml": {"schema": {}},
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    }
}
FormatQuery = Annotated[
    Format | None,
    Query(description="The file's format; leave it out to detect it from the file"),
]
SkipQuery = Annotated[
    bool,
    Query(description="Leave out questions of types the platform lacks (listed as warnings)"),
]
TitleQuery = Annotated[str | None, Query(max_length=200)]


def _file_schema(info: FormatInfo) -> dict[str, str]:
    """An exported file's schema: text, bytes, or (JSON, XML) a document of its own."""
    if info.binary:
        return {"type": "string", "format": "binary"}
    return {"type": "string"} if info.media_type.startswith("text/") else {}


class IssueOut(BaseModel):
    line: int
    message: str
    file: str | None = None


class QuestionPreviewOut(BaseModel):
    type: str
    title: str | None
    prompt: str
    points: float
    category: str | None
    tags: list[str]


class ImportPreviewOut(BaseModel):
    """What an import of the same file would do (nothing is saved)."""

    format: str
    detected: bool
    title: str
    ok: bool
    questions: list[QuestionPreviewOut]
    warnings: list[IssueOut]
    problems: list[IssueOut]
    skippable: int | None
    skip_unsupported: bool


@router.post(
    "/quizzes/import",
    status_code=201,
    summary="Import a quiz file (any registered format, detected if not given) as a draft",
    openapi_extra={"requestBody": _FILE_BODY},
)
async def import_quiz(
    request: Request,
    caller: CurrentUser,
    services: ServicesDep,
    format: FormatQuery = None,
    skip_unsupported: SkipQuery = False,
    title: TitleQuery = None,
) -> Response:
    data, filename = await _uploaded(request)
    snap = await services.quizzes.import_file(
        caller, format, data, title, filename=filename, skip_unsupported=skip_unsupported
    )
    return json_response(quiz_json(quiz_document(snap, owner=True)), 201)


@router.post(
    "/quizzes/import/preview",
    summary="Preview an import: the format, the questions, warnings and problems; saves nothing",
    openapi_extra={"requestBody": _FILE_BODY},
    responses={200: {"model": ImportPreviewOut}},
)
async def preview_import(
    request: Request,
    caller: CurrentUser,
    services: ServicesDep,
    format: FormatQuery = None,
    skip_unsupported: SkipQuery = False,
    title: TitleQuery = None,
) -> Response:
    data, filename = await _uploaded(request)
    preview = await services.quizzes.preview_file(
        caller, format, data, title, filename=filename, skip_unsupported=skip_unsupported
    )
    return json_response(preview_json(preview))


@router.get(
    "/quizzes/{id}/export",
    summary="Download a quiz as a file of any registered format",
    responses={
        200: {
            "description": "The file, of the format's media type, as an attachment",
            "content": {
                info.media_type.split(";")[0]: {"schema": _file_schema(info)}
                for info in FORMAT_INFO.values()
            },
        }
    },
)
async def export_quiz(
    id: str, format: Format, caller: CurrentUser, services: ServicesDep
) -> Response:
    data, media_type = await services.quizzes.export_file(caller, id, format)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{export_filename(id, format)}"'},
    )


def export_filename(quiz_id: str, fmt: str) -> str:
    """``quiz-<id>.<the format's extension>``, safe in a header (ids are opaque)."""
    safe = "".join(c for c in quiz_id if c.isascii() and (c.isalnum() or c in "-_"))[:64]
    return f"quiz-{safe}.{FORMAT_INFO[fmt].extension}"


def preview_json(preview: ImportPreview) -> dict[str, object]:
    return {
        "format": preview.format,
        "detected": preview.detected,
        "title": preview.title,
        "ok": preview.ok,
        "questions": [
            {
                "type": q.type,
                "title": q.title,
                "prompt": q.prompt,
                "points": q.points,
                "category": q.category,
                "tags": q.tags,
            }
            for q in preview.questions
        ],
        "warnings": [_issue_json(i) for i in preview.warnings],
        "problems": [_issue_json(i) for i in preview.problems],
        "skippable": preview.skippable,
        "skip_unsupported": preview.skip_unsupported,
    }


def _issue_json(issue: FileIssue) -> dict[str, object]:
    return {"line": issue.line, "message": issue.message, "file": issue.file}


async def _uploaded(request: Request) -> tuple[bytes, str | None]:
    """The file's bytes (the body, or the multipart field ``file``) and its name."""
    ctype = request.headers.get("content-type", "")
    if ctype.lower().startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid(
                "send the file in the multipart field 'file'",
                [{"loc": ["body", "file"], "message": "missing"}],
            )
        return await upload.read(), upload.filename
    return await request.body(), None
