"""``AttemptService``: the one object the composition root and the adapters know; it
hands each call to the part that does it (lifecycle, grading, leaderboards, report)."""

from __future__ import annotations

from quizplatform.db.engine import Database
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.runtime.metrics import Metrics
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.grading import Grading
from quizplatform.services.attempts.leaderboard import Leaderboards
from quizplatform.services.attempts.lifecycle import AttemptLifecycle
from quizplatform.services.attempts.listing import AttemptLists
from quizplatform.services.attempts.regrade import RegradePlan, Regrading
from quizplatform.services.attempts.report import QuizReports
from quizplatform.services.attempts.results import (
    AttemptSummary,
    AttemptView,
    AwaitingGrade,
    Leaderboard,
    QuizReport,
    SavedResponse,
)
from quizplatform.services.audit import AuditLog
from quizplatform.services.quizzes import QuizService


class AttemptService:
    """Attempts: start, answer, submit, read, grade, rank and report."""

    def __init__(
        self, db: Database, store: KeyValueStore, quizzes: QuizService, metrics: Metrics
    ) -> None:
        self.leaderboards = Leaderboards(db, store, quizzes)
        self.lifecycle = AttemptLifecycle(db, store, quizzes, metrics, self.leaderboards)
        self.lists = AttemptLists(db)
        self.grading = Grading(db, quizzes, self.lifecycle, self.leaderboards)
        self.reports = QuizReports(db, quizzes)
        self.regrading = Regrading(db, quizzes, self.leaderboards)

    @property
    def audit(self) -> AuditLog | None:
        """Where grade changes are noted (set by ``Services.create``)."""
        return self.grading.audit

    @audit.setter
    def audit(self, audit: AuditLog | None) -> None:
        self.grading.audit = audit
        self.regrading.audit = audit

    async def start(self, caller: Principal, quiz_id: str) -> tuple[AttemptView, bool]:
        """Start an attempt, or resume the caller's running one. Returns (view, created)."""
        return await self.lifecycle.start(caller, quiz_id)

    async def save_response(
        self, caller: Principal, attempt_id: str, question_id: str, payload: object
    ) -> SavedResponse:
        """Save (or replace) the caller's response to one question of their attempt."""
        return await self.lifecycle.save_response(caller, attempt_id, question_id, payload)

    async def submit(self, caller: Principal, attempt_id: str) -> AttemptView:
        """Submit the caller's attempt (repeat-safe)."""
        return await self.lifecycle.submit(caller, attempt_id)

    async def get(self, caller: Principal, attempt_id: str) -> AttemptView:
        """The attempt, for its student or the quiz's owner (submits it if time is up)."""
        return await self.lifecycle.get(caller, attempt_id)

    async def sweep_expired(self, limit: int = 200) -> int:
        """Submit attempts whose deadline has passed. Safe on every instance at once."""
        return await self.lifecycle.sweep_expired(limit)

    async def list_mine(self, caller: Principal, limit: int = 50) -> list[AttemptSummary]:
        """The caller's own attempts, newest first."""
        return await self.lists.list_mine(caller, limit)

    async def recent_on_my_quizzes(
        self, caller: Principal, limit: int = 20
    ) -> list[AttemptSummary]:
        """The latest attempts on quizzes the caller owns, newest first."""
        return await self.lists.recent_on_my_quizzes(caller, limit)

    async def grade(
        self, caller: Principal, attempt_id: str, question_id: str, score: object
    ) -> AttemptView:
        """Grade one essay response; returns the attempt rescored."""
        return await self.grading.grade(caller, attempt_id, question_id, score)

    async def awaiting_grades(
        self, caller: Principal, quiz_id: str, limit: int = 100
    ) -> list[AwaitingGrade]:
        """Submitted attempts on the caller's quiz with essays not graded yet."""
        return await self.grading.awaiting_grades(caller, quiz_id, limit)

    async def leaderboard(self, caller: Principal | None, quiz_id: str, limit: int) -> Leaderboard:
        """The best attempt per student, best first (``is_caller`` marks the caller's)."""
        return await self.leaderboards.top(caller, quiz_id, limit)

    async def display_name(self, user_id: str) -> str:
        """A user's display name ("?" if gone). Not secret: leaderboards show it."""
        return await self.leaderboards.display_name(user_id)

    async def report(self, caller: Principal, quiz_id: str) -> QuizReport:
        """The item analysis of the caller's quiz."""
        return await self.reports.report(caller, quiz_id)

    async def regrade(
        self, caller: Principal, quiz_id: str, *, dry_run: bool = True
    ) -> RegradePlan:
        """Score the quiz's submitted attempts again against the current key of each
        question: what changes (``dry_run``, the default), or change it."""
        return await self.regrading.regrade(caller, quiz_id, dry_run=dry_run)
