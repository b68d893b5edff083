"""OpenAPI documentation of the error envelope, shared by every router.

Each route lists the failures it can answer with ``responses=error_responses(...)``, so
the published document describes the API as it behaves (schemathesis checks it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

_DESCRIPTIONS = {
    400: "Malformed request (for example a body that is not valid JSON)",
    401: "Not signed in, or the token is unknown, expired or revoked",
    403: "Signed in, but not allowed to do this",
    404: "Not found (also for objects the caller may not know exist)",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Validation failed; details name each problem",
    429: "Rate-limited; retry after the number of seconds in Retry-After",
    503: "Temporarily unavailable (read-only database, dependency down); see Retry-After",
}


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(default_factory=list)
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="snake_case error code")
    message: str
    request_id: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status documented with the error envelope."""
    return {
        status: {"description": _DESCRIPTIONS.get(status, "Error"), "model": ErrorEnvelope}
        for status in statuses
    }


# What any API route may answer besides its own codes: a malformed request (400: bad JSON,
# a NUL in the URL), validation (422), rate limits (429) and a read-only database or a
# dependency down (503); signed-in routes add 401 and 403, routes on one object 404 and
# 409, routes with a body 413 and 415. Routers list these; routes add their own.
COMMON = (400, 422, 429, 503)
SIGNED_IN = (401, 403)
ON_AN_OBJECT = (404, 409)
WITH_A_BODY = (413, 415)
