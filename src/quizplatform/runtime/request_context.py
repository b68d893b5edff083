"""Who is asking, and what is known of the request so far.

``RequestContext`` is the request's own record, kept in its ASGI scope (under one key of
``scope["state"]``, shared by every layer that sees the scope: the request middleware,
the failover retry layer, the API's dependencies, the web's pages and error handlers);
``request_context(scope)`` finds or starts it. ``current_request`` carries the request
id and client address to code far from the request (a ContextVar: one value per request,
per task), such as the audit log.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

CONTEXT_KEY = "quizplatform.request"


@dataclass(frozen=True)
class RequestInfo:
    request_id: str
    client_ip: str


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


@dataclass(eq=False)
class RequestContext:
    """What the layers of one request tell each other.

    ``principal`` is the caller its credential names (a ``services.accounts.Principal``,
    typed loosely here: the runtime knows nothing of accounts), valid once
    ``principal_resolved`` is set, so that a token is resolved once per request.
    """

    request_id: str = ""
    client_ip: str = ""
    tls: bool | None = None  # None: not seen by the middleware (the URL's scheme decides)
    user_id: str | None = None  # the signed-in caller: access log, read-your-writes
    route: str | None = None  # the route template when no router matched it (metrics)
    principal: object | None = None
    principal_resolved: bool = False
    new_presession: str | None = None  # the web's pre-session binding set by this request
    failover: Exception | None = None  # the failover an error handler answered (retry)

    def remember_principal(self, principal: object | None) -> None:
        """Keep the resolved caller (None: no valid token) for the rest of the request."""
        self.principal = principal
        self.principal_resolved = True

    def forget_principal(self) -> None:
        """The caller changed (signed in, out, or re-issued): resolve it again."""
        self.principal = None
        self.principal_resolved = False


def request_context(scope: MutableMapping[str, Any]) -> RequestContext:
    """The request's context, started on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    context: RequestContext | None = state.get(CONTEXT_KEY)
    if context is None:
        context = state[CONTEXT_KEY] = RequestContext()
    return context
