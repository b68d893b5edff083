"""Read routing with read replicas (``db/routing.py``): a safe request may read from a
replica unless its user wrote lately; an unsafe one leaves the marker that keeps its
user's reads on the primary, before the response can reach the client."""

from __future__ import annotations

from contextvars import Token

from starlette.types import Scope

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.db.routing import SAFE_METHODS, ReadRoute, enter_route, exit_route, mark_write
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.request_context import request_context


class ReadRouting:
    """Starts the read routing of each request (only built when there are replicas)."""

    def __init__(
        self, store: KeyValueStore, callers: CallerResolver, read_your_writes_seconds: float
    ) -> None:
        self.store = store
        self.callers = callers
        self.read_your_writes_seconds = read_your_writes_seconds

    def begin(self, scope: Scope, headers: dict[bytes, bytes]) -> RoutedRequest:
        """Route this request's reads; call ``finish`` on the result when it is done."""
        safe = scope["method"] in SAFE_METHODS

        async def reader() -> str | None:
            return await self.callers.user_id(scope, headers)

        token = enter_route(ReadRoute(safe=safe, user=reader, store=self.store))
        return RoutedRequest(self, scope, token, pending_mark=not safe)


class RoutedRequest:
    """One request's read routing, and whether it still has to leave its user's
    read-your-writes marker."""

    def __init__(
        self,
        routing: ReadRouting,
        scope: Scope,
        token: Token[ReadRoute | None],
        *,
        pending_mark: bool,
    ) -> None:
        self.routing = routing
        self.scope = scope
        self.token = token
        self.pending_mark = pending_mark

    async def before_response(self) -> None:
        """Leave the marker before the response starts (the client may read at once)."""
        if self.pending_mark:
            self.pending_mark = False
            await self._mark_write()

    async def finish(self) -> None:
        """Leave the marker if no response was sent (the app raised: it may have written),
        and end the routing."""
        if self.pending_mark:
            self.pending_mark = False
            await self._mark_write()
        exit_route(self.token)

    async def _mark_write(self) -> None:
        """After an unsafe request by a known user: that user's reads go to the primary
        for ``read_your_writes_seconds``, on every instance."""
        user_id = request_context(self.scope).user_id
        if user_id is not None:
            await mark_write(self.routing.store, user_id, self.routing.read_your_writes_seconds)
