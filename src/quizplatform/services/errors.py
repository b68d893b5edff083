"""Errors the use cases raise; the HTTP layer maps each to the contract's envelope."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ErrorDetail(TypedDict):
    """One problem of a request, as the contract's ``details`` list shows it: where
    (``loc``, a path into the request; or ``line``, a line of an imported file, and
    ``file``, the file of a package it is in) and what."""

    message: str
    loc: NotRequired[list[str | int]]
    line: NotRequired[int]
    file: NotRequired[str]


class ServiceError(Exception):
    """Base class: ``status`` and ``code`` are what the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotAuthenticated(ServiceError):
    status, code = 401, "not_authenticated"


class MfaRequired(NotAuthenticated):
    """The password is right; the account also needs its second factor (``otp``)."""

    code = "mfa_required"


class MfaInvalid(NotAuthenticated):
    """The password is right; the second factor is not (it counts as a failed sign-in)."""

    code = "mfa_invalid"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class MfaEnrolmentRequired(Forbidden):
    """An admin of a production site signed in without two-step sign-in set up."""

    code = "mfa_enrolment_required"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Invalid(ServiceError):
    """Validation failed; ``details`` are ``[{"loc": [...], "message": ...}]`` or, for
    imports, ``[{"line": N, "message": ...}]`` (and ``"file"`` in a package)."""

    status, code = 422, "validation_error"


class TooLarge(ServiceError):
    """The request is within the byte limit, but what it holds is over a limit."""

    status, code = 413, "payload_too_large"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class Unavailable(ServiceError):
    """A feature this site has switched off, or a dependency it needs is missing."""

    status, code = 503, "unavailable"
