"""Taking a quiz: start, answer (autosaved through htmx, or by plain form posts), submit,
and the result with the review the quiz's show-answers rule allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from quizplatform.domain.questions import QuestionType
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts import AttemptView, ResponseDocument
from quizplatform.services.errors import Conflict, Invalid, NotFound
from quizplatform.services.question_views import Part, StudentQuestion, type_of
from quizplatform.web.answers import (
    FormAnswer,
    answer_from_form,
    apply_move,
    is_answered,
    ordered_items,
    question_type,
)
from quizplatform.web.forms import read_form, text_field
from quizplatform.web.query import parse_positive_int, positive_int
from quizplatform.web.rendering import render, see_other
from quizplatform.web.review import describe_key, describe_response
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web
from quizplatform.web.state import WebState

router = page_router()
VIEW_COOKIE = "qp_view"  # the student's choice: "one" question per page or "all"
VIEWS = ("all", "one")


@dataclass(frozen=True, slots=True)
class NumberedQuestion:
    """A question of the attempt as the page shows it: its number (None for a
    description), position, saved response, whether that counts as answered, and an
    ordering question's items in the saved order."""

    q: StudentQuestion
    number: int | None
    position: int
    response: ResponseDocument | None
    answered: bool
    items: list[Part]


@router.post("/quizzes/{quiz_id}/start")
async def start(quiz_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    """Start an attempt, or resume the running one (the service decides)."""
    view, _ = await web.services.attempts.start(user, quiz_id)
    return see_other(request, f"/attempts/{view.id}")


def _chosen_view(request: Request) -> tuple[str, bool]:
    """The layout this page uses and whether the choice is new (to be remembered)."""
    asked = request.query_params.get("view")
    if asked in VIEWS:
        return asked, asked != request.cookies.get(VIEW_COOKIE)
    saved = request.cookies.get(VIEW_COOKIE)
    return (saved if saved in VIEWS else "all"), False


@router.get("/attempts/{attempt_id}")
async def take(attempt_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    attempt = await web.services.attempts.get(user, attempt_id)  # submits it if time is up
    if attempt.status != "in_progress" or attempt.user_id != user.user_id:
        notice = "time_up" if attempt.auto_submitted else ""
        return see_other(request, _result_url(attempt_id, notice))
    snap = await web.services.quizzes.snapshot(attempt.quiz_id)
    if snap is None:
        raise NotFound("quiz not found")
    layout, remember = _chosen_view(request)
    questions = _numbered(attempt)
    current = _current_index(request, len(questions)) if layout == "one" else None
    shown = questions if current is None else questions[current - 1 : current]
    answered = sum(1 for q in questions if q.answered)
    context = {
        "attempt": attempt,
        "quiz": snap,
        "layout": layout,
        "questions": questions,
        "shown": shown,
        "current": current,
        "answerable": sum(1 for q in questions if q.number is not None),
        "answered": answered,
        "now": utcnow(),
        "seconds_left": _seconds_left(attempt.deadline_at),
    }
    response = await render(request, "pages/take.html", context)
    if remember:
        response.set_cookie(
            VIEW_COOKIE,
            layout,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            secure=bool(request_context(request.scope).tls),
            samesite="lax",
        )
    return response


def _numbered(attempt: AttemptView) -> list[NumberedQuestion]:
    """The attempt's questions with their number (descriptions have none), the saved
    response, and whether it counts as answered."""
    numbered, number = [], 0
    for position, question in enumerate(attempt.questions, start=1):
        is_item = type_of(question) is not QuestionType.DESCRIPTION
        number += is_item
        response = attempt.responses.get(question["id"] or "")
        numbered.append(
            NumberedQuestion(
                q=question,
                number=number if is_item else None,
                position=position,
                response=response,
                answered=is_item and is_answered(question, response),
                items=ordered_items(question, response),
            )
        )
    return numbered


def _current_index(request: Request, count: int) -> int:
    return positive_int(request, "q", maximum=max(count, 1))


def _seconds_left(deadline: datetime | None) -> int | None:
    if deadline is None:
        return None
    return max(0, int((deadline - datetime.now(UTC)).total_seconds()))


def _result_url(attempt_id: str, notice: str = "") -> str:
    return f"/attempts/{attempt_id}/result" + (f"?notice={notice}" if notice else "")


@router.post("/attempts/{attempt_id}/answers/{question_id}")
async def save_answer(
    attempt_id: str, question_id: str, request: Request, user: CurrentUser, web: Web
) -> Response:
    """Save one question's answer. htmx gets the status line (or, after a move, the
    ordering list); a plain form post is sent back to the page (or on, with ``go``)."""
    form = await read_form(request)
    qtype = question_type(text_field(form, "qtype", max_chars=40))
    move = text_field(form, "move", max_chars=100)
    answer = answer_from_form(qtype, form)
    position = None
    if qtype is QuestionType.ORDERING and move and answer.payload is not None:
        order, position = apply_move(answer.payload["item_ids"], move)
        answer = FormAnswer({"item_ids": order})
    htmx = request.headers.get("hx-request") == "true"
    status, message = 200, answer.empty_message or ""
    if answer.problem is not None:
        status, message = 422, answer.problem
    elif answer.payload is not None:
        try:
            saved = await web.services.attempts.save_response(
                user, attempt_id, question_id, answer.payload
            )
        except Conflict:
            # Submitted meanwhile, or the time is up (the service has submitted it).
            return see_other(request, _result_url(attempt_id, "time_up"))
        except Invalid as exc:
            status, message = 422, _sentence(exc.message)
        else:
            message = f"Saved at {saved.saved_at:%H:%M:%S} UTC."
    moving_on = text_field(form, "go", max_chars=10) in ("next", "prev")
    if not htmx or (moving_on and status == 200):
        return see_other(request, await _next_page(web, user, attempt_id, question_id, form))
    context: dict[str, Any] = {"message": message, "error": status == 422}
    if qtype is QuestionType.ORDERING and move:
        context.update(await _ordering_context(web, user, attempt_id, question_id, position))
        return await render(request, "partials/ordering_moved.html", context, status=status)
    return await render(request, "partials/save_status.html", context, status=status)


async def _ordering_context(
    web: WebState, user: Principal, attempt_id: str, question_id: str, position: int | None
) -> dict[str, Any]:
    attempt = await web.services.attempts.get(user, attempt_id)
    entry = next(q for q in _numbered(attempt) if q.q["id"] == question_id)
    moved = ""
    if position is not None:
        moved = f"Moved to position {position} of {len(entry.items)}. "
    return {"entry": entry, "attempt": attempt, "moved": moved}


async def _next_page(
    web: WebState, user: Principal, attempt_id: str, question_id: str, form: Any
) -> str:
    """Where a plain (no-JavaScript) form post goes next."""
    go = text_field(form, "go", max_chars=10)
    position = text_field(form, "position", max_chars=6)
    base = f"/attempts/{attempt_id}"
    index = parse_positive_int(position, 0, maximum=10**6)
    if go in ("next", "prev") and index:
        target = index + (1 if go == "next" else -1)
        return f"{base}?view=one&q={max(1, target)}"
    if index and text_field(form, "layout", max_chars=4) == "one":
        return f"{base}?view=one&q={index}"
    return f"{base}#q-{question_id}"


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


@router.post("/attempts/{attempt_id}/submit")
async def submit(attempt_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    result = await web.services.attempts.submit(user, attempt_id)
    notice = "time_up" if result.auto_submitted else "submitted"
    return see_other(request, _result_url(attempt_id, notice))


@router.get("/attempts/{attempt_id}/result")
async def result(attempt_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    return await _result_page(request, web, user, attempt_id)


async def _result_page(
    request: Request,
    web: WebState,
    user: Principal,
    attempt_id: str,
    *,
    grade_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The result and review; for the quiz's owner (or an admin) also a grade form on
    each essay, showing ``grade_errors`` (question id -> message) beside its field."""
    attempt = await web.services.attempts.get(user, attempt_id)
    outcome = attempt.outcome
    if outcome is None:  # not submitted
        return see_other(request, f"/attempts/{attempt_id}")
    snap = await web.services.quizzes.snapshot(attempt.quiz_id)
    if snap is None:
        raise NotFound("quiz not found")
    is_student = attempt.user_id == user.user_id
    results = {r.question_id: r for r in outcome.results}
    review = {item.question["id"]: item for item in outcome.review or ()}
    rows = []
    for entry in _numbered(attempt):
        if entry.number is None:
            continue
        qid = entry.q["id"]
        reviewed = review.get(qid)
        rows.append(
            {
                "id": qid,
                "number": entry.number,
                "prompt": entry.q["prompt"],
                "text_format": entry.q["text_format"],
                "result": results.get(qid or ""),
                "answer": describe_response(reviewed.question, reviewed.response)
                if reviewed
                else None,
                "key": describe_key(reviewed.question) if reviewed else None,
                "feedback": reviewed.question["feedback"] if reviewed else None,
                "gradable": not is_student and type_of(entry.q) is QuestionType.ESSAY,
                "grade_error": (grade_errors or {}).get(qid or ""),
            }
        )
    context = {
        "attempt": attempt,
        "outcome": outcome,
        "quiz": snap,
        "rows": rows,
        "is_student": is_student,
        # ``get`` above has checked that the caller may read this attempt.
        "student": "" if is_student else await web.services.attempts.display_name(attempt.user_id),
        "shows_answers": outcome.show_correct_answers,
        "rule": snap.settings.show_correct_answers.value,
        "closes_at": snap.settings.closes_at,
    }
    return await render(request, "pages/result.html", context, status=status)


@router.post("/attempts/{attempt_id}/grades/{question_id}")
async def grade(
    attempt_id: str, question_id: str, request: Request, user: CurrentUser, web: Web
) -> Response:
    """The quiz owner's grade for one essay answer; the page comes back with the new
    score, or with the problem beside the field (the service checks who may grade)."""
    form = await read_form(request)
    raw = text_field(form, "score", max_chars=40).strip()
    problem = None
    try:
        # A decimal comma is how many teachers write 1,5.
        score: object = float(raw.replace(",", "."))
    except ValueError:
        problem = "Enter the score as a number, such as 2 or 1.5."
    else:
        try:
            await web.services.attempts.grade(user, attempt_id, question_id, score)
        except Invalid as exc:
            problem = _sentence(exc.message)
    if problem is not None:
        return await _result_page(
            request, web, user, attempt_id, grade_errors={question_id: problem}, status=422
        )
    return see_other(request, _result_url(attempt_id, "graded") + f"#q-{question_id}")
