"""Accounts: registration, sign-in with lockout, revocable tokens, users."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from quizplatform.data import load_common_passwords
from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.domain.passwords import password_problems
from quizplatform.runtime.addresses import in_networks
from quizplatform.runtime.cpu import CpuPool
from quizplatform.runtime.metrics import Metrics
from quizplatform.runtime.settings import Settings
from quizplatform.services.audit import AuditEvent, AuditLog, note
from quizplatform.services.cache import NearCache
from quizplatform.services.errors import (
    Conflict,
    ErrorDetail,
    Forbidden,
    Invalid,
    MfaInvalid,
    MfaRequired,
    NotAuthenticated,
    NotFound,
    RateLimited,
)

# An attempt that finds the failure window full of attempts still in flight waits this
# long for them to end, polling every CLAIM_POLL_SECONDS.
CLAIM_WAIT_SECONDS = 10.0
CLAIM_POLL_SECONDS = 0.05


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"
    # A live game's player who joined with a nickname only (services/live): no usable
    # password, so never signed in; made by the game, never registered or assigned.
    GUEST = "guest"


@dataclass(frozen=True)
class Principal:
    """Who is calling: enough to authorise a request without touching the database."""

    user_id: str
    role: Role
    display_name: str
    token_hash: str = ""
    epoch: int = 0  # the user's token epoch when the token was issued (see revoke_all)
    # An admin of a production site without two-step sign-in: may only set it up.
    enrol_only: bool = False

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


@dataclass(frozen=True)
class SessionInfo:
    """One signed-in session (an unexpired token) of a user, as the user may see it."""

    id: str  # the token's SHA-256: names it without being usable as the token
    created_at: float
    ip: str
    user_agent: str
    current: bool

    @property
    def signed_in_at(self) -> datetime:
        """``created_at`` as a UTC time."""
        return datetime.fromtimestamp(self.created_at, UTC)


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


class SecondFactor(Protocol):
    """What sign-in asks of the two-step sign-in service (services/mfa.py)."""

    async def enabled(self, user_id: str) -> bool: ...
    async def check(self, user_id: str, code: str) -> bool: ...


class AccountService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: KeyValueStore,
        cache: NearCache,
        metrics: Metrics,
        cpu: CpuPool | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.cpu = cpu or CpuPool(settings.cpu_slots)
        self.second_factor: SecondFactor | None = None  # set by MfaService
        self.audit: AuditLog | None = None  # set by Services.create
        self.db = db
        self.store = store
        self.cache = cache
        self.hasher = PasswordHasher()  # argon2id with the library's current defaults

    # -- registration -----------------------------------------------------------------
    def check_new_credentials(self, email: str, password: str) -> str:
        """Return the normalised email or raise ``Invalid`` naming each problem."""
        details: list[ErrorDetail] = []
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            details.append({"loc": ["body", "email"], "message": str(exc)})
        for problem in password_problems(password, email, load_common_passwords()):
            details.append({"loc": ["body", "password"], "message": problem})
        if details:
            raise Invalid("; ".join(str(d["message"]) for d in details), details)
        return email

    def check_new_password(self, password: str, email: str, field: str) -> None:
        """Raise ``Invalid`` (at ``field``) if ``password`` breaks the registration rules."""
        problems = password_problems(password, email, load_common_passwords())
        if problems:
            details: list[ErrorDetail] = [{"loc": ["body", field], "message": p} for p in problems]
            raise Invalid("; ".join(problems), details)

    async def register(
        self, email: str, password: str, display_name: str, role: Role, *, by_admin: bool = False
    ) -> models.User:
        if role is Role.ADMIN and not by_admin:
            raise Forbidden("admins are created with the command line")
        if role is Role.GUEST:
            raise Forbidden("guest accounts are made by live games only")
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
            password_hash=await self.hash_password(password),
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
    async def authenticate(
        self, email: str, password: str, client_ip: str, otp: str | None = None
    ) -> models.User:
        """Check credentials, counting failures per account and per client address.

        Each attempt first takes a place in both failure windows, atomically (the count
        and the add in one step, ``KeyValueStore.window_claim``): attempts in flight count
        against the limit, so 40 concurrent guesses get ``login_max_failures`` checks, not
        40. An attempt that finds the places taken by attempts still in flight waits for
        them (a classroom behind one address signing in at once is not refused); only
        failures lock the account or address out.
        """
        email = email.strip().lower()
        window = self.settings.login_window_seconds
        attempt = secrets.token_hex(8)
        keys = (
            ("account", f"login-fail:acct:{_digest(email)}", self.settings.login_max_failures),
            ("ip", f"login-fail:ip:{client_ip}", self._ip_failure_limit(client_ip)),
        )
        claimed: list[str] = []
        try:
            for scope, key, limit in keys:
                await self._claim(scope, key, attempt, window, limit)
                claimed.append(key)
            async with self.db.session() as session:
                user = await session.scalar(select(models.User).where(models.User.email == email))
            if user is not None and user.is_active and await self.verify_password(user, password):
                factor = self.second_factor
                if factor is not None and await factor.enabled(user.id):
                    if not otp:
                        await self._settle(claimed, attempt, failed=False)
                        claimed = []
                        raise MfaRequired("enter the code of your authenticator app (otp)")
                    if not await factor.check(user.id, otp):
                        await self._settle(claimed, attempt, failed=True)
                        claimed = []
                        self.metrics.logins.labels("failed").inc()
                        await note(self.audit, AuditEvent.MFA_FAILED, **_who(user))
                        raise MfaInvalid("the code is not right, or was used already")
                await self._settle(claimed, attempt, failed=False)
                claimed = []
                if self.hasher.check_needs_rehash(user.password_hash):
                    await self._rehash(user.id, password)
                self.metrics.logins.labels("ok").inc()
                await note(self.audit, AuditEvent.SIGN_IN_SUCCEEDED, **_who(user))
                return user
            if user is None or not user.is_active:
                # The same work as a real check: the time does not tell which accounts exist.
                await self.cpu.run(self._verify_dummy, password)
            await self._settle(claimed, attempt, failed=True)
            claimed = []
            self.metrics.logins.labels("failed").inc()
            await note(
                self.audit,
                AuditEvent.SIGN_IN_FAILED,
                **(_who(user) if user else {}),
                details={"email_sha256": _digest(email)},
            )
            raise NotAuthenticated("wrong email or password")
        finally:
            if claimed:  # cancelled or failed on the way: the attempt does not count
                await self._settle(claimed, attempt, failed=False)

    def _ip_failure_limit(self, client_ip: str) -> int:
        """Failed sign-ins (and sign-ins in flight) one address may have in the window;
        more for a shared address such as a school's NAT address."""
        limit = self.settings.login_max_failures_per_ip
        if in_networks(client_ip, tuple(self.settings.shared_addresses)):
            limit *= self.settings.shared_address_factor
        return limit

    async def _claim(self, scope: str, key: str, attempt: str, window: float, limit: int) -> None:
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        while True:
            now = time.time()
            outcome, oldest = await self.store.window_claim(key, attempt, now, window, limit)
            if outcome == "claimed":
                return
            if outcome == "full" or time.monotonic() > deadline:
                self.metrics.logins.labels("locked").inc()
                self.metrics.lockouts.labels(scope).inc()
                await note(self.audit, AuditEvent.LOCKOUT, details={"scope": scope, "key": key})
                retry = math.ceil(oldest + window - now) if outcome == "full" else 1
                raise RateLimited("too many failed sign-ins; try again later", max(1, retry))
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    async def _settle(self, keys: list[str], attempt: str, *, failed: bool) -> None:
        now = time.time()
        for key in keys:
            await self.store.window_settle(key, attempt, now, failed=failed)

    async def verify_password(self, user: models.User, password: str) -> bool:
        """Whether ``password`` is ``user``'s, checked in a worker thread (argon2 is slow
        by design and would stall the event loop)."""
        return await self.cpu.run(self._verify, user.password_hash, password)

    async def hash_password(self, password: str) -> str:
        """An argon2id hash of ``password``, made in a worker thread."""
        return await self.cpu.run(self.hasher.hash, password)

    def _verify_dummy(self, password: str) -> bool:
        return self._verify(_dummy_hash(), password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _rehash(self, user_id: str, password: str) -> None:
        async with self.db.session() as session:
            user = await session.get(models.User, user_id)
            if user is not None:
                user.password_hash = await self.hash_password(password)

    # -- tokens -------------------------------------------------------------------------
    # A token is a random string; the store keeps ``tok:<sha256>`` -> who it stands for.
    # Each user also has a token epoch (``user-epoch:<id>``): a token is valid only while
    # its epoch is the user's current one, so bumping the epoch revokes every token of the
    # user at once (sign out everywhere, password change, deactivation, role change)
    # without knowing them. ``sessions:<id>`` lists the user's tokens for the sessions
    # page; it is best effort (a lost entry hides a session from the list, never keeps a
    # revoked one alive).
    async def issue_token(
        self, user: models.User, *, ip: str = "", user_agent: str = ""
    ) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        token_hash = _digest(token)
        ttl = self.settings.token_ttl_seconds
        now = time.time()
        record = {
            "user_id": user.id,
            "role": user.role,
            "display_name": user.display_name,
            "epoch": await self._epoch(user.id),
            "enrol_only": await self._must_enrol(user),
        }
        await self.store.set(f"tok:{token_hash}", orjson.dumps(record), ttl)
        index = await self._session_index(user.id)
        index[token_hash] = {"created_at": now, "ip": ip[:64], "user_agent": user_agent[:200]}
        live = {k: v for k, v in index.items() if v["created_at"] + ttl > now}
        await self.store.set(f"sessions:{user.id}", orjson.dumps(live), ttl)
        return IssuedToken(token, ttl)

    async def _must_enrol(self, user: models.User) -> bool:
        """Production requires two-step sign-in of admins: until they set it up, their
        token only reaches the set-up."""
        if self.settings.env != "production" or user.role != Role.ADMIN.value:
            return False
        factor = self.second_factor
        return factor is None or not await factor.enabled(user.id)

    async def resolve_token(self, token: str) -> Principal | None:
        """The principal a token stands for, or None when unknown, expired or revoked."""
        token_hash = _digest(token)
        key = f"tok:{token_hash}"
        principal = self.cache.get(key)
        if not isinstance(principal, Principal):
            started = time.monotonic()
            raw = await self.store.get(key)
            if raw is None:
                return None
            record = orjson.loads(raw)
            principal = Principal(
                record["user_id"],
                Role(record["role"]),
                record["display_name"],
                token_hash,
                int(record.get("epoch", 0)),
                bool(record.get("enrol_only", False)),
            )
            self.cache.put(key, principal, since=started)  # not if revoked meanwhile
        if principal.epoch != await self._epoch(principal.user_id):
            return None
        return principal

    async def _epoch(self, user_id: str) -> int:
        key = f"user-epoch:{user_id}"
        cached = self.cache.get(key)
        if isinstance(cached, int):
            return cached
        started = time.monotonic()
        raw = await self.store.get(key)
        epoch = int(raw) if raw else 0
        self.cache.put(key, epoch, since=started)  # an epoch moved on meanwhile is not kept
        return epoch

    async def revoke(self, principal: Principal) -> None:
        """Revoke the token ``principal`` came with (sign out here)."""
        await self._forget(principal.user_id, principal.token_hash)

    async def _forget(self, user_id: str, token_hash: str) -> None:
        key = f"tok:{token_hash}"
        await self.store.delete(key)
        await self.cache.invalidate(key)
        index = await self._session_index(user_id)
        if index.pop(token_hash, None) is not None:
            await self.store.set(
                f"sessions:{user_id}", orjson.dumps(index), self.settings.token_ttl_seconds
            )

    async def revoke_all(self, user_id: str) -> None:
        """Revoke every token of the user, on every instance (the epoch moves on)."""
        key = f"user-epoch:{user_id}"
        current = await self._epoch(user_id)
        # Kept without expiry (the store's counters expire; an old epoch coming back would
        # revive old tokens).
        await self.store.set(key, str(current + 1).encode())
        await self.cache.invalidate(key)
        await self.store.delete(f"sessions:{user_id}")

    async def sign_out_everywhere(self, caller: Principal) -> None:
        """The caller's "sign out everywhere": every token revoked, and audited."""
        await self.revoke_all(caller.user_id)
        await note(
            self.audit,
            AuditEvent.SESSIONS_REVOKED,
            actor_id=caller.user_id,
            actor_display=caller.display_name,
            target_type="user",
            target_id=caller.user_id,
        )

    async def _session_index(self, user_id: str) -> dict[str, dict[str, Any]]:
        raw = await self.store.get(f"sessions:{user_id}")
        loaded = orjson.loads(raw) if raw else {}
        return loaded if isinstance(loaded, dict) else {}

    async def sessions(self, caller: Principal) -> list[SessionInfo]:
        """The caller's signed-in sessions, newest first."""
        index = await self._session_index(caller.user_id)
        found = []
        for token_hash, info in index.items():
            if not await self.store.exists(f"tok:{token_hash}"):
                continue
            found.append(
                SessionInfo(
                    token_hash,
                    float(info.get("created_at", 0)),
                    str(info.get("ip", "")),
                    str(info.get("user_agent", "")),
                    token_hash == caller.token_hash,
                )
            )
        return sorted(found, key=lambda s: s.created_at, reverse=True)

    async def revoke_session(self, caller: Principal, session_id: str) -> None:
        """Sign out one of the caller's own sessions; 404 for any other id."""
        if session_id not in await self._session_index(caller.user_id):
            raise NotFound("session not found")
        await self._forget(caller.user_id, session_id)

    async def change_password(
        self, caller: Principal, current: str, new: str, client_ip: str
    ) -> models.User:
        """Set a new password after checking the current one (with the sign-in lockout, so
        this is no side door for guessing), and revoke every session: the caller gets a
        new token from the route."""
        user = await self.get_user(caller.user_id)
        if user is None:
            raise NotFound("user not found")
        try:
            await self.authenticate(user.email, current, client_ip)
        except NotAuthenticated as exc:
            raise Invalid(
                "the current password is not right",
                [{"loc": ["body", "current_password"], "message": "not your current password"}],
            ) from exc
        self.check_new_password(new, user.email, "new_password")
        async with self.db.session() as session:
            row = await session.get(models.User, user.id)
            if row is None:
                raise NotFound("user not found")
            row.password_hash = await self.hash_password(new)
        await self.revoke_all(user.id)
        await note(self.audit, AuditEvent.PASSWORD_CHANGED, **_who(user))
        return user

    async def update_user(
        self, caller: Principal, user_id: str, *, is_active: bool | None, role: Role | None
    ) -> models.User:
        """An admin (de)activates an account or changes its role; either revokes all of
        the account's tokens (a token carries the role it was issued with)."""
        if not caller.is_admin:
            raise Forbidden("only admins can change accounts")
        if user_id == caller.user_id:
            raise Conflict("you cannot deactivate yourself or change your own role")
        if role is Role.GUEST:
            raise Conflict("guest accounts are made by live games only")
        async with self.db.session() as session:
            user = await session.get(models.User, user_id)
            if user is None:
                raise NotFound("user not found")
            events: list[tuple[AuditEvent, dict[str, Any]]] = []
            if is_active is not None and is_active != user.is_active:
                user.is_active = is_active
                event = AuditEvent.USER_REACTIVATED if is_active else AuditEvent.USER_DEACTIVATED
                events.append((event, {}))
            if role is not None and role.value != user.role:
                events.append((AuditEvent.ROLE_CHANGED, {"from": user.role, "to": role.value}))
                user.role = role.value
        if events:
            await self.revoke_all(user_id)
        for event, details in events:
            await note(
                self.audit,
                event,
                actor_id=caller.user_id,
                actor_display=caller.display_name,
                target_type="user",
                target_id=user_id,
                details=details,
            )
        return user

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


def _who(user: models.User) -> dict[str, Any]:
    """The audit fields naming ``user`` as both actor and target of their own event."""
    return {
        "actor_id": user.id,
        "actor_display": user.display_name,
        "target_type": "user",
        "target_id": user.id,
    }
