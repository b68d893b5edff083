"""The admin's list of user accounts (``AccountService.list_users``, as ``GET /users``),
page by page, with deactivation and role changes (``PATCH /users/{id}``)."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request
from starlette.responses import Response

from quizplatform.services.accounts import Role
from quizplatform.services.audit import AuditEvent, AuditQuery
from quizplatform.services.errors import Conflict, Forbidden, NotFound
from quizplatform.web.forms import read_form, text_field
from quizplatform.web.pages.teacher import render_teacher_page
from quizplatform.web.query import parse_positive_int, positive_int
from quizplatform.web.rendering import see_other
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


@router.post("/admin/users/{user_id}/erase")
async def erase_user(request: Request, user_id: str, user: CurrentUser, web: Web) -> Response:
    """Erase an account (``POST /users/{id}/erase``); the form needs its box ticked."""
    form = await read_form(request)
    if text_field(form, "confirm", max_chars=8) != "yes":
        return see_other(request, "/admin/users?notice=erase_unconfirmed")
    try:
        await web.services.privacy.erase(user, user_id[:64])
    except (Conflict, NotFound):
        return see_other(request, "/admin/users?notice=user_unchanged")
    return see_other(request, "/admin/users?notice=user_erased")


@router.post("/admin/users/{user_id}")
async def change_user(request: Request, user_id: str, user: CurrentUser, web: Web) -> Response:
    """Deactivate, reactivate or change the role of an account (``PATCH /users/{id}``)."""
    form = await read_form(request)
    action = text_field(form, "action", max_chars=16)
    role = text_field(form, "role", max_chars=16)
    try:
        await web.services.accounts.update_user(
            user,
            user_id[:64],
            is_active={"deactivate": False, "reactivate": True}.get(action),
            role=Role(role) if action == "role" and role in set(Role) else None,
        )
    except (Conflict, NotFound):
        return see_other(request, "/admin/users?notice=user_unchanged")
    page = parse_positive_int(text_field(form, "page", max_chars=9), 1, maximum=100_000)
    return see_other(request, f"/admin/users?page={page}&notice=user_changed")


AUDIT_PER_PAGE = 50


@router.get("/admin/audit")
async def audit_page(request: Request, user: CurrentUser, web: Web) -> Response:
    """The audit log with filters (event, actor id, target id), newest first."""
    if not user.is_admin:
        raise Forbidden("only admins can read the audit log")
    params = request.query_params
    event = params.get("event", "")
    filters = {
        "event": event if event in set(AuditEvent) else "",
        "actor_id": params.get("actor_id", "").strip()[:32],
        "target_id": params.get("target_id", "").strip()[:64],
    }
    page = positive_int(request, "page", maximum=100_000)
    query = AuditQuery(
        event=filters["event"] or None,
        actor_id=filters["actor_id"] or None,
        target_id=filters["target_id"] or None,
    )
    rows, total = await web.services.audit.search(query, page, AUDIT_PER_PAGE)
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / AUDIT_PER_PAGE)),
        "filters": filters,
        "events": [e.value for e in AuditEvent],
        "more": urlencode({k: v for k, v in filters.items() if v}),
    }
    return await render_teacher_page(request, "pages/admin/audit.html", context)
