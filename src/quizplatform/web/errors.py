"""Error pages: HTML for web paths (the API keeps its JSON envelope).

Every error page names the request id, so a person can quote it; none shows a
traceback. The request middleware renders its own refusals (413, 415, 429 before
routing) for web paths through ``error_page_html``.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from quizplatform.db.failover import DatabaseFailover, record_failover
from quizplatform.runtime.request_context import request_context
from quizplatform.services.errors import NotAuthenticated, RateLimited, ServiceError
from quizplatform.web.paths import PRESESSION_COOKIE, SESSION_COOKIE
from quizplatform.web.rendering import html_response
from quizplatform.web.session import CsrfRejected, csrf_token_for
from quizplatform.web.state import get_web

log = structlog.get_logger(__name__)

# The same failures api/errors.py answers with 503: a dependency is down or saturated.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    TimeoutError,
)

TITLES = {
    400: "The request could not be understood",
    403: "You can't do that",
    404: "Page not found",
    405: "That can't be done here",
    409: "That can't be done right now",
    413: "That is too large",
    415: "That kind of upload is not accepted",
    422: "Some details need fixing",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
FAILOVER_TITLES = {
    "read_only": "Saving is paused for a moment",
    "commit_unknown": "Your change may not have been saved",
}
DEFAULT_MESSAGES = {
    404: "There is no page at this address. Check the link, or start again from the home page.",
    405: "This page does not accept that kind of request.",
    500: "Something went wrong on our side. Please try again; if it keeps happening, quote "
    "the reference below.",
    503: "A service this page needs is not answering. Please try again in a moment.",
}


def error_page_html(
    templates: Environment,
    status: int,
    message: str,
    request_id: str,
    *,
    title: str | None = None,
    user: object = None,
    csrf_token: str = "",
    read_only: bool = False,
) -> str:
    """The error page (a full page in the site's layout, without anything personal
    unless ``user`` is given; ``read_only`` shows the "saving is paused" banner)."""
    return templates.get_template("errors/error.html").render(
        status=status,
        title=title or TITLES.get(status, "Something went wrong"),
        message=_sentence(message or DEFAULT_MESSAGES.get(status, "")),
        request_id=request_id,
        user=user,
        csrf_token=csrf_token,
        notice=None,
        path="",
        read_only=read_only,
    )


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _page(
    request: Request,
    status: int,
    message: str,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render the error page without new look-ups: a failing store must not fail the
    error page too (the user is shown only if already resolved)."""
    web = get_web(request)
    context = request_context(request.scope)
    user = context.principal
    binding = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE)
    token = csrf_token_for(web.secret, binding) if binding else ""
    html = error_page_html(
        web.templates,
        status,
        message,
        context.request_id,
        user=user,
        csrf_token=token,
        title=title,
        read_only=web.services.db.leader.read_only,
    )
    return html_response(request, html, status=status, headers=headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, NotAuthenticated):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            # Back to the page the form was on, not to the form's action.
            came_from = request.headers.get("hx-current-url") or request.headers.get("referer")
            parts = urlsplit(came_from or "/")
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        location = "/signin?next=" + quote(target, safe="/")
        if request.headers.get("hx-request") == "true":
            return Response(status_code=200, headers={"HX-Redirect": location})
        return Response(status_code=303, headers={"Location": location})
    response = _page(
        request,
        exc.status,
        exc.message,
        title="This form has expired" if isinstance(exc, CsrfRejected) else None,
    )
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and "route" not in request.scope:
        # An unmatched path: keep raw paths out of the metrics' route label.
        request_context(request.scope).route = "<unmatched>"
    message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else ""
    if message in ("Not Found", "Method Not Allowed"):
        message = ""
    response = _page(request, exc.status_code, message)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    return _page(
        request,
        400,
        "some of the form's fields were missing or not valid; go back and check them",
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("dependency unavailable", error=type(exc).__name__, detail=str(exc)[:200])
    response = _page(request, 503, "")
    response.headers["Retry-After"] = "1"
    return response


async def _failover(request: Request, exc: Exception) -> Response:
    """A database failover: recorded for the retry layer (``api/retry.py``); this page is
    what the browser gets when the request is not run again. htmx requests get the same
    503, which app.js recognises (``X-Quiz-Read-Only``) to keep and resend answers."""
    assert isinstance(exc, DatabaseFailover)
    told = record_failover(request_context(request.scope), exc)
    headers = {"Retry-After": str(told.retry_after)}
    if told.code == "read_only":
        headers["X-Quiz-Read-Only"] = "1"
    return _page(request, 503, told.message, title=FAILOVER_TITLES.get(told.code), headers=headers)


async def _unhandled(request: Request, exc: Exception) -> Response:
    # Not logged here: the exception goes on to the outer app, whose handler logs it once.
    return _page(request, 500, "")


def install_web_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DatabaseFailover, _failover)
    for unavailable in UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unhandled)
