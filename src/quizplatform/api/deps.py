"""Request dependencies: the instance's services, the caller, the client address."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from quizplatform.services.accounts import Principal
from quizplatform.services.container import Services
from quizplatform.services.errors import NotAuthenticated


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


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
    principal = await services.accounts.resolve_token(token)
    if principal is None:
        raise NotAuthenticated("the token is invalid, expired or revoked")
    request.scope.setdefault("state", {})["user_id"] = principal.user_id
    return principal


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated("sign in first: send Authorization: Bearer <token>")
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


def client_ip(request: Request, services: ServicesDep) -> str:
    """The client's address; ``X-Forwarded-For`` is believed only from trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    trusted = services.settings.trusted_proxies
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = [
        h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()
    ]
    for hop in reversed(forwarded):
        if not _is_trusted(hop, trusted):
            return hop
    return forwarded[0] if forwarded else peer


def _is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)


ClientIP = Annotated[str, Depends(client_ip)]
