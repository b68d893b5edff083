"""Request dependencies: the instance's services, the caller, the client address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Principal
from quizplatform.services.container import Services
from quizplatform.services.errors import NotAuthenticated


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
    state = request.scope.setdefault("state", {})
    if "principal" in state:  # the request middleware resolved this header already
        principal: Principal | None = state["principal"]
    else:
        principal = await services.accounts.resolve_token(token)
    if principal is None:
        raise NotAuthenticated("the token is invalid, expired or revoked")
    state["user_id"] = principal.user_id
    return principal


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated("sign in first: send Authorization: Bearer <token>")
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


async def client_ip(request: Request) -> str:
    """The client's address as the request middleware resolved it (trusted proxies)."""
    state = request.scope.get("state", {})
    return str(state.get("client_ip") or (request.client.host if request.client else "unknown"))


ClientIP = Annotated[str, Depends(client_ip)]
