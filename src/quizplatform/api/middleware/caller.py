"""Who is calling: the request's credential (the Authorization header on the API, the
session cookie on web pages) and the user it names, resolved once per request."""

from __future__ import annotations

import hashlib
from typing import Protocol, cast

from starlette.requests import cookie_parser
from starlette.types import Scope

from quizplatform.runtime.request_context import request_context
from quizplatform.runtime.routes import is_web_path
from quizplatform.services.accounts import Principal


class TokenResolver(Protocol):
    """The account service as the middleware uses it."""

    async def resolve_token(self, token: str) -> Principal | None: ...


class CallerResolver:
    """Reads the caller's credential and resolves it (cached in the request's state)."""

    def __init__(self, accounts: TokenResolver, session_cookie: str | None) -> None:
        self.accounts = accounts
        # None: no web interface, so no path is signed in by cookie.
        self.session_cookie = session_cookie

    def credential(self, scope: Scope, headers: dict[bytes, bytes]) -> bytes | None:
        """The request's credential as an Authorization value: the header on API paths,
        the session cookie (the same access token) on web paths."""
        if not is_web_path(scope["path"]):
            return headers.get(b"authorization")
        cookie = headers.get(b"cookie")
        if cookie is None or self.session_cookie is None:
            return None
        token = cookie_parser(cookie.decode("latin-1")).get(self.session_cookie)
        return b"Bearer " + token.encode("latin-1") if token else None

    async def principal(self, scope: Scope, auth: bytes) -> Principal | None:
        """The caller named by an Authorization value, resolved once per request (kept in
        its context, where ``api/deps.py`` and ``web/session.py`` find it)."""
        context = request_context(scope)
        if context.principal_resolved:
            return cast("Principal | None", context.principal)
        scheme, _, token = auth.decode("latin-1").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and token.strip():
            principal = await self.accounts.resolve_token(token.strip())
        context.remember_principal(principal)
        return principal

    async def user_id(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """The signed-in caller's id (None: anonymous or an unknown token)."""
        auth = self.credential(scope, headers)
        if auth is None:
            return None
        principal = await self.principal(scope, auth)
        return None if principal is None else principal.user_id

    async def rate_key(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """Whom a request counts against: the user, or an unknown token against itself
        (guessing costs requests); None without a credential."""
        auth = self.credential(scope, headers)
        if auth is None:
            return None
        principal = await self.principal(scope, auth)
        if principal is not None:
            return principal.user_id
        return "token:" + hashlib.sha256(auth).hexdigest()[:16]
