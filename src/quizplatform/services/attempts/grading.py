"""Grading essay answers by hand, and the list of attempts waiting for it."""

from __future__ import annotations

from sqlalchemy import func, select

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.domain.questions import QuestionType
from quizplatform.domain.scoring import InvalidResponse, total, validate_manual_grade
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.leaderboard import Leaderboards
from quizplatform.services.attempts.lifecycle import AttemptLifecycle
from quizplatform.services.attempts.results import AttemptView, AwaitingGrade
from quizplatform.services.attempts.rules import score_all
from quizplatform.services.audit import AuditEvent, AuditLog, note
from quizplatform.services.draws import bank_quiz_id
from quizplatform.services.errors import Conflict, Forbidden, Invalid, NotFound
from quizplatform.services.quizzes import QuizService


class Grading:
    """The quiz owner's grades."""

    def __init__(
        self,
        db: Database,
        quizzes: QuizService,
        lifecycle: AttemptLifecycle,
        leaderboards: Leaderboards,
    ) -> None:
        self.db = db
        self.quizzes = quizzes
        self.lifecycle = lifecycle
        self.leaderboards = leaderboards
        self.audit: AuditLog | None = None  # set by Services.create

    async def grade(
        self, caller: Principal, attempt_id: str, question_id: str, score: object
    ) -> AttemptView:
        """Set the score of one essay response of a submitted attempt (the quiz's owner
        or an admin) and return the attempt rescored."""
        # 404 unless the caller may read the attempt: another student or teacher must not
        # learn that it exists; its own student may read it but not grade it (403).
        attempt = await self.lifecycle.own_attempt(caller, attempt_id)
        snap = await self.quizzes.snapshot(attempt.quiz_id)
        if snap is None:
            raise NotFound("attempt not found")
        if not (caller.is_admin or caller.user_id == snap.owner_id):
            raise Forbidden("only the quiz's owner may grade its attempts")
        if attempt.status != "submitted":
            raise Conflict("only submitted attempts can be graded")
        if question_id not in attempt.question_ids:
            raise NotFound("question not found in this attempt")
        questions = await self.lifecycle.questions_of(attempt.quiz_id, attempt.question_ids)
        try:
            value = validate_manual_grade(questions[question_id], score)
        except InvalidResponse as exc:
            raise Invalid(str(exc), [{"loc": ["body", "score"], "message": str(exc)}]) from exc
        async with self.db.session() as session:
            # Locked first (PostgreSQL), as a regrade's writes lock it before its responses.
            row = await session.get(
                models.Attempt, attempt_id, with_for_update=not self.db.is_sqlite
            )
            if row is None:
                raise NotFound("attempt not found")
            response = await session.get(models.Response, (attempt_id, question_id))
            if response is None:
                response = models.Response(
                    attempt_id=attempt_id, question_id=question_id, payload={"text": ""}
                )
                session.add(response)
            response.manual_score = value
            response.score = value
            await session.flush()
            # After that write SQLite holds its write lock too: a regrade that moved this
            # attempt to newer questions meanwhile has committed, and shows here.
            await session.refresh(row)
            if row.question_ids != attempt.question_ids:
                raise Conflict("the attempt was just regraded; grade it again")
            responses = list(
                await session.scalars(
                    select(models.Response).where(models.Response.attempt_id == attempt_id)
                )
            )
            scores = score_all(attempt, questions, responses)
            result = total(list(scores.values()))
            row.score, row.max_score, row.percent = result.score, result.max_score, result.percent
        # A grade may lower a score, which a merge cannot express: rebuild on next read.
        await self.leaderboards.forget(attempt.quiz_id)
        await note(
            self.audit,
            AuditEvent.GRADE_CHANGED,
            actor_id=caller.user_id,
            actor_display=caller.display_name,
            target_type="attempt",
            target_id=attempt_id,
            details={"question_id": question_id, "score": value},
        )
        return await self.lifecycle.get(caller, attempt_id)

    async def awaiting_grades(
        self, caller: Principal, quiz_id: str, limit: int = 100
    ) -> list[AwaitingGrade]:
        """Submitted attempts on the caller's quiz with essay answers not graded yet,
        oldest submission first (the order to grade them in)."""
        snap = await self.quizzes.owned(caller, quiz_id)  # 404/403 unless the caller owns it
        # Every version of the quiz's essays (an attempt may hold an older one), and of
        # its owner's bank (drawn questions); only responses of this quiz's attempts count.
        essays = select(models.Question.id).where(
            models.Question.quiz_id.in_([quiz_id, bank_quiz_id(snap.owner_id)]),
            models.Question.type == QuestionType.ESSAY.value,
        )
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(
                    models.Attempt.id,
                    models.User.display_name,
                    models.Attempt.submitted_at,
                    func.count(models.Response.question_id),
                )
                .join(models.Attempt, models.Attempt.id == models.Response.attempt_id)
                .join(models.User, models.User.id == models.Attempt.user_id)
                .where(
                    models.Attempt.quiz_id == quiz_id,
                    models.Attempt.status == "submitted",
                    models.Response.manual_score.is_(None),
                    models.Response.question_id.in_(essays),
                )
                .group_by(models.Attempt.id, models.User.display_name, models.Attempt.submitted_at)
                .order_by(models.Attempt.submitted_at, models.Attempt.id)
                .limit(limit)
            )
        return [AwaitingGrade(a, name, at, n) for a, name, at, n in rows]
