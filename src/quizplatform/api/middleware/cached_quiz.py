"""The fast path of ``GET /api/v1/quizzes/{id}`` for a non-owner, served from the near
cache.

The hottest read of the product (every student opening a quiz) skips the framework's
routing and dependency solving, which cost several times more than the answer itself.
It calls the same service methods as the route (``visible``, ``student_view_bytes``), so
the rules are the same; whenever the case is not the plain one (owner or admin, unknown
token, hidden quiz) it declines and the regular route answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from starlette.types import Scope, Send

from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.v1.documents import quiz_json_bytes
from quizplatform.db.failover import DatabaseFailover
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Principal
from quizplatform.services.errors import ServiceError
from quizplatform.services.quizzes import QuizDocument, QuizSnapshot

QUIZ_ROUTE = "/api/v1/quizzes/{id}"
_QUIZ_PATH = re.compile(r"^/api/v1/quizzes/([0-9a-f]{32})$")


class QuizReader(Protocol):
    """The quiz service as the fast path uses it."""

    async def visible(
        self, caller: Principal | None, quiz_id: str
    ) -> tuple[QuizSnapshot, bool]: ...

    async def student_view_bytes(
        self, snap: QuizSnapshot, render: Callable[[QuizDocument], bytes]
    ) -> bytes: ...


class CachedQuizFastPath:
    """Answers a plain quiz read itself, or declines (the route answers then)."""

    def __init__(self, quizzes: QuizReader, callers: CallerResolver) -> None:
        self.quizzes = quizzes
        self.callers = callers

    async def serve(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> bool:
        """Send the quiz's student view and return True; False when it is not the plain
        case (the request then goes on to the app)."""
        if scope["method"] != "GET":
            return False
        match = _QUIZ_PATH.match(scope["path"])
        if match is None or scope.get("query_string"):
            return False
        auth = headers.get(b"authorization")
        caller = None
        if auth is not None:
            caller = await self.callers.principal(scope, auth)
            if caller is None:
                return False
        try:
            snap, is_owner = await self.quizzes.visible(caller, match.group(1))
        except (ServiceError, DatabaseFailover):
            # A failover (a pooled connection cut): the route answers, inside the retry
            # layer (api/retry.py), which runs it again.
            return False
        if is_owner:
            return False
        body = await self.quizzes.student_view_bytes(snap, quiz_json_bytes)
        context = request_context(scope)
        context.route = QUIZ_ROUTE
        if caller is not None:
            context.user_id = caller.user_id
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
        return True
