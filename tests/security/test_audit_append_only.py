"""The audit log cannot be edited or thinned from SQL (PostgreSQL trigger); only the
retention purge deletes, and it leaves a record of itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from quizplatform.db import models
from quizplatform.runtime.clock import utcnow
from quizplatform.services.audit import AuditEvent
from quizplatform.services.container import Services


@pytest.mark.parametrize("services", ["postgres"], indirect=True)
async def test_update_and_delete_are_refused_at_the_sql_level(services: Services) -> None:
    await services.audit.record(AuditEvent.SIGN_IN_FAILED, actor_id="someone")
    for statement in (
        update(models.AuditEvent).values(event="sign_in_succeeded"),
        delete(models.AuditEvent),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with services.db.session() as session:
                await session.execute(statement)
    async with services.db.session() as session:
        events = list(await session.scalars(select(models.AuditEvent.event)))
    assert events == ["sign_in_failed"]


@pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)
async def test_the_purge_removes_only_old_events_and_records_itself(services: Services) -> None:
    await services.audit.record(AuditEvent.QUIZ_DELETED, actor_id="old")
    await services.audit.record(AuditEvent.QUIZ_DELETED, actor_id="new")
    async with services.db.session() as session:
        if not services.db.is_sqlite:
            await session.execute(text("SET LOCAL quiz.audit_purge = 'on'"))  # test set-up only
            await session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        await session.execute(
            update(models.AuditEvent)
            .where(models.AuditEvent.actor_id == "old")
            .values(occurred_at=utcnow() - timedelta(days=400))
        )
        if not services.db.is_sqlite:
            await session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    assert await services.audit.purge(365) == 1
    async with services.db.session() as session:
        rows = list(await session.scalars(select(models.AuditEvent)))
    assert sorted(r.actor_id or "" for r in rows) == ["", "new"]
    assert any(r.event == "audit_purged" and r.details["removed"] == 1 for r in rows)
