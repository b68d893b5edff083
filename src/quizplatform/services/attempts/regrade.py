"""Regrading: after a teacher fixes a question's key, score the quiz's submitted attempts
again against the current version of each question.

An attempt holds the question versions it was started with. Regrading moves each of its
auto-scored questions to the latest version (following ``replaces_id``), carrying the
response over (``domain/regrade.py``), and writes the new response scores and attempt
totals. Essays keep their version and their teacher's grade; a response that cannot be
carried over keeps its version and its score. A dry run (the default) only says what
would change. Applying is one transaction that first locks the quiz row, so two applies
run one after the other and the second finds nothing left to do.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import JSON, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.mapping import question_from_row
from quizplatform.domain.questions import Question, QuestionType
from quizplatform.domain.regrade import latest_versions, translate_response
from quizplatform.domain.scoring import QuestionScore, score_question, total
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.leaderboard import Leaderboards
from quizplatform.services.audit import AuditEvent, AuditLog, note
from quizplatform.services.errors import NotFound
from quizplatform.services.quizzes import QuizService

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RegradedAttempt:
    """One submitted attempt whose result a regrade changes."""

    attempt_id: str
    user_id: str
    student: str
    email: str
    old_score: float
    old_max_score: float
    old_percent: float
    new_score: float
    new_max_score: float
    new_percent: float
    delta: float  # new_score - old_score
    responses_changed: int  # responses whose score changes
    questions_updated: int  # questions moved to their current version


@dataclass(frozen=True, slots=True)
class RegradedQuestion:
    """One current question: how many responses a regrade rescores differently, and how
    many stay with their older version (their answer cannot be carried over, or the
    question was drawn and its new version is worth other points)."""

    question_id: str
    responses_changed: int
    kept_on_old_version: int


@dataclass(frozen=True, slots=True)
class RegradePlan:
    """What a regrade changes (``applied``: it was written)."""

    quiz_id: str
    applied: bool
    attempts_checked: int
    attempts: tuple[RegradedAttempt, ...]  # those whose result changes
    # Attempts whose questions move to their current version with the same result.
    attempts_moved_only: int
    questions: tuple[RegradedQuestion, ...]
    total_delta: float


@dataclass
class _ResponseWrite:
    old_question_id: str
    question_id: str
    payload: dict[str, object]
    score: float


@dataclass
class _AttemptWrite:
    attempt_id: str
    question_ids: list[str]
    score: float
    max_score: float
    percent: float
    responses: list[_ResponseWrite] = field(default_factory=list)
    moved: bool = False  # some of its questions move to a newer version
    # The attempt's ``drawn`` (question id -> the bank draw rule that drew it) with moved
    # ids renamed; None: nothing drawn.
    drawn: dict[str, object] | None = None


@dataclass
class _Work:
    plan: RegradePlan
    writes: list[_AttemptWrite]


class Regrading:
    """Plans and applies regrades for the quiz's owner (or an admin)."""

    def __init__(self, db: Database, quizzes: QuizService, leaderboards: Leaderboards) -> None:
        self.db = db
        self.quizzes = quizzes
        self.leaderboards = leaderboards
        self.audit: AuditLog | None = None  # set through AttemptService.audit

    async def regrade(
        self, caller: Principal, quiz_id: str, *, dry_run: bool = True
    ) -> RegradePlan:
        """The plan of a regrade of the caller's quiz; written unless ``dry_run``."""
        await self.quizzes.owned(caller, quiz_id)  # 404/403 unless the caller owns it
        if dry_run:
            async with self.db.read_session(fresh=True) as session:
                work = await _plan(session, quiz_id, applied=False)
            return work.plan
        async with self.db.session() as session:
            # The first statement writes (locks) the quiz row: a second apply waits here,
            # then reads what the first wrote and finds nothing left to change. On SQLite
            # the write takes the database's write lock before anything is read.
            locked = await session.execute(
                update(models.Quiz)
                .where(models.Quiz.id == quiz_id)
                .values(revision=models.Quiz.revision, updated_at=models.Quiz.updated_at)
            )
            if locked.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound("quiz not found")
            work = await _plan(session, quiz_id, applied=True)
            await _write(session, work.writes)
        if not work.writes:
            return work.plan
        # A score may have gone down, which a merge cannot express: rebuild on next read.
        await self.leaderboards.forget(quiz_id)
        # The near-cached shape of an attempt holds its question ids.
        await self.quizzes.cache.invalidate(
            *(f"attempt:{w.attempt_id}" for w in work.writes if w.moved)
        )
        await note(
            self.audit,
            AuditEvent.ATTEMPTS_REGRADED,
            actor_id=caller.user_id,
            actor_display=caller.display_name,
            target_type="quiz",
            target_id=quiz_id,
            details={
                "attempts_changed": len(work.plan.attempts),
                "total_delta": work.plan.total_delta,
                "responses_changed": sum(a.responses_changed for a in work.plan.attempts),
            },
        )
        return work.plan


