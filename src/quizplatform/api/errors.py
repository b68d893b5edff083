"""The contract's error envelope for every failure, and never a stack trace in a body."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from quizplatform.api.responses import json_response
from quizplatform.db.failover import DatabaseFailover, record_failover
from quizplatform.runtime.request_context import request_context
from quizplatform.services.errors import RateLimited, ServiceError

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def request_id_of(request: Request) -> str:
    return request_context(request.scope).request_id


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Sequence[Mapping[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    rid = request_id_of(request)
    body = error_document(rid, code, message, details)
    return json_response(
        body, status, {**(headers or {}), **({"X-Request-ID": rid} if rid else {})}
    )


def error_document(
    request_id: str, code: str, message: str, details: Sequence[Mapping[str, object]] | None
) -> dict[str, object]:
    """The contract's error envelope."""
    return {
        "error": {
            "code": code,
            "message": message,
            "request_id": request_id,
            "details": list(details or []),
        }
    }


def service_error_headers(exc: ServiceError) -> dict[str, str] | None:
    """The headers that go with a service error's answer."""
    if exc.status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return None


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    headers = service_error_headers(exc)
    return error_response(request, exc.status, exc.code, exc.message, exc.details, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(request, 400, "malformed_json", "the request body is not valid JSON")
    details = [
        {"loc": list(e.get("loc", ())), "message": str(e.get("msg", "invalid value"))}
        for e in errors
    ]
    return error_response(
        request, 422, "validation_error", "the request does not match the expected shape", details
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return error_response(request, exc.status_code, code, message, headers=headers or None)


_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API documents for the requested path. (Starlette's ``Allow``
    names the methods of the first route that matched the path, not of all of them.)"""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                sorted(m.upper() for m in item if m in _METHODS),
            )
            # Literal paths first: /quizzes/import before /quizzes/{id}.
            for path, item in sorted(
                request.app.openapi().get("paths", {}).items(), key=lambda p: p[0].count("{")
            )
        ]
        request.app.state.allowed_methods = table
    for pattern, methods in table:
        if pattern.match(request.url.path):
            return methods
    return []


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("dependency unavailable", error=type(exc).__name__, detail=str(exc)[:200])
    return error_response(
        request,
        503,
        "unavailable",
        "a service this request needs is unavailable; try again shortly",
        headers={"Retry-After": "1"},
    )


async def _failover(request: Request, exc: Exception) -> Response:
    """A database failover (``db/failover.py``): recorded for the retry layer
    (``api/retry.py``), which runs the request again when it may; this answer is what the
    client gets when it may not (503 ``read_only``, ``commit_unknown``)."""
    assert isinstance(exc, DatabaseFailover)
    told = record_failover(request_context(request.scope), exc)
    return error_response(request, 503, told.code, told.message, headers=failover_headers(told))


def failover_headers(exc: DatabaseFailover) -> dict[str, str]:
    """``Retry-After``, and ``X-Quiz-Read-Only: 1`` on read-only answers (app.js keeps the
    student's answers and sends them again)."""
    headers = {"Retry-After": str(exc.retry_after)}
    if exc.code == "read_only":
        headers["X-Quiz-Read-Only"] = "1"
    return headers


async def _unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(
        request,
        500,
        "internal_error",
        "something went wrong on our side; quote the request id when reporting it",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DatabaseFailover, _failover)
    for unavailable in (
        RedisConnectionError,
        RedisTimeoutError,
        OperationalError,
        InterfaceError,
        PoolTimeoutError,  # every pooled connection busy for longer than the pool timeout
        TimeoutError,
    ):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unhandled)
