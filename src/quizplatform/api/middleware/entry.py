"""``RequestContextMiddleware``: the one ASGI entry point every request passes through.

One pure ASGI class (measured cheaper than a stack of middlewares, and than
BaseHTTPMiddleware) that does the per-request plumbing itself (request id, client
address, in-flight gauge, the response wrapper) and hands each concern to a small
collaborator in this package: ``BodyPolicy``, ``RateLimitGate``, ``SecurityHeaders``,
``ReadRouting``, ``CachedQuizFastPath``, ``RequestMetrics``; refusals go out through
``RefusalWriter``.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quizplatform.api.forwarded import client_address, served_over_tls
from quizplatform.api.middleware.body import BodyPolicy, BodyTooLarge
from quizplatform.api.middleware.cached_quiz import CachedQuizFastPath
from quizplatform.api.middleware.caller import CallerResolver
from quizplatform.api.middleware.observation import RequestMetrics
from quizplatform.api.middleware.rate_limit import RateLimitGate
from quizplatform.api.middleware.read_routing import ReadRouting, RoutedRequest
from quizplatform.api.middleware.refusal import Refusal, RefusalWriter
from quizplatform.api.middleware.security_headers import SecurityHeaders
from quizplatform.runtime.logging import AccessLog
from quizplatform.runtime.request_context import RequestInfo, current_request, request_context
from quizplatform.runtime.settings import Settings
from quizplatform.runtime.web_hooks import WebHooks
from quizplatform.services.container import Services

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TOO_LARGE = Refusal(413, "payload_too_large", "the request body is too large")


class RequestContextMiddleware:
    """Wraps every HTTP request: id, address, checks, limits, headers, routing, metrics.

    ``web`` (from the composition root) names the web interface's session cookie and
    renders its error pages; without it web paths are answered in JSON and never signed
    in by cookie."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        services: Services,
        docs_path: str,
        web: WebHooks | None = None,
    ) -> None:
        self.app = app
        self.trusted = tuple(settings.trusted_proxies)
        self.metrics = services.metrics
        callers = CallerResolver(services.accounts, web.session_cookie if web else None)
        self.body = BodyPolicy(settings)
        self.refusals = RefusalWriter(web.error_page if web else None)
        self.headers = SecurityHeaders(docs_path)
        self.fast_path = CachedQuizFastPath(services.quizzes, callers)
        self.observer = RequestMetrics(services.metrics, AccessLog(settings))
        self.rate_gate: RateLimitGate | None = None
        if settings.rate_limit_enabled:
            self.rate_gate = RateLimitGate(
                services.rate_limiter,
                services.metrics,
                callers,
                settings.rate_limits_per_ip,
                settings.rate_limits_per_user,
                tuple(settings.shared_addresses),
                settings.shared_address_factor,
            )
        self.read_routing: ReadRouting | None = None
        if services.replicas:  # read/write split: only with replicas
            self.read_routing = ReadRouting(
                services.store, callers, settings.read_your_writes_seconds
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id, client_ip, tls = self._identify(scope, headers)
        sizes = [0, 0]  # request bytes, response bytes
        status_holder = [500]
        routed: RoutedRequest | None = None
        if self.read_routing is not None:
            routed = self.read_routing.begin(scope, headers)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                if routed is not None:
                    await routed.before_response()
                status_holder[0] = message["status"]
                message["headers"] = self._response_headers(message, scope, request_id, tls)
            elif message["type"] == "http.response.body":
                sizes[1] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            refusal = await self._check(scope, headers, client_ip)
            if refusal is not None:
                await self.refusals.send(scope, send_wrapper, request_id, refusal)
                return
            if await self.fast_path.serve(scope, headers, send_wrapper):
                return
            receive = await self.body.guarded_receive(scope, headers, receive, sizes)
            await self.app(scope, receive, send_wrapper)
        except BodyTooLarge:
            await self.refusals.send(scope, send_wrapper, request_id, _TOO_LARGE)
        finally:
            if routed is not None:
                await routed.finish()
            self.metrics.in_flight.dec()
            self.observer.observe(scope, status_holder[0], time.perf_counter() - started, sizes)
            structlog.contextvars.unbind_contextvars("request_id")

    def _identify(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[str, str, bool]:
        """The request's id, client address and whether it came over TLS, noted in its
        context, its log context and ``current_request`` (for the audit log)."""
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        peer = scope["client"][0] if scope.get("client") else "unknown"
        forwarded_for = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        client_ip = client_address(peer, forwarded_for, self.trusted)
        forwarded_proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1")
        tls = served_over_tls(scope.get("scheme", "http"), peer, forwarded_proto, self.trusted)
        context = request_context(scope)
        context.request_id = request_id
        context.client_ip = client_ip
        context.tls = tls  # the web's session cookie is Secure under HTTPS
        structlog.contextvars.bind_contextvars(request_id=request_id)
        current_request.set(RequestInfo(request_id, client_ip))
        return request_id, client_ip, tls

    async def _check(
        self, scope: Scope, headers: dict[bytes, bytes], client_ip: str
    ) -> Refusal | None:
        """Why the request is refused before the app sees it (None: it is not)."""
        refusal = self.body.check(scope, headers)
        if refusal is None and self.rate_gate is not None:
            refusal = await self.rate_gate.check(scope, headers, client_ip)
        return refusal

    def _response_headers(
        self, message: Message, scope: Scope, request_id: str, tls: bool
    ) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        names = {k.lower() for k, _ in raw}
        if b"x-request-id" not in names:
            raw.append((b"x-request-id", request_id.encode()))
        self.headers.add(raw, names, scope["path"], tls)
        return raw