async def _load_questions(session: AsyncSession, ids: set[str]) -> dict[str, models.Question]:
    """The question rows ``ids`` and every later version of them."""
    rows: dict[str, models.Question] = {}
    options = (selectinload(models.Question.parts), selectinload(models.Question.tag_links))
    wanted = set(ids)
    while wanted:
        found = list(
            await session.scalars(
                select(models.Question).where(models.Question.id.in_(wanted)).options(*options)
            )
        )
        rows.update((r.id, r) for r in found)
        successors = await session.scalars(
            select(models.Question.id).where(models.Question.replaces_id.in_([r.id for r in found]))
        )
        wanted = {s for s in successors if s not in rows}
    return rows


async def _plan(session: AsyncSession, quiz_id: str, *, applied: bool) -> _Work:
    query = (
        select(models.Attempt, models.User.display_name, models.User.email)
        .join(models.User, models.User.id == models.Attempt.user_id)
        .where(models.Attempt.quiz_id == quiz_id, models.Attempt.status == "submitted")
        .order_by(models.User.display_name, models.Attempt.submitted_at, models.Attempt.id)
    )
    if applied:
        # Locked (PostgreSQL) before their responses are read: a teacher's grade of one of
        # them either commits first and is read here, or waits and then sees this regrade.
        query = query.with_for_update(of=models.Attempt)
    attempts = (await session.execute(query)).all()
    responses: dict[str, dict[str, models.Response]] = {}
    if attempts:
        for r in await session.scalars(
            select(models.Response)
            .join(models.Attempt, models.Attempt.id == models.Response.attempt_id)
            .where(models.Attempt.quiz_id == quiz_id, models.Attempt.status == "submitted")
        ):
            responses.setdefault(r.attempt_id, {})[r.question_id] = r
    seen = {qid for a, _, _ in attempts for qid in a.question_ids}
    rows = await _load_questions(session, seen)
    replaced_by = {r.replaces_id: r.id for r in rows.values() if r.replaces_id is not None}
    latest = latest_versions(replaced_by, rows)
    questions = {qid: question_from_row(row) for qid, row in rows.items()}
    changed: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    planned: list[RegradedAttempt] = []
    writes: list[_AttemptWrite] = []
    moved_only = 0
    for attempt, name, email in attempts:
        write = _regrade_attempt(
            attempt, responses.get(attempt.id, {}), questions, latest, changed, kept
        )
        if write is None:
            continue
        writes.append(write)
        old = (attempt.score or 0.0, attempt.max_score or 0.0, attempt.percent or 0.0)
        rescored = sum(1 for r in write.responses if _differs(r, responses[attempt.id]))
        if not rescored and _same_total(attempt, write):
            moved_only += 1  # its questions move to their current version, same result
            continue
        planned.append(
            RegradedAttempt(
                attempt_id=attempt.id,
                user_id=attempt.user_id,
                student=name,
                email=email,
                old_score=old[0],
                old_max_score=old[1],
                old_percent=old[2],
                new_score=write.score,
                new_max_score=write.max_score,
                new_percent=write.percent,
                delta=round(write.score - old[0], 6) + 0.0,
                responses_changed=rescored,
                questions_updated=sum(
                    1
                    for a, b in zip(attempt.question_ids, write.question_ids, strict=True)
                    if a != b
                ),
            )
        )
    plan = RegradePlan(
        quiz_id=quiz_id,
        applied=applied and bool(writes),
        attempts_checked=len(attempts),
        attempts=tuple(planned),
        attempts_moved_only=moved_only,
        questions=tuple(
            RegradedQuestion(qid, changed[qid], kept[qid])
            for qid in sorted(set(changed) | set(kept), key=lambda q: _position(rows, q))
        ),
        total_delta=round(sum(a.delta for a in planned), 6) + 0.0,
    )
    return _Work(plan, writes)


def _position(rows: dict[str, models.Question], question_id: str) -> tuple[int, str]:
    row = rows.get(question_id)
    return (row.position if row is not None else 0, question_id)


def _differs(write: _ResponseWrite, stored: dict[str, models.Response]) -> bool:
    old = stored.get(write.old_question_id)
    return old is None or old.score is None or abs(old.score - write.score) > _EPSILON


