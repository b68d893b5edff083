"""The admin's list of user accounts (``AccountService.list_users``, as ``GET /users``),
page by page."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from quizplatform.services.errors import Forbidden
from quizplatform.web.pages.teacher import render_teacher_page
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, Web

router = page_router()
USERS_PER_PAGE = 25


@router.get("/admin/users")
async def users_page(
    request: Request,
    user: CurrentUser,
    web: Web,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    if not user.is_admin:
        raise Forbidden("only admins can see the list of users")
    users, total = await web.services.accounts.list_users(page, USERS_PER_PAGE)
    pages = max(1, math.ceil(total / USERS_PER_PAGE))
    context = {
        "users": users,
        "total": total,
        "page": page,
        "pages": pages,
        "first_number": (page - 1) * USERS_PER_PAGE + 1,
    }
    return await render_teacher_page(request, "pages/admin/users.html", context)
