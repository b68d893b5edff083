"""Privacy (GDPR): a user downloads everything the platform holds about them; an admin
erases a user.

Erasure keeps what others rely on and removes the person: the account row stays (its id
is what attempts and quizzes point at) with the e-mail, name and password replaced; every
token, the two-step secret and reset links are gone; attempts stay for item analysis,
now linked to "Deleted user"; quizzes stay with their students' results; audit events
stay (what happened must remain), with the person's name and address blanked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypedDict

from sqlalchemy import delete, or_, select, text, update

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.services.accounts import AccountService, Principal, SessionInfo
from quizplatform.services.audit import AuditEvent, AuditLog
from quizplatform.services.errors import Conflict, Forbidden, NotFound

ERASED_NAME = "Deleted user"
UNUSABLE_HASH = "!"  # matches no password (argon2 refuses to verify it)


# -- the export: one JSON document, served as it is by the API and the web page ------------
class ExportedProfile(TypedDict):
    id: str
    email: str
    display_name: str
    role: str
    created_at: datetime
    is_active: bool
    two_step_sign_in: bool


class ExportedSession(TypedDict):
    id: str
    created_at: datetime
    ip: str
    user_agent: str
    current: bool


class ExportedQuiz(TypedDict):
    id: str
    title: str
    status: str
    created_at: datetime


class ExportedResponse(TypedDict):
    question_id: str
    answer: Mapping[str, object]
    score: float | None


class ExportedAttempt(TypedDict):
    id: str
    quiz_id: str
    status: str
    started_at: datetime
    submitted_at: datetime | None
    score: float | None
    max_score: float | None
    responses: list[ExportedResponse]


class ExportedJob(TypedDict):
    id: str
    status: str
    created_at: datetime
    request: Mapping[str, object]


class ExportedUsage(TypedDict):
    created_at: datetime
    provider: str
    model: str


class ExportedAuditEvent(TypedDict):
    id: str
    occurred_at: datetime
    event: str
    actor_id: str | None
    actor: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: Mapping[str, object]


class DataExport(TypedDict):
    """Everything held about a user (``GET /me/export``)."""

    profile: ExportedProfile
    sessions: list[ExportedSession]
    quizzes: list[ExportedQuiz]
    attempts: list[ExportedAttempt]
    ai_jobs: list[ExportedJob]
    ai_usage: list[ExportedUsage]
    audit_events: list[ExportedAuditEvent]


def _session(s: SessionInfo) -> ExportedSession:
    return {
        "id": s.id,
        "created_at": s.signed_in_at,
        "ip": s.ip,
        "user_agent": s.user_agent,
        "current": s.current,
    }


def _audit_event(row: models.AuditEvent) -> ExportedAuditEvent:
    return {
        "id": row.id,
        "occurred_at": row.occurred_at,
        "event": row.event,
        "actor_id": row.actor_id,
        "actor": row.actor_display,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "request_id": row.request_id,
        "details": row.details,
    }


class PrivacyService:
    def __init__(self, db: Database, accounts: AccountService, audit: AuditLog) -> None:
        self.db = db
        self.accounts = accounts
        self.audit = audit

    async def export(self, caller: Principal) -> DataExport:
        """Everything held about the caller, as one JSON document."""
        uid = caller.user_id
        async with self.db.session() as session:
            user = await session.get(models.User, uid)
            if user is None:
                raise NotFound("user not found")
            quizzes = await session.scalars(select(models.Quiz).where(models.Quiz.owner_id == uid))
            attempts = list(
                await session.scalars(select(models.Attempt).where(models.Attempt.user_id == uid))
            )
            responses = await session.scalars(
                select(models.Response).where(
                    models.Response.attempt_id.in_([a.id for a in attempts])
                )
            )
            jobs = await session.scalars(select(models.AIJob).where(models.AIJob.owner_id == uid))
            usage = await session.scalars(
                select(models.AIUsage).where(models.AIUsage.user_id == uid)
            )
            mfa = await session.get(models.MfaCredential, uid)
            events = await session.scalars(
                select(models.AuditEvent)
                .where(or_(models.AuditEvent.actor_id == uid, models.AuditEvent.target_id == uid))
                .order_by(models.AuditEvent.occurred_at)
            )
            by_attempt: dict[str, list[ExportedResponse]] = {}
            for r in responses:
                by_attempt.setdefault(r.attempt_id, []).append(
                    {"question_id": r.question_id, "answer": r.payload, "score": r.score}
                )
            document: DataExport = {
                "profile": {
                    "id": user.id,
                    "email": user.email,
                    "display_name": user.display_name,
                    "role": user.role,
                    "created_at": user.created_at,
                    "is_active": user.is_active,
                    "two_step_sign_in": bool(mfa and mfa.enabled),
                },
                "sessions": [_session(s) for s in await self.accounts.sessions(caller)],
                "quizzes": [
                    {"id": q.id, "title": q.title, "status": q.status, "created_at": q.created_at}
                    for q in quizzes
                ],
                "attempts": [
                    {
                        "id": a.id,
                        "quiz_id": a.quiz_id,
                        "status": a.status,
                        "started_at": a.started_at,
                        "submitted_at": a.submitted_at,
                        "score": a.score,
                        "max_score": a.max_score,
                        "responses": by_attempt.get(a.id, []),
                    }
                    for a in attempts
                ],
                "ai_jobs": [
                    {
                        "id": j.id,
                        "status": j.status,
                        "created_at": j.created_at,
                        "request": j.request,
                    }
                    for j in jobs
                ],
                "ai_usage": [
                    {"created_at": u.created_at, "provider": u.provider, "model": u.model}
                    for u in usage
                ],
                "audit_events": [_audit_event(e) for e in events],
            }
        await self.audit.record(
            AuditEvent.USER_DATA_EXPORTED,
            actor_id=uid,
            actor_display=caller.display_name,
            target_type="user",
            target_id=uid,
        )
        return document

    async def erase(self, caller: Principal, user_id: str) -> None:
        """Erase ``user_id`` (admins only, not themselves); see the module docstring."""
        if not caller.is_admin:
            raise Forbidden("only admins can erase accounts")
        if user_id == caller.user_id:
            raise Conflict("you cannot erase your own account")
        async with self.db.session() as session:
            user = await session.get(models.User, user_id)
            if user is None:
                raise NotFound("user not found")
            user.email = f"erased-{user.id}@erased.invalid"
            user.display_name = ERASED_NAME
            user.password_hash = UNUSABLE_HASH
            user.is_active = False
            await session.execute(
                delete(models.MfaCredential).where(models.MfaCredential.user_id == user_id)
            )
            await session.execute(
                delete(models.PasswordResetToken).where(
                    models.PasswordResetToken.user_id == user_id
                )
            )
        async with self.db.session() as session:
            if not self.db.is_sqlite:
                await session.execute(text("SET LOCAL quiz.audit_erase = 'on'"))
            await session.execute(
                update(models.AuditEvent)
                .where(models.AuditEvent.actor_id == user_id)
                .values(actor_display=ERASED_NAME, ip=None)
            )
        await self.accounts.revoke_all(user_id)
        await self.audit.record(
            AuditEvent.USER_ERASED,
            actor_id=caller.user_id,
            actor_display=caller.display_name,
            target_type="user",
            target_id=user_id,
        )
