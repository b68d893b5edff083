"""Password reset by e-mail: a single-use, expiring link; the token is stored hashed.

Asking for a reset answers the same way whether or not the address has an account: the
lookup, the token and the message all happen after the response (``request_in_background``).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from datetime import timedelta

import structlog
from sqlalchemy import select, update

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import AccountService
from quizplatform.services.audit import AuditEvent, note
from quizplatform.services.errors import Invalid, RateLimited, Unavailable
from quizplatform.services.mail import Mailer

log = structlog.get_logger(__name__)
RESET_PATH = "/reset-password"
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


class PasswordResetService:
    """Requests (rate-limited) and confirmations of password resets."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: KeyValueStore,
        accounts: AccountService,
        mailer: Mailer,
    ) -> None:
        self.settings = settings
        self.db = db
        self.store = store
        self.accounts = accounts
        self.mailer = mailer

    def ensure_enabled(self) -> None:
        """Raise ``Unavailable`` when no SMTP server is configured."""
        if not self.mailer.enabled:
            raise Unavailable(
                "password reset by e-mail is switched off on this site (no SMTP server "
                "is configured); ask an administrator to reset your password"
            )

    async def check_rate(self, email: str, client_ip: str) -> str:
        """Count this request per address and per client address (429 past either
        limit, the same for every address); return the normalised address."""
        # Not an address at all is a 422 (whether or not reset is switched on); any other
        # string is answered as usual: one no account has simply gets no message.
        email = email.strip().lower()
        if not _ADDRESS.fullmatch(email):
            raise Invalid(
                "the e-mail address is not valid",
                [{"loc": ["body", "email"], "message": "not an e-mail address"}],
            )
        self.ensure_enabled()
        now = time.time()
        window = self.settings.password_reset_window_seconds
        limits = [
            (f"reset:addr:{_digest(email)}", self.settings.password_reset_per_address),
            (f"reset:ip:{client_ip}", self.settings.password_reset_per_ip),
        ]
        attempt = secrets.token_hex(8)
        for key, limit in limits:
            outcome, oldest = await self.store.window_claim(key, attempt, now, window, limit)
            if outcome != "claimed":
                retry = math.ceil(oldest + window - now) if outcome == "full" else 1
                raise RateLimited("too many password reset requests; try again later", retry)
            # Every request counts, whatever becomes of it.
            await self.store.window_settle(key, attempt, now, failed=True)
        return email

    async def request_in_background(self, email: str, base_url: str) -> None:
        """Create a token and mail the link if ``email`` has an active account. Runs
        after the response; failures are logged, never shown (they would tell)."""
        try:
            async with self.db.session() as session:
                user = await session.scalar(select(models.User).where(models.User.email == email))
                if user is None or not user.is_active:
                    return
                token = secrets.token_urlsafe(32)
                ttl = self.settings.password_reset_ttl_seconds
                session.add(
                    models.PasswordResetToken(
                        user_id=user.id,
                        token_hash=_digest(token),
                        expires_at=utcnow() + timedelta(seconds=ttl),
                    )
                )
            link = f"{(self.settings.public_url or base_url).rstrip('/')}{RESET_PATH}?token={token}"
            minutes = max(1, ttl // 60)
            await self.mailer.send(
                email,
                "Reset your Quiz Platform password",
                f"Hello {user.display_name},\n\n"
                "Someone (hopefully you) asked to reset the password of this account.\n"
                f"Open this link within {minutes} minutes to choose a new password:\n\n"
                f"{link}\n\n"
                "The link works once. If you did not ask for this, ignore this message;\n"
                "your password stays as it is.\n",
            )
            # Audit hook: password reset requested (user id, not the token).
        except Exception:
            log.warning("password reset e-mail not sent", exc_info=True)

    async def confirm(self, token: str, new_password: str) -> None:
        """Set the new password if ``token`` is valid (consumed atomically, once), and
        sign the user out everywhere."""
        self.ensure_enabled()
        token_hash = _digest(token)
        invalid = Invalid(
            "this reset link is invalid, used or expired; ask for a new one",
            [{"loc": ["body", "token"], "message": "invalid, used or expired"}],
        )
        async with self.db.session() as session:
            row = await session.scalar(
                select(models.PasswordResetToken).where(
                    models.PasswordResetToken.token_hash == token_hash
                )
            )
            if row is None or row.used_at is not None or row.expires_at <= utcnow():
                raise invalid
            user = await session.get(models.User, row.user_id)
            if user is None or not user.is_active:
                raise invalid
            email, user_id = user.email, user.id
        self.accounts.check_new_password(new_password, email, "new_password")
        password_hash = await self.accounts.hash_password(new_password)
        async with self.db.session() as session:
            # Consume: only one of two concurrent confirmations gets the row.
            result = await session.execute(
                update(models.PasswordResetToken)
                .where(
                    models.PasswordResetToken.token_hash == token_hash,
                    models.PasswordResetToken.used_at.is_(None),
                )
                .values(used_at=utcnow())
            )
            if getattr(result, "rowcount", 0) != 1:
                raise invalid
            user = await session.get(models.User, user_id)
            if user is None:
                raise invalid
            user.password_hash = password_hash
        await self.accounts.revoke_all(user_id)
        await note(
            self.accounts.audit,
            AuditEvent.PASSWORD_RESET,
            actor_id=user_id,
            target_type="user",
            target_id=user_id,
        )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
