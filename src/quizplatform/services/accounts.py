"""Accounts: registration, sign-in with lockout, revocable tokens, users."""

from __future__ import annotations

import functools
import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from quizplatform.data import load_common_passwords
from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.kv import KeyValueStore
from quizplatform.domain.passwords import password_problems
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings
from quizplatform.services.cache import NearCache
from quizplatform.services.errors import Conflict, Forbidden, Invalid, NotAuthenticated, RateLimited


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to authorise a request without touching the database."""

    user_id: str
    role: Role
    display_name: str
    token_hash: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def can_author(self) -> bool:
        return self.role in (Role.ADMIN, Role.TEACHER)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def user_view(user: models.User) -> dict[str, str]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role,
    }


@functools.cache
def _dummy_hash() -> str:
    """A valid hash of a random password: verifying against it when the account does not
    exist keeps the response time the same, so timing does not reveal which emails exist.
    Made on first use, not at import (hashing is deliberately slow)."""
    return PasswordHasher().hash(secrets.token_urlsafe(16))


class AccountService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: KeyValueStore,
        cache: NearCache,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.store = store
        self.cache = cache
        self.hasher = PasswordHasher()  # argon2id with the library's current defaults

    # -- registration -----------------------------------------------------------------
    def check_new_credentials(self, email: str, password: str) -> str:
        """Return the normalised email or raise ``Invalid`` naming each problem."""
        details: list[dict[str, Any]] = []
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            details.append({"loc": ["body", "email"], "message": str(exc)})
        for problem in password_problems(password, email, load_common_passwords()):
            details.append({"loc": ["body", "password"], "message": problem})
        if details:
            raise Invalid("; ".join(str(d["message"]) for d in details), details)
        return email

    async def register(
        self, email: str, password: str, display_name: str, role: Role, *, by_admin: bool = False
    ) -> models.User:
        if role is Role.ADMIN and not by_admin:
            raise Forbidden("admins are created with the command line")
        if role is Role.TEACHER and not by_admin and not self.settings.allow_teacher_registration:
            raise Forbidden("teacher self-registration is switched off on this site")
        email = self.check_new_credentials(email, password)
        display_name = " ".join(display_name.split())
        if not display_name:
            raise Invalid(
                "display_name must not be empty",
                [{"loc": ["body", "display_name"], "message": "must not be empty"}],
            )
        user = models.User(
            email=email,
            password_hash=self.hasher.hash(password),
            display_name=display_name,
            role=role.value,
        )
        try:
            async with self.db.session() as session:
                session.add(user)
        except IntegrityError as exc:
            raise Conflict("an account with this email already exists") from exc
        self.metrics.registrations.labels(role.value).inc()
        return user

    # -- sign-in ------------------------------------------------------------------------
    async def authenticate(self, email: str, password: str, client_ip: str) -> models.User:
        """Check credentials, counting failures per account and per client address."""
        email = email.strip().lower()
        now = time.time()
        window = self.settings.login_window_seconds
        keys = (
            ("account", f"login-fail:acct:{_digest(email)}", self.settings.login_max_failures),
            ("ip", f"login-fail:ip:{client_ip}", self.settings.login_max_failures_per_ip),
        )
        for scope, key, limit in keys:
            count, oldest = await self.store.window_count(key, now, window)
            if count >= limit:
                self.metrics.logins.labels("locked").inc()
                self.metrics.lockouts.labels(scope).inc()
                raise RateLimited(
                    "too many failed sign-ins; try again later",
                    retry_after=math.ceil(oldest + window - now),
                )
        async with self.db.session() as session:
            user = await session.scalar(select(models.User).where(models.User.email == email))
        if user is not None and user.is_active and self._verify(user.password_hash, password):
            if self.hasher.check_needs_rehash(user.password_hash):
                await self._rehash(user.id, password)
            self.metrics.logins.labels("ok").inc()
            return user
        if user is None:
            self._verify(_dummy_hash(), password)
        self.metrics.logins.labels("failed").inc()
        for _, key, _ in keys:
            await self.store.window_add(key, now, window)
        raise NotAuthenticated("wrong email or password")

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _rehash(self, user_id: str, password: str) -> None:
        async with self.db.session() as session:
            user = await session.get(models.User, user_id)
            if user is not None:
                user.password_hash = self.hasher.hash(password)

    # -- tokens -------------------------------------------------------------------------
    async def issue_token(self, user: models.User) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        ttl = self.settings.token_ttl_seconds
        record = {"user_id": user.id, "role": user.role, "display_name": user.display_name}
        await self.store.set(f"tok:{_digest(token)}", orjson.dumps(record), ttl)
        return IssuedToken(token, ttl)

    async def resolve_token(self, token: str) -> Principal | None:
        """The principal a token stands for, or None when unknown, expired or revoked."""
        token_hash = _digest(token)
        key = f"tok:{token_hash}"
        cached = self.cache.get(key)
        if isinstance(cached, Principal):
            return cached
        raw = await self.store.get(key)
        if raw is None:
            return None
        record = orjson.loads(raw)
        principal = Principal(
            record["user_id"], Role(record["role"]), record["display_name"], token_hash
        )
        self.cache.put(key, principal)
        return principal

    async def revoke(self, principal: Principal) -> None:
        key = f"tok:{principal.token_hash}"
        await self.store.delete(key)
        await self.cache.invalidate(key)

    # -- users --------------------------------------------------------------------------
    async def get_user(self, user_id: str) -> models.User | None:
        async with self.db.read_session() as session:
            return await session.get(models.User, user_id)

    async def list_users(self, page: int, per_page: int) -> tuple[list[models.User], int]:
        async with self.db.read_session() as session:
            total = await session.scalar(select(func.count()).select_from(models.User)) or 0
            users = await session.scalars(
                select(models.User)
                .order_by(models.User.created_at, models.User.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            return list(users), total


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
