"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on every request).

``RequestContextMiddleware`` wraps every request: it gives it an id (bound to every log
line of the request), enforces body size and content type, applies the rate limits, adds
the security headers, and records the access log line and the HTTP metrics. With read
replicas it also routes the request's reads (``db/routing.py``): a safe request may read
from a replica unless its user wrote lately; an unsafe one leaves the marker that keeps
its user's reads on the primary, before the response can reach the client.

A request interrupted by a database failover is run again by ``api/retry.py``, the
layer just inside this one, so nothing here runs twice for it.

Web pages (every path outside ``/api``, ``/health``, ``/metrics``; ``web/paths.py``) get
the same treatment, identified by their session cookie instead of the Authorization
header; they may post forms, and their refusals are HTML pages.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any

import orjson
import structlog
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quizplatform.api.client import client_address, served_over_tls
from quizplatform.db.failover import DatabaseFailover
from quizplatform.db.routing import SAFE_METHODS, ReadRoute, enter_route, exit_route, mark_write
from quizplatform.runtime.logging import AccessLog
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Principal
from quizplatform.services.container import Services
from quizplatform.services.errors import ServiceError
from quizplatform.services.ratelimit import Limit
from quizplatform.web.paths import SESSION_COOKIE, ErrorPageRenderer, is_web_path, web_route_group

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIZ_PATH = re.compile(r"^/api/v1/quizzes/([0-9a-f]{32})$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_JSON_TYPES = ("application/json",)
_IMPORT_TYPES = ("application/json", "text/", "multipart/form-data")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_QUIET_ROUTES = ("/health", "/metrics")

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_CSP_API = b"default-src 'none'; frame-ancestors 'none'"
_CSP_HTML = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (the interactive API docs) loads its script and style from a CDN and starts
# with an inline script; only that page gets this policy.
_CSP_DOCS = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; "
    b"object-src 'none'; frame-ancestors 'none'"
)
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        services: Services,
        docs_path: str,
        error_page: ErrorPageRenderer | None = None,
    ) -> None:
        self.app = app
        # Renders this middleware's refusals of web (non-API) requests as HTML pages.
        self.error_page = error_page
        self.services = services
        self.settings = settings
        self.metrics = services.metrics
        self.trusted = tuple(settings.trusted_proxies)
        self.docs_path = docs_path
        self.limits_ip = _limits(settings.rate_limits_per_ip)
        self.limits_user = _limits(settings.rate_limits_per_user)
        self.access_log = AccessLog(settings)
        self.split = bool(services.replicas)  # read/write split: only with replicas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        peer = scope["client"][0] if scope.get("client") else "unknown"
        client_ip = client_address(
            peer, headers.get(b"x-forwarded-for", b"").decode("latin-1"), self.trusted
        )
        tls = served_over_tls(
            scope.get("scheme", "http"),
            peer,
            headers.get(b"x-forwarded-proto", b"").decode("latin-1"),
            self.trusted,
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_ip"] = client_ip
        state["tls"] = tls  # the web's session cookie is Secure under HTTPS
        structlog.contextvars.bind_contextvars(request_id=request_id)
        extra = self._security_headers(tls)
        sizes = [0, 0]  # request bytes, response bytes
        status_holder = [500]
        route_token = None
        # Whether this request still has to leave its user's read-your-writes marker.
        to_mark = [False]
        if self.split:
            safe = scope["method"] in SAFE_METHODS
            to_mark[0] = not safe

            async def reader() -> str | None:
                return await self._reader_id(scope, headers)

            route_token = enter_route(ReadRoute(safe=safe, user=reader, store=self.services.store))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                if to_mark[0]:
                    to_mark[0] = False
                    await self._mark_write(scope)
                status_holder[0] = message["status"]
                raw = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                if b"x-request-id" not in names:
                    raw.append((b"x-request-id", request_id.encode()))
                is_html = any(
                    k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in raw
                )
                raw.extend(h for h in extra if h[0] not in names)
                if b"content-security-policy" not in names:
                    csp = (
                        _CSP_DOCS
                        if scope["path"] == self.docs_path
                        else (_CSP_HTML if is_html else _CSP_API)
                    )
                    raw.append((b"content-security-policy", csp))
                message["headers"] = raw
            elif message["type"] == "http.response.body":
                sizes[1] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            rejection = self._check_body(scope, headers)
            if rejection is None:
                rejection = await self._check_rate(scope, headers, client_ip)
            if rejection is not None:
                await self._refuse(scope, send_wrapper, request_id, *rejection)
                return
            if scope["method"] == "GET" and await self._serve_cached_quiz(
                scope, headers, send_wrapper
            ):
                return
            limit = self._limit(scope)
            if scope["method"] in _BODY_METHODS and b"content-length" not in headers:
                # A chunked body's size is known only while reading it. Read it here: the
                # framework turns an error raised from receive() into a 400, not a 413.
                messages = await _buffer(receive, limit)
                if messages is None:
                    raise BodyTooLarge
                receive = _replay(messages, receive)
            await self.app(scope, _counting(receive, limit, sizes), send_wrapper)
        except BodyTooLarge:
            await self._refuse(
                scope,
                send_wrapper,
                request_id,
                413,
                "payload_too_large",
                "the request body is too large",
            )
        finally:
            if to_mark[0]:  # no response sent (the app raised): it may have written
                await self._mark_write(scope)
            if route_token is not None:
                exit_route(route_token)
            self.metrics.in_flight.dec()
            self._observe(scope, status_holder[0], time.perf_counter() - started, sizes)
            structlog.contextvars.unbind_contextvars("request_id")

    # -- checks ---------------------------------------------------------------------------
    def _limit(self, scope: Scope) -> int:
        if scope["path"].endswith("/import"):
            return self.settings.max_import_bytes
        return self.settings.max_body_bytes

    def _check_body(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, str, str, dict[str, str] | None] | None:
        if scope["method"] not in _BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return 400, "bad_request", "invalid Content-Length", None
            if size > self._limit(scope):
                return (
                    413,
                    "payload_too_large",
                    (f"the request body is larger than {self._limit(scope)} bytes"),
                    None,
                )
            if size == 0:
                return None
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not ctype:
            return None
        media = ctype.split(";", 1)[0].strip()
        if is_web_path(scope["path"]):  # pages post forms (and htmx sends the same)
            if media.startswith(_FORM_TYPES):
                return None
            return (
                415,
                "unsupported_media_type",
                f"Content-Type {media!r} is not accepted here; send a form",
                None,
            )
        allowed = _IMPORT_TYPES if scope["path"].endswith("/import") else _JSON_TYPES
        if not (media.startswith(allowed) or media.endswith("+json")):
            return (
                415,
                "unsupported_media_type",
                (f"Content-Type {media!r} is not accepted here; send application/json"),
                None,
            )
        return None

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        request_id: str,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer a refused request: the JSON envelope, or an HTML page for web paths."""
        if self.error_page is None or not is_web_path(scope["path"]):
            await _send_error(send, request_id, status, code, message, headers)
            return
        body = self.error_page(status, message, request_id)
        html = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
        await _send_body(send, status, body, {**html, **(headers or {})})

    async def _serve_cached_quiz(
        self, scope: Scope, headers: dict[bytes, bytes], send: Send
    ) -> bool:
        """Serve ``GET /api/v1/quizzes/{id}`` for a non-owner from the near cache.

        The hottest read of the product (every student opening a quiz) skips the
        framework's routing and dependency solving, which cost several times more than the
        answer itself. It calls the same service methods as the route (``visible``,
        ``student_view_bytes``), so the rules are the same; whenever the case is not the
        plain one (owner or admin, unknown token, hidden quiz) it returns False and the
        regular route answers.
        """
        match = _QUIZ_PATH.match(scope["path"])
        if match is None or scope.get("query_string"):
            return False
        auth = headers.get(b"authorization")
        caller = None
        if auth is not None:
            caller = await self._principal(scope, auth)
            if caller is None:
                return False
        try:
            snap, is_owner = await self.services.quizzes.visible(caller, match.group(1))
        except (ServiceError, DatabaseFailover):
            # A failover (a pooled connection cut): the route answers, inside the retry
            # layer (api/retry.py), which runs it again.
            return False
        if is_owner:
            return False
        body = await self.services.quizzes.student_view_bytes(snap)
        state = scope["state"]
        state["route"] = "/api/v1/quizzes/{id}"
        if caller is not None:
            state["user_id"] = caller.user_id
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True

    async def _principal(self, scope: Scope, auth: bytes) -> Principal | None:
        """The caller named by an Authorization header, resolved once per request."""
        state = scope["state"]
        if "principal" in state:
            principal: Principal | None = state["principal"]
            return principal
        scheme, _, token = auth.decode("latin-1").partition(" ")
        principal = None
        if scheme.lower() == "bearer" and token.strip():
            principal = await self.services.accounts.resolve_token(token.strip())
        state["principal"] = principal
        return principal

    @staticmethod
    def _credential(scope: Scope, headers: dict[bytes, bytes]) -> bytes | None:
        """The request's credential as an Authorization value: the header on API paths,
        the session cookie (the same access token) on web paths."""
        if not is_web_path(scope["path"]):
            return headers.get(b"authorization")
        cookie = headers.get(b"cookie")
        if cookie is None:
            return None
        token = cookie_parser(cookie.decode("latin-1")).get(SESSION_COOKIE)
        return b"Bearer " + token.encode("latin-1") if token else None

    async def _reader_id(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        """The signed-in caller's id for read routing (None: anonymous or bad token)."""
        auth = self._credential(scope, headers)
        if auth is None:
            return None
        principal = await self._principal(scope, auth)
        return None if principal is None else principal.user_id

    async def _mark_write(self, scope: Scope) -> None:
        """After an unsafe request by a known user: that user's reads go to the primary
        for ``read_your_writes_seconds``, on every instance."""
        user_id = scope["state"].get("user_id")
        if user_id is not None:
            await mark_write(self.services.store, user_id, self.settings.read_your_writes_seconds)

    async def _check_rate(
        self, scope: Scope, headers: dict[bytes, bytes], client_ip: str
    ) -> tuple[int, str, str, dict[str, str] | None] | None:
        if not self.settings.rate_limit_enabled:
            return None
        group = route_group(scope["method"], scope["path"])
        if group is None:
            return None
        limiter = self.services.rate_limiter
        checks: list[tuple[str, str, Limit]] = []
        if group in self.limits_ip:
            checks.append(("ip", f"ip:{group}:{client_ip}", self.limits_ip[group]))
        user = await self._user_id(scope, headers)
        if user is not None and group in self.limits_user:
            checks.append(("user", f"user:{group}:{user}", self.limits_user[group]))
        for scope_name, key, limit in checks:
            retry_after = limiter.hit(key, limit)
            if retry_after is not None:
                self.metrics.rate_limited.labels(group, scope_name).inc()
                return (
                    429,
                    "rate_limited",
                    (f"too many requests ({limit.requests} per {limit.window:g} s); slow down"),
                    {"Retry-After": str(retry_after)},
                )
        return None

    async def _user_id(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        auth = self._credential(scope, headers)
        if auth is None:
            return None
        principal = await self._principal(scope, auth)
        if principal is not None:
            return principal.user_id
        # An unknown token still counts, against itself: guessing costs requests.
        return "token:" + hashlib.sha256(auth).hexdigest()[:16]

    def _security_headers(self, tls: bool) -> list[tuple[bytes, bytes]]:
        headers = list(_COMMON_HEADERS)
        if tls:
            headers.append(_HSTS)
        return headers

    # -- observation --------------------------------------------------------------------
    def _observe(self, scope: Scope, status: int, seconds: float, sizes: list[int]) -> None:
        template = route_template(scope)
        method = scope["method"]
        self.metrics.observe_request(method, template, status, seconds, sizes[0], sizes[1])
        if template.startswith(_QUIET_ROUTES) and status < 400:
            return
        state: dict[str, Any] = scope.get("state", {})
        self.access_log.write(
            state.get("request_id", ""),
            method=method,
            route=template,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            user_id=state.get("user_id"),
            client_ip=state.get("client_ip"),
        )


def route_group(method: str, path: str) -> str | None:
    """The rate-limit group of a request (None: not limited)."""
    if not path.startswith("/api/"):
        return web_route_group(method, path) if is_web_path(path) else None
    if path.startswith("/api/v1/auth/"):
        return "auth"
    if path.endswith("/import"):
        return "import"
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/quizzes/{id}``), never the raw path."""
    fast = scope.get("state", {}).get("route")
    if fast is not None:
        return str(fast)
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if "endpoint" in scope:  # a plain Starlette route (docs, OpenAPI): a fixed path
        return str(scope["path"])
    return "<unmatched>"


def _limits(config: dict[str, str]) -> dict[str, Limit]:
    return {group: Limit.parse(text) for group, text in config.items()}


async def _buffer(receive: Receive, limit: int) -> list[Message] | None:
    """The request's messages up to the end of its body; None when it exceeds ``limit``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _counting(receive: Receive, limit: int, sizes: list[int]) -> Receive:
    async def wrapped() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            sizes[0] += len(message.get("body", b""))
            if sizes[0] > limit:
                raise BodyTooLarge
        return message

    return wrapped


async def _send_error(
    send: Send,
    request_id: str,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    body = orjson.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id, "details": []}}
    )
    await _send_body(send, status, body, {"content-type": "application/json", **(headers or {})})


async def _send_body(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    """One complete response: ``headers`` (names in any case) plus its Content-Length."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
