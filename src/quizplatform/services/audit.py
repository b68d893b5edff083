"""The audit log: security-relevant events, who did them, to what, from where.

Rows are only ever added (on PostgreSQL a trigger refuses UPDATE and DELETE, except the
retention purge); admins read them (``GET /api/v1/audit``, ``/admin/audit``). The request
id and client address come from the request being handled (``runtime/request_context``).
An event that cannot be written is logged at error level with everything it held, so it
is never lost silently; the action itself is not undone for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.request_context import current_request

log = structlog.get_logger(__name__)


class AuditEvent(StrEnum):
    SIGN_IN_SUCCEEDED = "sign_in_succeeded"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKOUT = "lockout"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    MFA_FAILED = "mfa_failed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name
    ROLE_CHANGED = "role_changed"
    USER_DEACTIVATED = "user_deactivated"
    USER_REACTIVATED = "user_reactivated"
    SESSIONS_REVOKED = "sessions_revoked"
    QUIZ_PUBLISHED = "quiz_published"
    QUIZ_UNPUBLISHED = "quiz_unpublished"
    QUIZ_DELETED = "quiz_deleted"
    ANSWER_KEY_EXPORTED = "answer_key_exported"
    GRADE_CHANGED = "grade_changed"
    ATTEMPTS_REGRADED = "attempts_regraded"
    USER_DATA_EXPORTED = "user_data_exported"
    USER_ERASED = "user_erased"
    AUDIT_PURGED = "audit_purged"


@dataclass(frozen=True)
class AuditQuery:
    event: str | None = None
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEventView:
    """One event of the log as it is read back."""

    id: str
    occurred_at: datetime
    event: str
    actor_id: str | None
    actor_display: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: Mapping[str, object]  # what the event recorded, as stored (a JSON object)


def event_view(row: models.AuditEvent) -> AuditEventView:
    """The stored event as the service shows it."""
    return AuditEventView(
        id=row.id,
        occurred_at=row.occurred_at,
        event=row.event,
        actor_id=row.actor_id,
        actor_display=row.actor_display,
        target_type=row.target_type,
        target_id=row.target_id,
        ip=row.ip,
        request_id=row.request_id,
        details=row.details,
    )


class AuditLog:
    """Writes and reads the audit log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        event: AuditEvent,
        *,
        actor_id: str | None = None,
        actor_display: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        """Add one event (its request id and client address from the current request)."""
        request = current_request.get()
        row = models.AuditEvent(
            event=event.value,
            actor_id=actor_id,
            actor_display=(actor_display or "")[:100] or None,
            target_type=target_type,
            target_id=target_id,
            ip=request.client_ip if request else None,
            request_id=request.request_id if request else None,
            details=dict(details or {}),
        )
        try:
            async with self.db.session() as session:
                session.add(row)
        except (SQLAlchemyError, OSError) as exc:
            log.error(
                "audit event not written",
                audit_event=event.value,
                actor_id=actor_id,
                target_type=target_type,
                target_id=target_id,
                details=details,
                error=type(exc).__name__,
            )

    async def search(
        self, query: AuditQuery, page: int, per_page: int
    ) -> tuple[list[AuditEventView], int]:
        """Events matching ``query``, newest first, one page at a time."""
        q = select(models.AuditEvent)
        if query.event:
            q = q.where(models.AuditEvent.event == query.event)
        if query.actor_id:
            q = q.where(models.AuditEvent.actor_id == query.actor_id)
        if query.target_id:
            q = q.where(models.AuditEvent.target_id == query.target_id)
        if query.since:
            q = q.where(models.AuditEvent.occurred_at >= query.since)
        if query.until:
            q = q.where(models.AuditEvent.occurred_at < query.until)
        async with self.db.read_session() as session:
            total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = await session.scalars(
                q.order_by(models.AuditEvent.occurred_at.desc(), models.AuditEvent.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            return [event_view(row) for row in rows], total

    async def purge(self, retention_days: int) -> int:
        """Delete the events older than ``retention_days`` (the one DELETE the table
        allows); the purge itself is recorded."""
        cutoff = utcnow() - timedelta(days=retention_days)
        async with self.db.session() as session:
            if not self.db.is_sqlite:
                await session.execute(text("SET LOCAL quiz.audit_purge = 'on'"))
            result = await session.execute(
                delete(models.AuditEvent).where(models.AuditEvent.occurred_at < cutoff)
            )
            removed = int(getattr(result, "rowcount", 0) or 0)
        await self.record(
            AuditEvent.AUDIT_PURGED, details={"removed": removed, "retention_days": retention_days}
        )
        return removed


async def note(audit: AuditLog | None, event: AuditEvent, **fields: Any) -> None:
    """``audit.record(event, **fields)`` when the service was given an audit log."""
    if audit is not None:
        await audit.record(event, **fields)
