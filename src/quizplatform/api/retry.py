"""Run a request again when a database failover interrupted it ("read-only mode instead of
an outage").

Where it sits: directly inside ``RequestContextMiddleware``, which has by then given the
request its id, checked its body, applied the rate limits (once per request) and perhaps
answered it from the near cache; none of that runs again. It is outside FastAPI's
``ExceptionMiddleware`` (the app's, and the web sub-app's inside the router), whose
handlers turn an exception into a response before any outer layer could see the
exception. So the decision takes two steps:

1. The handler for ``DatabaseFailover`` (``api/errors.py``, ``web/errors.py``) renders the
   answer the client gets if the request is not run again (503 ``read_only`` or
   ``commit_unknown``, with ``Retry-After``) and records the failure in
   the request's context (``db.failover.record_failover``).
2. This layer holds back a response whose start finds that record, and when the attempt
   has ended either runs the request again (its body replayed) or sends what it held.

A request runs again, whatever its method, when its failure is ``WriteAborted`` (nothing of
the failed transaction happened), nothing of it has committed (``RequestCommits``, kept
by ``Database``), and fewer than ``db_leader_wait_seconds`` have passed since its first
failover failure. Between attempts it waits 50 ms, doubling up to 1 s, each wait half fixed
and half random (so instances do not retry in step), the last one cut to the deadline. While
the instance knows it has no leader, safe requests read from a replica on the next attempt
(``db/engine.py``). ``CommitOutcomeUnknown`` is never repeated.

Most waits never get here: a session that cannot open a connection for lack of a leader
waits and connects again in place (``Database._wait_for_leader``: nothing was sent), which
also serves a request that has already committed (its read after the write). The deadline
is one per request (``RequestCommits.remaining``), shared by both kinds of wait.

Every attempt gets a fresh copy of the ASGI scope (routing writes into it) sharing the
request's ``state``; the last attempt's copy is merged back, so the access log and the
metrics see the route it matched. ``db_write_retries_total{outcome}`` counts the requests
that met a failover: ``recovered``, ``read_only``, ``commit_unknown``, ``conflict``.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quizplatform.db.failover import (
    Backoff,
    CommitOutcomeUnknown,
    Kind,
    RequestCommits,
    WriteAborted,
    stop_tracking,
    track_commits,
)
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.request_context import RequestContext, request_context

log = structlog.get_logger(__name__)

FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 1.0


class FailoverRetryMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, *, wait_seconds: float, metrics: Metrics) -> None:
        self.app = app
        self.wait_seconds = wait_seconds
        self._outcomes = {
            outcome: metrics.db_write_retries.labels(outcome)
            for outcome in ("recovered", "read_only", "commit_unknown", "conflict")
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        commits, token = track_commits()
        try:
            await self._serve(scope, receive, send, commits)
        finally:
            stop_tracking(token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, commits: RequestCommits
    ) -> None:
        context = request_context(scope)
        original = dict(scope)
        body = _RecordedBody(receive)
        backoff = Backoff(FIRST_DELAY_SECONDS, MAX_DELAY_SECONDS)
        attempts = 0
        while True:
            attempts += 1
            context.failover = None
            attempt_scope = dict(original)
            held = _HoldFailoverAnswer(send, context)
            await self.app(attempt_scope, body.replay(), held)
            scope.update(attempt_scope)
            if not held.holding:
                if commits.deadline is not None:  # it waited for a leader, or ran again
                    self._finish("recovered", attempts, commits)
                return
            failure = context.failover
            remaining = commits.remaining(self.wait_seconds)
            if isinstance(failure, WriteAborted) and commits.repeatable and remaining > 0:
                log.debug("request interrupted by a database failover; running it again")
                await asyncio.sleep(backoff.delay(remaining))
                continue
            self._finish(_outcome(failure), attempts, commits)
            await held.release()
            return

    def _finish(self, outcome: str, attempts: int, commits: RequestCommits) -> None:
        self._outcomes[outcome].inc()
        assert commits.deadline is not None
        first_failure = commits.deadline - self.wait_seconds
        waited = round(time.monotonic() - first_failure, 3)
        if outcome == "recovered":
            log.info("request recovered from a database failover", attempts=attempts, waited=waited)
        else:
            log.warning(
                "request failed by a database failover",
                outcome=outcome,
                attempts=attempts,
                waited=waited,
            )


def _outcome(failure: object) -> str:
    if isinstance(failure, CommitOutcomeUnknown):
        return "commit_unknown"
    if isinstance(failure, WriteAborted) and failure.verdict.kind is Kind.CONFLICT:
        return "conflict"
    return "read_only"


class _RecordedBody:
    """The request's messages as the first attempt received them, replayed to the next
    attempts (then read on from the client where an attempt stopped)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: list[Message] = []

    def replay(self) -> Receive:
        position = 0

        async def receive() -> Message:
            nonlocal position
            if position == len(self._messages):
                self._messages.append(await self._receive())
            message = self._messages[position]
            position += 1
            return message

        return receive


class _HoldFailoverAnswer:
    """Passes an attempt's response through, unless its start finds a failover recorded:
    then it holds the whole response until ``release``."""

    def __init__(self, send: Send, context: RequestContext) -> None:
        self._send = send
        self._context = context
        self._held: list[Message] | None = None

    @property
    def holding(self) -> bool:
        return self._held is not None

    async def __call__(self, message: Message) -> None:
        if self._held is not None:
            self._held.append(message)
        elif message["type"] == "http.response.start" and self._context.failover is not None:
            self._held = [message]
        else:
            await self._send(message)

    async def release(self) -> None:
        for message in self._held or ():
            await self._send(message)
