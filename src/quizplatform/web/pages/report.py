"""The teacher's report on a quiz (``AttemptService.report``, as ``GET
/quizzes/{id}/report``): the attempts whose essays wait for a grade, the score
distribution, facility and discrimination per question, and how often each option of a
choice question was chosen. Each chart is inline SVG drawn on the server, and its
numbers are also in a table (the charts' text alternative). Beside it, regrading after a
fixed key: a preview of whose scores change (a dry run), then a confirmation that
applies it (``AttemptService.regrade``)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from starlette.responses import Response

from quizplatform.domain.analysis import MIN_ATTEMPTS_FOR_DISCRIMINATION
from quizplatform.domain.questions import Question, QuestionType
from quizplatform.services.attempts import QuestionReport, QuizReport, RegradePlan
from quizplatform.web import charts
from quizplatform.web.pages.teacher import render_teacher_page
from quizplatform.web.question_forms import TYPE_LABELS
from quizplatform.web.rendering import format_number, see_other
from quizplatform.web.rich_text import plain_text
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web

router = page_router()
PROMPT_EXCERPT = 90
TO_GRADE_SHOWN = 50
CHOICE_TYPES = (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE)


@router.get("/quizzes/{quiz_id}/report")
async def report_page(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    report = await web.services.attempts.report(user, quiz_id)  # checks ownership
    snap = await web.services.quizzes.owned(user, quiz_id)  # near-cached: no query
    # Questions drawn from the bank follow the fixed ones (each over the attempts that saw it).
    drawn_ids = [q.question_id for q in report.questions if q.draw_id is not None]
    drawn = await web.services.quizzes.question_versions(drawn_ids) if drawn_ids else {}
    questions = [*snap.questions, *(drawn[i] for i in drawn_ids if i in drawn)]
    has_essays = any(q.type is QuestionType.ESSAY for q in questions)
    context = {
        "quiz": snap,
        **report_view(report, questions),
        # None: nothing in this quiz is graded by hand (the section is left out).
        "to_grade": await web.services.attempts.awaiting_grades(user, quiz_id, TO_GRADE_SHOWN)
        if has_essays
        else None,
        "to_grade_shown": TO_GRADE_SHOWN,
    }
    return await render_teacher_page(request, "pages/teacher/report.html", context)


@router.get("/quizzes/{quiz_id}/report/regrade")
async def regrade_preview(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    """What a regrade would change (a dry run: nothing is written), and the button that
    applies it."""
    plan = await web.services.attempts.regrade(user, quiz_id, dry_run=True)  # checks ownership
    snap = await web.services.quizzes.owned(user, quiz_id)
    context = {"quiz": snap, **regrade_view(plan, snap.questions)}
    return await render_teacher_page(request, "pages/teacher/regrade.html", context)


@router.post("/quizzes/{quiz_id}/report/regrade")
async def regrade_apply(request: Request, quiz_id: str, user: CurrentUser, web: Web) -> Response:
    """Apply the regrade (the service rescores whatever is left to change now, so a
    second click, or a preview gone stale, changes nothing twice)."""
    await web.services.attempts.regrade(user, quiz_id, dry_run=False)
    return see_other(request, f"/quizzes/{quiz_id}/report?notice=regraded")


def regrade_view(plan: RegradePlan, questions: list[Question]) -> dict[str, Any]:
    """The preview's rows: each attempt whose score changes, and each question whose
    responses are rescored (numbered as on the report)."""
    numbers: dict[str, int] = {}
    for q in questions:
        if q.type is not QuestionType.DESCRIPTION and q.id:
            numbers[q.id] = len(numbers) + 1
    texts = {q.id: _excerpt(plain_text(q.prompt, q.text_format)) for q in questions if q.id}
    return {
        "plan": plan,
        "changes": [
            {
                "student": a.student,
                "email": a.email,
                "attempt_id": a.attempt_id,
                "old": f"{format_number(a.old_score, 2)} / {format_number(a.old_max_score, 2)}",
                "old_percent": format_number(a.old_percent),
                "new": f"{format_number(a.new_score, 2)} / {format_number(a.new_max_score, 2)}",
                "new_percent": format_number(a.new_percent),
                "delta": ("+" if a.delta > 0 else "") + format_number(a.delta, 2),
                "direction": "up" if a.delta > 0 else "down" if a.delta < 0 else "same",
            }
            for a in plan.attempts
        ],
        "question_changes": [
            {
                "label": f"Q{numbers[q.question_id]}" if q.question_id in numbers else "Removed",
                "prompt": texts.get(q.question_id, ""),
                "changed": q.responses_changed,
                "kept": q.kept_on_old_version,
            }
            for q in plan.questions
        ],
        "total_delta": ("+" if plan.total_delta > 0 else "") + format_number(plan.total_delta, 2),
    }


def _excerpt(text: str) -> str:
    prompt = " ".join(text.split())
    if len(prompt) > PROMPT_EXCERPT:
        prompt = prompt[: PROMPT_EXCERPT - 1].rstrip() + "…"
    return prompt or "(no text)"


def report_view(report: QuizReport, questions: list[Question]) -> dict[str, Any]:
    """What the report page shows, from the service's report and the quiz's questions."""
    scores = report.scores
    attempts = report.attempts
    counts = charts.histogram_counts(scores)
    analysed = {q.question_id: q for q in report.questions}
    rows = _question_rows(questions, analysed)
    return {
        "attempts": attempts,
        "summary": _summary(report.mean_percent, scores),
        "histogram": charts.histogram(counts),
        "bins": [(charts.bin_label(i), n) for i, n in enumerate(counts)],
        "rows": rows,
        "facility_chart": charts.horizontal_bars(
            [(r["short"], r["facility"], _fixed(r["facility"]), "") for r in rows]
        ),
        "discrimination_chart": charts.horizontal_bars(
            [(r["short"], r["discrimination"], _fixed(r["discrimination"]), "") for r in rows],
            low=-1.0,
            high=1.0,
            step=0.5,
        ),
        "choices": [
            _option_view(r, r["seen_by"] if r["drawn"] else attempts)
            for r in rows
            if r["question"].type in CHOICE_TYPES
        ],
        "min_attempts": MIN_ATTEMPTS_FOR_DISCRIMINATION,
    }


def _summary(mean_percent: float | None, scores: Sequence[float]) -> dict[str, str]:
    if not scores:
        return {}
    return {
        "mean": format_number(mean_percent),
        "median": format_number(statistics.median(scores)),
        "lowest": format_number(min(scores)),
        "highest": format_number(max(scores)),
    }


def _question_rows(
    questions: list[Question], analysed: dict[str, QuestionReport]
) -> list[dict[str, Any]]:
    """The scored questions, numbered as students see them (descriptions have none)."""
    rows: list[dict[str, Any]] = []
    for q in questions:
        if q.type is QuestionType.DESCRIPTION or q.id not in analysed:
            continue
        found = analysed[q.id]
        number = len(rows) + 1
        prompt = " ".join(plain_text(q.prompt, q.text_format).split())
        if len(prompt) > PROMPT_EXCERPT:
            prompt = prompt[: PROMPT_EXCERPT - 1].rstrip() + "…"
        rows.append(
            {
                "number": number,
                "short": f"Q{number}",
                "question": q,
                "prompt": prompt or "(no text)",
                "label": TYPE_LABELS[q.type],
                "mean_score": found.mean_score,
                "max_score": found.max_score,
                "facility": found.facility,
                "discrimination": found.discrimination,
                "options": found.options,
                "seen_by": found.attempts,
                "drawn": found.draw_id is not None,
            }
        )
    return rows


def _option_view(row: dict[str, Any], attempts: int) -> dict[str, Any]:
    question: Question = row["question"]
    chosen = {o.id: o.chosen for o in row["options"]}
    options = []
    for index, option in enumerate(question.options):
        count = chosen.get(option.id or "", 0)
        share = count / attempts if attempts else None
        options.append(
            {
                "letter": chr(ord("A") + index) if index < 26 else str(index + 1),
                "text": plain_text(option.text, question.text_format),
                "credit": option.weight,
                "key": option.weight > 0,
                "chosen": count,
                "share": share,
            }
        )
    chart = charts.horizontal_bars(
        [
            (
                f"{o['letter']}{' ✓' if o['key'] else ''}",
                o["share"],
                f"{o['chosen']}"
                + (f" ({o['share'] * 100:.0f} %)" if o["share"] is not None else ""),
                "key" if o["key"] else "",
            )
            for o in options
        ],
        step=0.25,
        label_width=40.0,
        tick_format="{:.0%}",
    )
    return {"row": row, "options": options, "chart": chart}


def _fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
