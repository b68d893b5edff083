"""Two-step sign-in with a time-based one-time password (TOTP, RFC 6238; pyotp).

Enrolment makes a secret and shows it as an ``otpauth://`` link and a QR code (an SVG
made here, segno); the first right code turns it on and gives ten recovery codes, shown
once and kept only as SHA-256 hashes. A code is accepted once (the last time step used
is kept) with one step of clock drift either way; a recovery code is used up. Wrong
codes count as failed sign-ins, so the sign-in lockout also stops guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.services.accounts import AccountService, Principal
from quizplatform.services.audit import AuditEvent, AuditLog, note
from quizplatform.services.errors import Conflict, Invalid, NotFound

ISSUER = "Quiz Platform"
RECOVERY_CODES = 10
DRIFT_STEPS = 1


@dataclass(frozen=True)
class Enrolment:
    """A new two-step secret, as a key, an ``otpauth://`` link and its QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class MfaService:
    """Enrolment, checks and recovery codes; ``AccountService`` asks it at sign-in."""

    def __init__(self, db: Database, accounts: AccountService) -> None:
        self.db = db
        self.accounts = accounts
        accounts.second_factor = self
        self.audit: AuditLog | None = None  # set by Services.create

    async def enabled(self, user_id: str) -> bool:
        """Whether ``user_id`` signs in with a second factor."""
        async with self.db.session() as session:
            row = await session.get(models.MfaCredential, user_id)
            return row is not None and row.enabled

    async def enrol(self, caller: Principal) -> Enrolment:
        """A new (pending) secret for the caller; 409 when MFA is on already."""
        user = await self.accounts.get_user(caller.user_id)
        if user is None:
            raise NotFound("user not found")
        secret = pyotp.random_base32()
        async with self.db.session() as session:
            row = await session.get(models.MfaCredential, caller.user_id)
            if row is not None and row.enabled:
                raise Conflict("two-step sign-in is on already; turn it off first")
            if row is None:
                session.add(models.MfaCredential(user_id=caller.user_id, secret=secret))
            else:
                row.secret, row.last_step, row.recovery_hashes = secret, 0, []
        return _enrolment(secret, user.email)

    async def pending(self, caller: Principal) -> Enrolment | None:
        """The set-up in progress (its secret not confirmed yet), to show it again."""
        user = await self.accounts.get_user(caller.user_id)
        async with self.db.session() as session:
            row = await session.get(models.MfaCredential, caller.user_id)
        if user is None or row is None or row.enabled:
            return None
        return _enrolment(row.secret, user.email)

    async def confirm(self, caller: Principal, code: str) -> list[str]:
        """Turn MFA on with the first right code; the recovery codes, shown only now."""
        async with self.db.session() as session:
            row = await session.get(models.MfaCredential, caller.user_id)
            if row is None or row.enabled:
                raise Conflict("start the set-up first (or it is on already)")
            step = _matching_step(row.secret, code, row.last_step)
            if step is None:
                raise _wrong_code()
            codes = _recovery_codes()
            row.enabled, row.last_step = True, step
            row.recovery_hashes = [_digest(c) for c in codes]
        await self.accounts.revoke_all(caller.user_id)  # other sessions sign in again, with it
        await note(self.audit, AuditEvent.MFA_ENABLED, **_self(caller))
        return codes

    async def disable(self, caller: Principal, password: str, code: str) -> None:
        """Turn MFA off: the password and a current code (or a recovery code)."""
        user = await self.accounts.get_user(caller.user_id)
        if user is None or not await self.accounts.verify_password(user, password):
            raise Invalid(
                "the password is not right",
                [{"loc": ["body", "password"], "message": "not your password"}],
            )
        if not await self.check(caller.user_id, code):
            raise _wrong_code()
        async with self.db.session() as session:
            await session.execute(
                delete(models.MfaCredential).where(models.MfaCredential.user_id == user.id)
            )
        await note(self.audit, AuditEvent.MFA_DISABLED, **_self(caller))

    async def new_recovery_codes(self, caller: Principal, code: str) -> list[str]:
        """Replace the recovery codes (a current code proves the device)."""
        if not await self.check(caller.user_id, code):
            raise _wrong_code()
        codes = _recovery_codes()
        async with self.db.session() as session:
            row = await session.get(models.MfaCredential, caller.user_id)
            if row is None or not row.enabled:
                raise Conflict("two-step sign-in is off")
            row.recovery_hashes = [_digest(c) for c in codes]
        return codes

    async def check(self, user_id: str, code: str) -> bool:
        """Whether ``code`` (a TOTP code or an unused recovery code) is right, using it up.
        Concurrent checks of one code: the row lock (PostgreSQL) lets one through."""
        code = code.strip().lower()
        async with self.db.session() as session:
            row = await session.get(
                models.MfaCredential, user_id, with_for_update=not self.db.is_sqlite
            )
            if row is None or not row.enabled:
                return False
            step = _matching_step(row.secret, code, row.last_step)
            if step is not None:
                row.last_step = step
                return True
            digest = _digest(code)
            if any(hmac.compare_digest(digest, h) for h in row.recovery_hashes):
                row.recovery_hashes = [h for h in row.recovery_hashes if h != digest]
                return True
        return False


def _self(caller: Principal) -> dict[str, str]:
    return {
        "actor_id": caller.user_id,
        "actor_display": caller.display_name,
        "target_type": "user",
        "target_id": caller.user_id,
    }


def _enrolment(secret: str, email: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Enrolment(secret, uri, svg)


def _matching_step(secret: str, code: str, last_step: int) -> int | None:
    """The time step ``code`` belongs to (now ±DRIFT_STEPS), if later than ``last_step``."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _wrong_code() -> Invalid:
    return Invalid(
        "the code is not right (or was used already); use the current code",
        [{"loc": ["body", "code"], "message": "not right, or used already"}],
    )
