"""Accounts: register, token, logout, me, and the admin's user list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response
from pydantic import AwareDatetime

from quizplatform.api.deps import ClientIP, CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.documents import audit_event_json, session_json
from quizplatform.api.v1.schemas import (
    EraseIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RegisterIn,
    TokenIn,
    UserPatch,
)
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import IssuedToken, Role, user_view
from quizplatform.services.audit import AuditEvent, AuditQuery
from quizplatform.services.errors import Forbidden, NotFound

router = APIRouter(
    prefix=API_PREFIX,
    tags=["accounts"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)


@router.post("/auth/register", status_code=201, summary="Create an account")
async def register(body: RegisterIn, services: ServicesDep) -> Response:
    user = await services.accounts.register(
        body.email, body.password, body.display_name, Role(body.role)
    )
    return json_response(user_view(user), 201)


@router.post("/auth/token", summary="Sign in: exchange email and password for a token")
async def token(request: Request, body: TokenIn, services: ServicesDep, ip: ClientIP) -> Response:
    user = await services.accounts.authenticate(body.email, body.password, ip, body.otp)
    issued = await services.accounts.issue_token(
        user, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    # Who signed in: in the access log, and with read replicas the user's first reads
    # (the account may be seconds old) go to the primary.
    request_context(request.scope).user_id = user.id
    return _token_response(issued)


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this call")
async def logout(caller: CurrentUser, services: ServicesDep) -> Response:
    await services.accounts.revoke(caller)
    return Response(status_code=204)


RESET_ACCEPTED = {
    "message": "If an account has this address, a message with a link to reset its "
    "password is on its way. The link works once and expires."
}


@router.post(
    "/auth/password-reset",
    status_code=202,
    summary="Ask for a password reset link by e-mail (the same answer for any address)",
)
async def password_reset(
    request: Request,
    body: PasswordResetIn,
    services: ServicesDep,
    ip: ClientIP,
    background: BackgroundTasks,
) -> Response:
    email = await services.password_resets.check_rate(body.email, ip)
    # After the answer, so neither its content nor its timing tells whether the address
    # has an account.
    background.add_task(
        services.password_resets.request_in_background, email, str(request.base_url)
    )
    response = json_response(RESET_ACCEPTED, 202)
    response.background = background
    return response


@router.post(
    "/auth/password-reset/confirm",
    status_code=204,
    summary="Set a new password with a reset token; every session is signed out",
)
async def password_reset_confirm(body: PasswordResetConfirmIn, services: ServicesDep) -> Response:
    await services.password_resets.confirm(body.token, body.new_password)
    return Response(status_code=204)


@router.post(
    "/auth/logout-all",
    status_code=204,
    summary="Sign out everywhere: revoke every token of the caller, this one included",
    responses=error_responses(401),
)
async def logout_all(caller: CurrentUser, services: ServicesDep) -> Response:
    await services.accounts.sign_out_everywhere(caller)
    return Response(status_code=204)


@router.get(
    "/me/sessions",
    summary="The caller's signed-in sessions (unexpired tokens), newest first",
    responses=error_responses(401),
)
async def my_sessions(caller: CurrentUser, services: ServicesDep) -> Response:
    sessions = await services.accounts.sessions(caller)
    return json_response({"items": [session_json(s) for s in sessions]})


@router.delete(
    "/me/sessions/{session_id}",
    status_code=204,
    summary="Sign out one of the caller's sessions",
    responses=error_responses(401, 404),
)
async def revoke_session(
    session_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    caller: CurrentUser,
    services: ServicesDep,
) -> Response:
    await services.accounts.revoke_session(caller, session_id)
    return Response(status_code=204)


@router.post(
    "/me/password",
    summary="Change the password: every session ends, and a new token is returned",
    responses=error_responses(401, 422, 429),
)
async def change_password(
    request: Request,
    body: PasswordChangeIn,
    caller: CurrentUser,
    services: ServicesDep,
    ip: ClientIP,
) -> Response:
    user = await services.accounts.change_password(
        caller, body.current_password, body.new_password, ip
    )
    issued = await services.accounts.issue_token(
        user, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    return _token_response(issued)


@router.patch(
    "/users/{user_id}",
    summary="Activate or deactivate an account, or change its role (admins only)",
    responses=error_responses(401, 403, 404, 409),
)
async def patch_user(
    user_id: Annotated[str, Path(max_length=64)],
    body: UserPatch,
    caller: CurrentUser,
    services: ServicesDep,
) -> Response:
    user = await services.accounts.update_user(
        caller,
        user_id,
        is_active=body.is_active,
        role=Role(body.role) if body.role else None,
    )
    return json_response({**user_view(user), "is_active": user.is_active})


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


def _token_response(issued: IssuedToken) -> Response:
    body = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


@router.get(
    "/me/export",
    summary="Everything the platform holds about the caller, as one JSON download",
)
async def my_data(caller: CurrentUser, services: ServicesDep) -> Response:
    document = await services.privacy.export(caller)
    return json_response(
        document,
        headers={
            "Content-Disposition": 'attachment; filename="my-quiz-platform-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/users/{user_id}/erase",
    status_code=204,
    summary="Erase an account's personal data; its attempts stay, anonymised (admins only)",
)
async def erase_user(
    user_id: Annotated[str, Path(max_length=64)],
    body: EraseIn,
    caller: CurrentUser,
    services: ServicesDep,
) -> Response:
    await services.privacy.erase(caller, user_id)
    return Response(status_code=204)


@router.get("/audit", summary="The audit log, newest first, with filters (admins only)")
async def audit_log(
    caller: CurrentUser,
    services: ServicesDep,
    event: Annotated[AuditEvent | None, Query()] = None,
    actor_id: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    if not caller.is_admin:
        raise Forbidden("only admins can read the audit log")
    query = AuditQuery(
        event=event.value if event else None,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
    )
    rows, total = await services.audit.search(query, page, per_page)
    return json_response(
        {
            "items": [audit_event_json(r) for r in rows],
            "total": total,
            "page": page,
            "per_page": per_page,
        }
    )
