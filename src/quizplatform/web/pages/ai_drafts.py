"""AI drafts: ask for a draft quiz (``AIDraftService.request_draft``, as ``POST
/ai/quizzes``) and follow its job live.

The job page holds a status fragment that htmx re-requests every second while the job
is queued or running. The poll names the status the page shows; while it has not
changed the answer is an empty 204, which htmx does not swap, so the live region is not
re-announced every second. Once the job has finished, the fragment comes back without
its polling trigger, which ends the polling.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from quizplatform.ai.base import DraftRequest
from quizplatform.domain.drafts import DIFFICULTIES, DRAFT_TYPES
from quizplatform.schemas.ai import AIQuizIn
from quizplatform.services.errors import Invalid, RateLimited
from quizplatform.web.forms import FormErrors, read_form, text_field
from quizplatform.web.pages.teacher import JOB_BADGES, render_teacher_page, require_author
from quizplatform.web.question_forms import TYPE_LABELS, question_type
from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.validation import friendly_message, sentence

router = page_router()
FINISHED = ("succeeded", "failed")
RECENT_JOBS = 10
STATUS_TEXT = {
    "queued": "Waiting for a worker to start on it…",
    "running": "Drafting the questions…",
    "succeeded": "Your draft is ready.",
    "failed": "The draft could not be made.",
}


def _type_choices() -> list[tuple[str, str]]:
    choices = []
    for name in DRAFT_TYPES:
        type_ = question_type(name)
        choices.append((name, TYPE_LABELS[type_] if type_ else name))
    return choices


def _blank_values() -> dict[str, Any]:
    return {
        "topic": "",
        "source_text": "",
        "num_questions": "10",
        "question_types": list(DRAFT_TYPES),
        "difficulty": "",
        "language": "",
        "title": "",
    }


@router.get("/teach/ai")
async def ai_page(request: Request, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    return await _form_page(request, user, web, _blank_values(), FormErrors())


@router.post("/teach/ai")
async def request_draft(request: Request, user: CurrentUser, web: Web) -> Response:
    require_author(user)
    data = await read_form(request)
    values: dict[str, Any] = {
        "topic": text_field(data, "topic", max_chars=201),
        "source_text": text_field(data, "source_text", max_chars=200_001),
        "num_questions": text_field(data, "num_questions", max_chars=10),
        "question_types": [t for t in data.getlist("question_types") if isinstance(t, str)],
        "difficulty": text_field(data, "difficulty", max_chars=10),
        "language": text_field(data, "language", max_chars=41),
        "title": text_field(data, "title", max_chars=201),
    }
    errors = FormErrors()
    draft = _draft_request(values, errors)
    status = 422
    if draft is not None:
        try:
            job = await web.services.ai.request_draft(user, draft)
        except Invalid as exc:
            for detail in exc.details:
                loc = [str(part) for part in detail.get("loc") or []]
                name = loc[-1] if loc and loc[-1] in values else None
                errors.add(name, sentence(str(detail.get("message", ""))))
        except RateLimited as exc:
            errors.add(None, sentence(exc.message))
            status = 429
        else:
            return see_other(request, f"/teach/ai/jobs/{job.id}")
    return await _form_page(request, user, web, values, errors, status=status)


def _draft_request(values: dict[str, Any], errors: FormErrors) -> DraftRequest | None:
    """The request the form describes (checked by the API's own model), or None."""
    try:
        count = int(values["num_questions"].strip())
    except ValueError:
        errors.add("num_questions", "Enter how many questions you want, from 1 to 50.")
        return None
    if not values["question_types"]:
        errors.add("question_types", "Choose at least one type of question.")
        return None
    body = {
        "topic": values["topic"].strip() or None,
        "source_text": values["source_text"].strip() or None,
        "num_questions": count,
        "question_types": values["question_types"],
        "difficulty": values["difficulty"] or None,
        "language": values["language"].strip() or None,
        "title": values["title"].strip() or None,
    }
    try:
        checked = AIQuizIn.model_validate(body)
    except ValidationError as exc:
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else None
            errors.add(name if name in values else None, friendly_message(problem))
        return None
    if not checked.topic and not checked.source_text:
        errors.add("topic", "Give a topic, a text to draw the questions from, or both.")
        return None
    return DraftRequest(
        num_questions=checked.num_questions,
        question_types=tuple(dict.fromkeys(checked.question_types or DRAFT_TYPES)),
        topic=checked.topic,
        source_text=checked.source_text,
        difficulty=checked.difficulty,
        language=checked.language,
        title=checked.title,
    )


async def _form_page(
    request: Request,
    user: CurrentUser,
    web: Web,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    status: int = 200,
) -> Response:
    jobs, _ = await web.services.ai.jobs(user, 1, RECENT_JOBS)
    context = {
        "values": values,
        "errors": errors,
        "type_choices": _type_choices(),
        "difficulties": DIFFICULTIES,
        "jobs": jobs,
        "status_text": STATUS_TEXT,
    }
    return await render_teacher_page(request, "pages/teacher/ai.html", context, status=status)


@router.get("/teach/ai/jobs/{job_id}")
async def job_page(request: Request, job_id: str, user: CurrentUser, web: Web) -> Response:
    job = await web.services.ai.job(user, job_id)
    context = {"job": job, "status_text": STATUS_TEXT, "finished": FINISHED}
    return await render_teacher_page(request, "pages/teacher/ai_job.html", context)


@router.get("/teach/ai/jobs/{job_id}/status")
async def job_status(
    request: Request,
    job_id: str,
    user: CurrentUser,
    web: Web,
    shown: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The status fragment (htmx); 204 while the status is still the one shown."""
    job = await web.services.ai.job(user, job_id)
    if job.status == shown and shown not in FINISHED:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    context = {
        "job": job,
        "status_text": STATUS_TEXT,
        "finished": FINISHED,
        "job_badges": JOB_BADGES,
    }
    return await render(request, "pages/teacher/ai_job_status.html", context)
