"""Request dependencies: the instance's services, the caller, the client address."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from quizplatform.runtime.request_context import request_context
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Principal
from quizplatform.services.container import Services
from quizplatform.services.errors import MfaEnrolmentRequired, NotAuthenticated


# Dependencies are async on purpose: FastAPI runs plain functions in a thread pool,
# which costs more than the lookup itself on every request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(request: Request) -> Settings:
    """The settings this app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def optional_principal(request: Request, services: ServicesDep) -> Principal | None:
    """The caller when a valid token is presented, else None (401 for a bad token)."""
    token = _bearer(request)
    if token is None:
        return None
    context = request_context(request.scope)
    if context.principal_resolved:  # the request middleware resolved this header already
        principal = cast("Principal | None", context.principal)
    else:
        principal = await services.accounts.resolve_token(token)
    if principal is None:
        raise NotAuthenticated("the token is invalid, expired or revoked")
    context.user_id = principal.user_id
    return principal


# What an admin of a production site may do before setting up two-step sign-in.
ENROL_ONLY_PATHS = frozenset(
    f"/api/v1/{p}" for p in ("me", "me/mfa", "me/mfa/enrol", "me/mfa/confirm", "auth/logout")
)


async def require_principal(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated("sign in first: send Authorization: Bearer <token>")
    if principal.enrol_only and request.url.path not in ENROL_ONLY_PATHS:
        raise MfaEnrolmentRequired(
            "admins of this site must set up two-step sign-in first: POST /api/v1/me/mfa/enrol"
        )
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


async def client_ip(request: Request) -> str:
    """The client's address as the request middleware resolved it (trusted proxies)."""
    address = request_context(request.scope).client_ip
    return address or (request.client.host if request.client else "unknown")


ClientIP = Annotated[str, Depends(client_ip)]
