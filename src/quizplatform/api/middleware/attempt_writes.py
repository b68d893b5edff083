"""The fast path of an exam's two hot writes: saving a response
(``PUT /api/v1/attempts/{id}/responses/{question_id}``) and submitting
(``POST /api/v1/attempts/{id}/submit``).

On exam day these are the requests that come in bursts, and the framework's routing
(matching the path against every route) and dependency solving cost about a quarter of a
save (py-spy, bench/README.md). This layer answers the plain case itself with the same
service calls and the same JSON documents as the routes in ``api/v1/attempts.py``: a
signed-in caller with a bearer token, a JSON body, no query string. Whatever is not plain
(no or bad token, an admin who must enrol in two-step sign-in first, another content
type, a body that is not JSON) goes on to the route, with the body it read replayed, so
the route's rules and errors answer it. Errors are answered here as ``api/errors.py``
answers them: a service error in the API's envelope, a database failover recorded for
the failover retry layer (``api/retry.py``), which sits outside this one and runs the
request again when it may, exactly as it would the route.
"""

from __future__ import annotations

import re
from typing import Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quizplatform.api.errors import error_document, failover_headers, service_error_headers
from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.middleware.refusal import send_body
from quizplatform.api.v1.attempt_json import attempt_json, saved_response_json
from quizplatform.db.failover import DatabaseFailover, record_failover
from quizplatform.runtime.json import dumps
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts import AttemptView, SavedResponse
from quizplatform.services.errors import ServiceError

SAVE_ROUTE = "/api/v1/attempts/{id}/responses/{question_id}"
SUBMIT_ROUTE = "/api/v1/attempts/{id}/submit"
_SAVE_PATH = re.compile(r"^/api/v1/attempts/([0-9a-f]{32})/responses/([0-9a-f]{32})$")
_SUBMIT_PATH = re.compile(r"^/api/v1/attempts/([0-9a-f]{32})/submit$")
_JSON = re.compile(rb"^application/json\s*(;\s*charset=\"?utf-8\"?\s*)?$", re.IGNORECASE)
_JSON_HEADERS = {"content-type": "application/json"}


class AttemptWriter(Protocol):
    """The attempt service as the fast path uses it."""

    async def save_response(
        self, caller: Principal, attempt_id: str, question_id: str, payload: object
    ) -> SavedResponse: ...

    async def submit(self, caller: Principal, attempt_id: str) -> AttemptView: ...


class AttemptWriteFastPath:
    """ASGI layer: answers a plain save or submit itself, or passes the request on."""

    def __init__(self, app: ASGIApp, attempts: AttemptWriter, callers: CallerResolver) -> None:
        self.app = app
        self.attempts = attempts
        self.callers = callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("query_string"):
            answered, receive = await self._serve(scope, receive, send)
            if answered:
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> tuple[bool, Receive]:
        """(True, _) when answered here; else (False, the receive the route reads from)."""
        method = scope["method"]
        if method == "PUT" and (match := _SAVE_PATH.match(scope["path"])):
            replay = await self._save(scope, receive, send, match.group(1), match.group(2))
            return replay is None, replay or receive
        if method == "POST" and (match := _SUBMIT_PATH.match(scope["path"])):
            return await self._submit(scope, send, match.group(1)), receive
        return False, receive

    async def _caller(self, scope: Scope) -> Principal | None:
        """The plain case's caller: a bearer token naming a user who may act now."""
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        if auth is None:
            return None
        caller = await self.callers.principal(scope, auth)
        if caller is None or caller.enrol_only:
            return None
        request_context(scope).user_id = caller.user_id
        return caller

    async def _save(
        self, scope: Scope, receive: Receive, send: Send, attempt_id: str, question_id: str
    ) -> Receive | None:
        """Save the response and return None, or return the receive the route reads the
        (replayed) body from."""
        headers = dict(scope["headers"])
        if not _JSON.match(headers.get(b"content-type", b"")):
            return receive
        caller = await self._caller(scope)
        if caller is None:
            return receive
        body = await _read_body(receive)
        replay = _replay(body, receive)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return replay  # the route says "malformed JSON" in its own words
        request_context(scope).route = SAVE_ROUTE
        try:
            saved = await self.attempts.save_response(caller, attempt_id, question_id, payload)
        except (ServiceError, DatabaseFailover) as exc:
            await _send_error(scope, send, exc)
            return None
        await send_body(send, 200, dumps(saved_response_json(saved)), _JSON_HEADERS)
        return None

    async def _submit(self, scope: Scope, send: Send, attempt_id: str) -> bool:
        caller = await self._caller(scope)
        if caller is None:
            return False
        request_context(scope).route = SUBMIT_ROUTE
        try:
            view = await self.attempts.submit(caller, attempt_id)
        except (ServiceError, DatabaseFailover) as exc:
            await _send_error(scope, send, exc)
            return True
        await send_body(send, 200, dumps(attempt_json(view)), _JSON_HEADERS)
        return True


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (its size is already bounded by ``BodyPolicy``)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then what the client sends (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _send_error(scope: Scope, send: Send, exc: ServiceError | DatabaseFailover) -> None:
    """``api/errors.py``'s answer, in the same envelope. A failover is recorded for the
    retry layer as its handler there does: the layer then holds this answer back and runs
    the request again (the body replayed) when it may."""
    context = request_context(scope)
    headers: dict[str, str] | None
    if isinstance(exc, DatabaseFailover):
        told = record_failover(context, exc)
        status, code, message = 503, told.code, told.message
        headers, details = failover_headers(told), None
    else:
        status, code, message = exc.status, exc.code, exc.message
        headers, details = service_error_headers(exc), exc.details
    body = dumps(error_document(context.request_id, code, message, details))
    await send_body(send, status, body, {**_JSON_HEADERS, **(headers or {})})
