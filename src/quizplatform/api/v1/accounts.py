"""Accounts: register, token, logout, me, and the admin's user list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from quizplatform.api.deps import ClientIP, CurrentUser, ServicesDep
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.schemas import RegisterIn, TokenIn
from quizplatform.services.accounts import Role, user_view
from quizplatform.services.errors import Forbidden, NotFound

router = APIRouter(prefix=API_PREFIX, tags=["accounts"])


@router.post("/auth/register", status_code=201, summary="Create an account")
async def register(body: RegisterIn, services: ServicesDep) -> Response:
    user = await services.accounts.register(
        body.email, body.password, body.display_name, Role(body.role)
    )
    return json_response(user_view(user), 201)


@router.post("/auth/token", summary="Sign in: exchange email and password for a token")
async def token(request: Request, body: TokenIn, services: ServicesDep, ip: ClientIP) -> Response:
    user = await services.accounts.authenticate(body.email, body.password, ip)
    issued = await services.accounts.issue_token(user)
    # Who signed in: in the access log, and with read replicas the user's first reads
    # (the account may be seconds old) go to the primary.
    request.scope.setdefault("state", {})["user_id"] = user.id
    return json_response(
        {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this call")
async def logout(caller: CurrentUser, services: ServicesDep) -> Response:
    await services.accounts.revoke(caller)
    return Response(status_code=204)


@router.get("/me", summary="The signed-in user")
async def me(caller: CurrentUser, services: ServicesDep) -> Response:
    user = await services.accounts.get_user(caller.user_id)
    if user is None:
        raise NotFound("user not found")
    return json_response(user_view(user))


@router.get("/users", summary="All users (admins only)")
async def users(
    caller: CurrentUser,
    services: ServicesDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    if not caller.is_admin:
        raise Forbidden("only admins can list users")
    rows, total = await services.accounts.list_users(page, per_page)
    return json_response(
        {"items": [user_view(u) for u in rows], "total": total, "page": page, "per_page": per_page}
    )
