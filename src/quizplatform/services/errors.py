"""Errors the use cases raise; the HTTP layer maps each to the contract's envelope."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class: ``status`` and ``code`` are what the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotAuthenticated(ServiceError):
    status, code = 401, "not_authenticated"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Invalid(ServiceError):
    """Validation failed; ``details`` are ``[{"loc": [...], "message": ...}]`` or, for
    imports, ``[{"line": N, "message": ...}]``."""

    status, code = 422, "validation_error"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
