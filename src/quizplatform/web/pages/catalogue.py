"""The catalogue of published quizzes (with search), a quiz's page and its leaderboard."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from quizplatform.domain.questions import QuestionType
from quizplatform.services.quizzes import QuizSnapshot
from quizplatform.web.query import positive_int
from quizplatform.web.rendering import render
from quizplatform.web.routing import page_router
from quizplatform.web.session import MaybeUser, Web

router = page_router()
PER_PAGE = 20
LEADERBOARD_SIZE = 20


def _page_number(request: Request) -> int:
    return positive_int(request, "page", maximum=100_000)


@router.get("/quizzes")
async def catalogue(request: Request, user: MaybeUser, web: Web) -> Response:
    query = request.query_params.get("q", "").strip()[:200]
    page = _page_number(request)
    items, total = await web.services.quizzes.search(
        user, mine=False, text=query or None, tag=None, page=page, per_page=PER_PAGE
    )
    pages = max(1, -(-total // PER_PAGE))
    context = {"quizzes": items, "query": query, "total": total, "page": page, "pages": pages}
    return await render(request, "pages/catalogue.html", context)


def quiz_facts(snap: QuizSnapshot) -> dict[str, object]:
    """What a student wants to know before starting a quiz."""
    s = snap.settings
    answerable = [q for q in snap.questions if q.type is not QuestionType.DESCRIPTION]
    return {
        "questions": len(answerable),
        "points": snap.max_score,
        "time_limit_seconds": s.time_limit_seconds,
        "max_attempts": s.max_attempts,
        "opens_at": s.opens_at,
        "closes_at": s.closes_at,
        "show_correct_answers": s.show_correct_answers.value,
    }


@router.get("/quizzes/{quiz_id}")
async def quiz_page(quiz_id: str, request: Request, user: MaybeUser, web: Web) -> Response:
    snap, is_owner = await web.services.quizzes.visible(user, quiz_id)
    running = None
    attempts_used = 0
    if user is not None:
        mine = [a for a in await web.services.attempts.list_mine(user) if a.quiz_id == quiz_id]
        attempts_used = len(mine)
        running = next((a for a in mine if a.status == "in_progress"), None)
    context = {
        "quiz": snap,
        "facts": quiz_facts(snap),
        "is_owner": is_owner,
        "running": running,
        "attempts_used": attempts_used,
    }
    return await render(request, "pages/quiz.html", context)


@router.get("/quizzes/{quiz_id}/leaderboard")
async def leaderboard(quiz_id: str, request: Request, user: MaybeUser, web: Web) -> Response:
    snap, _ = await web.services.quizzes.visible(user, quiz_id)
    limit = min(LEADERBOARD_SIZE, web.settings.leaderboard_limit_max)
    board = await web.services.attempts.leaderboard(user, quiz_id, limit)
    context = {"quiz": snap, "entries": board.entries}
    return await render(request, "pages/leaderboard.html", context)