def _regrade_attempt(
    attempt: models.Attempt,
    responses: dict[str, models.Response],
    questions: dict[str, Question],
    latest: dict[str, str],
    changed: Counter[str],
    kept: Counter[str],
) -> _AttemptWrite | None:
    """What regrading changes in one attempt (None: nothing), counting per current
    question the responses it rescores differently (``changed``) and leaves on their
    version (``kept``)."""
    new_ids: list[str] = []
    scores: list[QuestionScore] = []
    response_writes: list[_ResponseWrite] = []
    taken = set(attempt.question_ids)
    drawn = attempt.drawn or {}
    for qid in attempt.question_ids:
        question = questions.get(qid)
        if question is None:  # gone from the database: counted as it was (not at all)
            new_ids.append(qid)
            continue
        response = responses.get(qid)
        target_id = latest.get(qid, qid)
        target = questions[target_id]
        moved = target_id != qid and target_id not in taken
        manual = response is not None and response.manual_score is not None
        if question.type in (QuestionType.ESSAY, QuestionType.DESCRIPTION) or manual:
            # A teacher's grade stays with the version it was given for.
            moved, target, target_id = False, question, qid
        elif moved and qid in drawn and abs(target.points - question.points) > _EPSILON:
            # A draw promises every attempt the same weight: a drawn question whose new
            # version is worth more or less stays on the version it was drawn as.
            kept[target_id] += 1
            moved, target, target_id = False, question, qid
        payload: dict[str, object] | None = None
        if response is not None and moved:
            payload = translate_response(question, target, response.payload)
            if payload is None:
                kept[latest.get(qid, qid)] += 1
                moved, target, target_id = False, question, qid
        if moved:
            taken.add(target_id)
        new_ids.append(target_id)
        score = score_question(
            target,
            payload if payload is not None else (response.payload if response else None),
            response.manual_score if response is not None else None,
        )
        scores.append(score)
        if response is None:
            continue
        rw = _ResponseWrite(qid, target_id, payload or response.payload, score.score)
        if moved or _differs(rw, responses):
            response_writes.append(rw)
            if _differs(rw, responses):
                changed[latest.get(qid, qid)] += 1
    result = total(scores)
    renamed = dict(zip(attempt.question_ids, new_ids, strict=True))
    write = _AttemptWrite(
        attempt.id,
        new_ids,
        result.score,
        result.max_score,
        result.percent,
        response_writes,
        moved=new_ids != attempt.question_ids,
        drawn=_rename_keys(attempt.drawn, renamed),
    )
    if _same_total(attempt, write) and not response_writes and new_ids == attempt.question_ids:
        return None
    return write


def _rename_keys(drawn: dict[str, Any] | None, renamed: dict[str, str]) -> dict[str, object] | None:
    if drawn is None:
        return None
    return {renamed.get(k, k): v for k, v in drawn.items()}


def _same_total(attempt: models.Attempt, write: _AttemptWrite) -> bool:
    return (
        attempt.score is not None
        and abs(attempt.score - write.score) <= _EPSILON
        and abs((attempt.max_score or 0.0) - write.max_score) <= _EPSILON
        and abs((attempt.percent or 0.0) - write.percent) <= _EPSILON
    )


async def _write(session: AsyncSession, writes: list[_AttemptWrite]) -> None:
    """Write the new scores: each attempt's question list and totals, then its responses
    (moved ones change their question). Attempts first, as grading locks them before a
    response. All in the caller's transaction."""
    responses = cast(Table, models.Response.__table__)
    attempts = cast(Table, models.Attempt.__table__)
    rows = [
        {
            "a_id": w.attempt_id,
            "old_q": r.old_question_id,
            "new_q": r.question_id,
            "new_payload": r.payload,
            "new_score": r.score,
        }
        for w in writes
        for r in w.responses
    ]
    if writes:
        values = {
            "question_ids": bindparam("new_ids", type_=attempts.c.question_ids.type),
            "score": bindparam("new_score"),
            "max_score": bindparam("new_max"),
            "percent": bindparam("new_percent"),
        }
        # None stays SQL NULL (not a JSON null), as an attempt without draws has it.
        values["drawn"] = bindparam("new_drawn", type_=JSON(none_as_null=True))
        await session.execute(
            update(attempts)
            .where(attempts.c.id == bindparam("a_id"), attempts.c.status == "submitted")
            .values(values),
            [
                {
                    "a_id": w.attempt_id,
                    "new_ids": w.question_ids,
                    "new_score": w.score,
                    "new_max": w.max_score,
                    "new_percent": w.percent,
                    "new_drawn": w.drawn,
                }
                for w in writes
            ],
        )
    if rows:
        await session.execute(
            update(responses)
            .where(
                responses.c.attempt_id == bindparam("a_id"),
                responses.c.question_id == bindparam("old_q"),
            )
            .values(
                question_id=bindparam("new_q"),
                payload=bindparam("new_payload", type_=responses.c.payload.type),
                score=bindparam("new_score"),
            ),
            rows,
        )
