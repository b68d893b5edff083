"""The home page and the dashboard people land on after signing in."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from quizplatform.web.pages import teacher
from quizplatform.web.query import with_query
from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, MaybeUser, Web

router = page_router()


@router.get("/")
async def home(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        target = "/dashboard"
        notice = request.query_params.get("notice")
        if notice:
            target = with_query(target, "notice", notice)
        return see_other(request, target)
    return await render(request, "pages/home.html")


@router.get("/dashboard")
async def dashboard(request: Request, user: CurrentUser, web: Web) -> Response:
    """Everyone's attempts; teachers and admins also see their quizzes, drafts and the
    attempts on them (``pages/teacher/dashboard.html`` fills this page's ``teacher``
    block)."""
    attempts = await web.services.attempts.list_mine(user)
    context: dict[str, object] = {
        "attempts": attempts,
        "in_progress": [a for a in attempts if a.status == "in_progress"],
        "quizzes": [],
    }
    if user.can_author:
        context.update(await teacher.dashboard_context(web, user))
        return await teacher.render_teacher_page(request, "pages/teacher/dashboard.html", context)
    return await render(request, "pages/dashboard.html", context)
