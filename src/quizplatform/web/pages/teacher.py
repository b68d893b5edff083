"""What the teacher pages share (who may use them, their notices) and the teacher's part
of the dashboard: my quizzes (drafts and published), AI draft jobs, and the latest
attempts on my quizzes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.responses import Response

from quizplatform.services.accounts import Principal
from quizplatform.services.errors import Forbidden
from quizplatform.web.rendering import render
from quizplatform.web.state import WebState

# Messages after a redirect (``?notice=``) on the teacher pages: fixed texts, like the
# foundation's NOTICES, so that a link cannot make the site say something else.
TEACHER_NOTICES = {
    "quiz_created": "Your quiz is created. Add its questions below.",
    "imported": "The file was imported as a draft quiz. Check its questions, then publish it.",
    "settings_saved": "The quiz's settings are saved.",
    "question_added": "The question is added.",
    "question_saved": "The question is saved.",
    "question_deleted": "The question is deleted.",
    "question_moved": "The question is moved.",
    "published": "The quiz is published: students can find and take it now.",
    "unpublished": "The quiz is back to draft: students can no longer start it.",
    "quiz_deleted": "The quiz and its attempts are deleted.",
    "regraded": "The attempts are regraded against the current answer keys.",
    "draw_added": "The random draw is added.",
    "draw_removed": "The random draw is removed.",
}
# An AI job's status as its badge says it.
JOB_BADGES = {"queued": "Waiting", "running": "Drafting", "succeeded": "Ready", "failed": "Failed"}
DASHBOARD_QUIZZES = 100
DASHBOARD_JOBS = 5
DASHBOARD_ATTEMPTS = 15


def require_author(user: Principal) -> None:
    """Teacher pages are for teachers and admins (the services refuse the rest anyway;
    this refuses them before showing a form they could not use)."""
    if not user.can_author:
        raise Forbidden("only teachers can write quizzes; this page is for teachers")


async def render_teacher_page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    """``render`` with the teacher pages' notices and labels."""
    key = request.query_params.get("notice", "")
    values = {"job_badges": JOB_BADGES, **context}
    if key in TEACHER_NOTICES:
        values["notice"] = TEACHER_NOTICES[key]
    return await render(request, template, values, status=status)


async def dashboard_context(web: WebState, user: Principal) -> dict[str, Any]:
    """The teacher's part of the dashboard."""
    quizzes, total = await web.services.quizzes.search(
        user, mine=True, text=None, tag=None, page=1, per_page=DASHBOARD_QUIZZES
    )
    jobs, _ = await web.services.ai.jobs(user, 1, DASHBOARD_JOBS)
    return {
        "quizzes": quizzes,
        "quiz_total": total,
        "drafts": [q for q in quizzes if not q.is_published],
        "published": [q for q in quizzes if q.is_published],
        "jobs": jobs,
        "recent_attempts": await web.services.attempts.recent_on_my_quizzes(
            user, DASHBOARD_ATTEMPTS
        ),
    }
