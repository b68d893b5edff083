"""Request bodies only the v1 API reads (accounts, two-step sign-in, grading). The bodies
the web shares live in ``quizplatform.schemas``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from quizplatform.domain.passwords import MIN_PASSWORD_LENGTH
from quizplatform.schemas.base import Strict

# What the account service checks, as far as a JSON schema can say it (not: a common
# password, one containing the e-mail address).
Email = Annotated[str, Field(max_length=320, json_schema_extra={"format": "email"})]
# The length is documented, not enforced here: the service checks it with the other rules,
# so one answer names every problem at once.
NewPassword = Annotated[
    str, Field(max_length=1024, json_schema_extra={"minLength": MIN_PASSWORD_LENGTH})
]


class RegisterIn(Strict):
    email: Email
    password: NewPassword
    display_name: Annotated[
        str, Field(min_length=1, max_length=100, json_schema_extra={"pattern": r"\S"})
    ]
    role: Literal["student", "teacher"] = "student"


# A six-digit TOTP code, or a recovery code (two groups of six hex digits).
OTP_PATTERN = r"^([0-9]{6}|[0-9a-fA-F]{6}-[0-9a-fA-F]{6})$"
Otp = Annotated[str, Field(pattern=OTP_PATTERN)]


class TokenIn(Strict):
    email: Annotated[str, Field(max_length=320)]
    password: Annotated[str, Field(max_length=1024)]
    otp: Otp | None = None  # required (401 mfa_required) when two-step sign-in is on


class MfaCodeIn(Strict):
    code: Otp


class MfaOffIn(Strict):
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    code: Otp


class PasswordChangeIn(Strict):
    current_password: Annotated[str, Field(min_length=1, max_length=1024)]
    new_password: NewPassword


class PasswordResetIn(Strict):
    email: Email


class PasswordResetConfirmIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: NewPassword


class EraseIn(Strict):
    """``POST /users/{id}/erase``: ``confirm`` must be true (there is no undo)."""

    confirm: Literal[True]


class UserPatch(Strict):
    """``PATCH /users/{id}`` (admins): either field, or both."""

    is_active: bool | None = None
    role: Literal["student", "teacher", "admin"] | None = None


class GradeIn(Strict):
    score: Annotated[float, Field(allow_inf_nan=False)]
