"""The dashboards' lists of attempts: the student's own, and those on a teacher's quizzes."""

from __future__ import annotations

from sqlalchemy import select

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.runtime.clock import utcnow
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.results import AttemptSummary
from quizplatform.services.attempts.view import attempt_summary


class AttemptLists:
    """Lists attempts for the dashboards."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_mine(self, caller: Principal, limit: int = 50) -> list[AttemptSummary]:
        """The caller's own attempts, newest first, with their quiz's title.

        ``status`` is ``time_up`` for an attempt still in progress past its deadline
        (opening it submits it, as any access does)."""
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(models.Attempt, models.Quiz.title)
                .join(models.Quiz, models.Quiz.id == models.Attempt.quiz_id)
                .where(models.Attempt.user_id == caller.user_id)
                .order_by(models.Attempt.started_at.desc(), models.Attempt.id)
                .limit(limit)
            )
        now = utcnow()
        return [attempt_summary(attempt, now, title) for attempt, title in rows]

    async def recent_on_my_quizzes(
        self, caller: Principal, limit: int = 20
    ) -> list[AttemptSummary]:
        """The latest attempts on quizzes the caller owns, newest first, with the quiz's
        title and the student's display name (the teacher's dashboard)."""
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(models.Attempt, models.Quiz.title, models.User.display_name)
                .join(models.Quiz, models.Quiz.id == models.Attempt.quiz_id)
                .join(models.User, models.User.id == models.Attempt.user_id)
                .where(models.Quiz.owner_id == caller.user_id)
                .order_by(models.Attempt.started_at.desc(), models.Attempt.id)
                .limit(limit)
            )
        now = utcnow()
        return [attempt_summary(attempt, now, title, student=name) for attempt, title, name in rows]
