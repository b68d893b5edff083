"""The home page and the dashboard people land on after signing in."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, MaybeUser, Web

router = page_router()


@router.get("/")
async def home(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        target = "/dashboard"
        if request.query_params.get("notice"):
            target += "?notice=" + request.query_params["notice"]
        return see_other(request, target)
    return await render(request, "pages/home.html")


@router.get("/dashboard")
async def dashboard(request: Request, user: CurrentUser, web: Web) -> Response:
    """Everyone's attempts; teachers and admins also see their quizzes (the full teacher
    dashboard extends this page's ``teacher`` block)."""
    attempts = await web.services.attempts.list_mine(user)
    quizzes: list[dict[str, object]] = []
    if user.can_author:
        quizzes, _ = await web.services.quizzes.search(
            user, mine=True, text=None, tag=None, page=1, per_page=50
        )
    context = {
        "attempts": attempts,
        "in_progress": [a for a in attempts if a["status"] == "in_progress"],
        "quizzes": quizzes,
    }
    return await render(request, "pages/dashboard.html", context)
