"""An attempt's life: start (or resume), save responses, submit (by hand, on expiry or
by the sweep, with scoring), and read it back."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, cast

from sqlalchemy import JSON, Row, String, Table, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.models import UTCDateTime
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.domain.questions import Question
from quizplatform.domain.scoring import InvalidResponse, parse_response, total
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.metrics import Metrics
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.leaderboard import Leaderboards
from quizplatform.services.attempts.results import AttemptView, SavedResponse
from quizplatform.services.attempts.rules import (
    deadline_for,
    expired,
    past,
    response_document,
    score_all,
)
from quizplatform.services.attempts.view import attempt_view
from quizplatform.services.draws import draw
from quizplatform.services.errors import Conflict, Forbidden, Invalid, NotFound
from quizplatform.services.question_views import attempt_rng
from quizplatform.services.quizzes import QuizService, QuizSnapshot


@dataclass
class Finished:
    """An attempt as its submission left it."""

    attempt: models.Attempt
    responses: dict[str, models.Response]
    questions: dict[str, Question]


@dataclass(frozen=True)
class AttemptShape:
    """What never changes about an attempt once started (safe to cache anywhere)."""

    user_id: str
    quiz_id: str
    question_ids: tuple[str, ...]
    deadline_at: datetime | None


class AttemptLifecycle:
    """Starts, answers, submits and reads attempts."""

    def __init__(
        self,
        db: Database,
        store: KeyValueStore,
        quizzes: QuizService,
        metrics: Metrics,
        leaderboards: Leaderboards,
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.store = store
        self.quizzes = quizzes
        self.leaderboards = leaderboards
        self._upsert = self._build_upsert()
        self._finish_sql = _FinishStatements.build()

    async def _shape(self, attempt_id: str) -> AttemptShape | None:
        """The fixed facts of an attempt, from the near cache when possible."""
        key = f"attempt:{attempt_id}"
        cached = self.quizzes.cache.get(key)
        if isinstance(cached, AttemptShape):
            return cached
        async with self.db.read_session() as session:
            row = (await session.execute(self._finish_sql.shape, {"a_id": attempt_id})).first()
        if row is None:
            return None
        return self._remember(attempt_id, *row)

    def _remember(
        self,
        attempt_id: str,
        user_id: str,
        quiz_id: str,
        question_ids: Sequence[str],
        deadline_at: datetime | None,
    ) -> AttemptShape:
        # Interned: the ids repeat in every attempt of a quiz, and the near cache holds
        # up to thousands of shapes (an exam's) at once.
        ids = tuple(sys.intern(qid) for qid in question_ids)
        shape = AttemptShape(user_id, quiz_id, ids, deadline_at)
        self.quizzes.cache.put(f"attempt:{attempt_id}", shape)
        return shape

    # -- starting ---------------------------------------------------------------------
    async def start(self, caller: Principal, quiz_id: str) -> tuple[AttemptView, bool]:
        """Start an attempt, or resume the caller's running one. Returns (view, created)."""
        snap, _ = await self.quizzes.visible(caller, quiz_id)
        if not snap.is_published:
            raise NotFound("quiz not found")
        now = utcnow()
        s = snap.settings
        if (s.opens_at and now < s.opens_at) or (s.closes_at and now >= s.closes_at):
            raise Conflict("this quiz is not open")
        lock = f"lock:start:{quiz_id}:{caller.user_id}"
        if not await self.store.set_nx(lock, b"1", ttl=10):
            raise Conflict("an attempt is being started already; try again")
        try:
            return await self._start_locked(caller, snap, now)
        finally:
            await self.store.delete(lock)

    async def _start_locked(
        self, caller: Principal, snap: QuizSnapshot, now: datetime
    ) -> tuple[AttemptView, bool]:
        async with self.db.session() as session:
            existing = list(
                await session.scalars(
                    select(models.Attempt).where(
                        models.Attempt.quiz_id == snap.id,
                        models.Attempt.user_id == caller.user_id,
                        # Live games' attempts are neither resumed here nor counted
                        # against max_attempts.
                        models.Attempt.live_game_id.is_(None),
                    )
                )
            )
        running = [a for a in existing if a.status == "in_progress"]
        for attempt in running:
            if not expired(attempt, now):
                questions = await self.questions_of(snap.id, attempt.question_ids)
                return attempt_view(attempt, snap, {}, for_owner=False, questions=questions), False
            await self.finish(attempt.id, how="deadline")
        limit = snap.settings.max_attempts
        if limit is not None and len(existing) >= limit:
            raise Conflict(f"no attempts left (the limit is {limit})")
        order_key = secrets.token_hex(32)
        order = [q.id for q in snap.questions if q.id]
        drawn = await self._draw(snap, order_key)
        order.extend(drawn)  # after the fixed questions, rule by rule
        if snap.settings.shuffle_questions:
            attempt_rng(order_key, "questions").shuffle(order)
        deadline = deadline_for(snap, now)
        attempt = models.Attempt(
            quiz_id=snap.id,
            user_id=caller.user_id,
            seed=0,
            order_key=order_key,
            question_ids=order,
            drawn=drawn or None,
            started_at=now,
            deadline_at=deadline,
            status="in_progress",
        )
        async with self.db.session() as session:
            session.add(attempt)
        self._remember(attempt.id, caller.user_id, snap.id, order, deadline)
        self.metrics.attempts_started.inc()
        questions = await self.questions_of(snap.id, order)
        return attempt_view(attempt, snap, {}, for_owner=False, questions=questions), True

    async def _draw(self, snap: QuizSnapshot, order_key: str) -> dict[str, str]:
        """The bank questions this attempt draws (question id -> rule id, in rule order),
        chosen with the attempt's secret generators (``services/draws.py``)."""
        if not snap.draws:
            return {}
        async with self.db.read_session() as session:
            picks = await draw(session, snap.owner_id, snap.draws, order_key)
        if picks is None:
            raise Conflict(
                "this quiz cannot be started: its question bank no longer holds enough "
                "questions for its random draws; ask the teacher"
            )
        return {qid: rule_id for rule_id, ids in picks.items() for qid in ids}

    # -- responses ----------------------------------------------------------------------
    async def save_response(
        self, caller: Principal, attempt_id: str, question_id: str, payload: object
    ) -> SavedResponse:
        """Save (or replace) the caller's response to one question of their attempt.

        The common case costs one SQL statement: the attempt's fixed facts (owner, quiz,
        questions, deadline) come from the near cache, and the upsert itself checks that the
        attempt is still in progress. Anything else (no such attempt, not the caller's,
        past the deadline, already submitted) takes the slow path that says exactly why.
        """
        now = utcnow()
        shape = await self._shape(attempt_id)
        if shape is None or shape.user_id != caller.user_id or past(shape.deadline_at, now):
            await self._explain_closed(caller, attempt_id)
        if question_id not in shape.question_ids:
            raise NotFound("question not found in this attempt")
        question = (await self.questions_of(shape.quiz_id, shape.question_ids))[question_id]
        try:
            stored = parse_response(question, payload)
        except InvalidResponse as exc:
            raise Invalid(str(exc), [{"loc": ["body"], "message": str(exc)}]) from exc
        # Idempotent: saving the same answer again is the same state (a request cut by a
        # database failover while it saved may simply run again).
        async with self.db.autocommit(idempotent=True) as conn:
            saved = await conn.execute(
                self._upsert,
                {
                    "attempt_id": attempt_id,
                    "question_id": question_id,
                    "payload": stored,
                    "saved_at": now,
                },
            )
            if saved.first() is None:
                await self._explain_closed(caller, attempt_id)
        self.metrics.responses_saved.inc()
        return SavedResponse(question_id, response_document(stored), now)

    async def _explain_closed(self, caller: Principal, attempt_id: str) -> NoReturn:
        """Raise the error that says why a response cannot be saved now."""
        attempt = await self.own_attempt(caller, attempt_id, student_only=True)
        if attempt.status == "in_progress" and expired(attempt, utcnow()):
            await self.finish(attempt.id, how="deadline")
            raise Conflict("the time for this attempt is over; it has been submitted")
        if attempt.status != "in_progress":
            raise Conflict("this attempt has been submitted")
        raise Conflict("this attempt cannot take responses right now; try again")

    def _build_upsert(self) -> Any:
        # INSERT ... SELECT FROM attempts WHERE in progress: the state check and the write
        # are one statement. FOR SHARE (PostgreSQL) makes a concurrent submit, which locks
        # the attempt FOR UPDATE, either wait for this response or make it see "submitted".
        r = models.Response
        source = (
            select(
                models.Attempt.id,
                bindparam("question_id", type_=String),
                bindparam("payload", type_=JSON),
                bindparam("saved_at", type_=UTCDateTime),
            )
            .where(
                models.Attempt.id == bindparam("attempt_id", type_=String),
                models.Attempt.status == "in_progress",
                or_(
                    models.Attempt.deadline_at.is_(None),
                    models.Attempt.deadline_at > bindparam("saved_at", type_=UTCDateTime),
                ),
            )
            .with_for_update(read=True)
        )
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = insert(r).from_select(["attempt_id", "question_id", "payload", "saved_at"], source)
        return stmt.on_conflict_do_update(
            index_elements=["attempt_id", "question_id"],
            set_={"payload": stmt.excluded.payload, "saved_at": stmt.excluded.saved_at},
        ).returning(r.question_id)

    # -- submitting ---------------------------------------------------------------------
    async def submit(self, caller: Principal, attempt_id: str) -> AttemptView:
        """Submit the caller's attempt (repeat-safe: a submitted one is just read back)."""
        shape = await self._shape(attempt_id)
        if shape is None or shape.user_id != caller.user_id:
            await self.own_attempt(caller, attempt_id, student_only=True)  # raises
        assert shape is not None
        # _finish does nothing (None) when the attempt is no longer in progress.
        how = "deadline" if past(shape.deadline_at, utcnow()) else "student"
        finished = await self.finish(attempt_id, how=how, display_name=caller.display_name)
        if finished is not None:
            snap = await self.quizzes.snapshot(finished.attempt.quiz_id)
            if snap is not None:
                return attempt_view(
                    finished.attempt,
                    snap,
                    finished.responses,
                    for_owner=False,
                    questions=finished.questions,
                )
        return await self.get(caller, attempt_id)

    async def finish(
        self, attempt_id: str, *, how: str, display_name: str | None = None
    ) -> Finished | None:
        """Score and close an attempt (``how``: student, deadline or sweep).

        One transaction that locks the attempt (PostgreSQL) before reading its responses,
        so a response saved concurrently is either in the score or refused. Safe to race:
        whoever finds the attempt no longer in progress does nothing and gets None.
        """
        shape = await self._shape(attempt_id)
        if shape is None:
            return None
        # Loaded before the transaction: with the attempt locked and a pooled connection
        # held, waiting for a second connection (a cache miss) could exhaust the pool.
        questions = await self.questions_of(shape.quiz_id, shape.question_ids)
        try:
            async with self.db.transaction() as conn:
                finished = await self._close(conn, attempt_id, how, questions)
        except _LostRace:
            return None
        if finished is None:
            return None
        self.metrics.attempts_submitted.labels(how).inc()
        await self.leaderboards.record(finished.attempt, display_name)
        return finished

    async def _close(
        self, conn: AsyncConnection, attempt_id: str, how: str, questions: dict[str, Question]
    ) -> Finished | None:
        """Lock the attempt, score it and write the result in ``conn``'s transaction.

        SQLAlchemy Core with statements built once (``_FinishStatements``): submitting is
        the exam's burst, and the ORM's unit of work cost more CPU than the four
        statements (py-spy, bench/README.md). None when the attempt is not in progress."""
        sql = self._finish_sql
        rows = (await conn.execute(sql.lock_with_responses, {"a_id": attempt_id})).all()
        if not rows or rows[0].status != "in_progress":
            return None
        attempt = _attempt_from(rows[0])
        responses = {
            row.question_id: models.Response(
                attempt_id=attempt_id,
                question_id=row.question_id,
                payload=row.payload,
                score=row.response_score,
                manual_score=row.manual_score,
                saved_at=row.saved_at,
            )
            for row in rows
            if row.question_id is not None
        }
        scores = score_all(attempt, questions, list(responses.values()))
        result = total(list(scores.values()))
        now = utcnow()
        auto = how != "student"
        attempt.status = "submitted"
        attempt.submitted_at = (
            min(now, attempt.deadline_at) if auto and attempt.deadline_at else now
        )
        attempt.auto_submitted = auto
        attempt.score, attempt.max_score, attempt.percent = (
            result.score,
            result.max_score,
            result.percent,
        )
        # Conditional, for SQLite (no row locks): of two racing submits one wins.
        won = await conn.execute(
            sql.close_attempt,
            {
                "a_id": attempt_id,
                "status": attempt.status,
                "submitted_at": attempt.submitted_at,
                "auto_submitted": auto,
                "score": result.score,
                "max_score": result.max_score,
                "percent": result.percent,
            },
        )
        if won.rowcount != 1:
            raise _LostRace
        for r in responses.values():
            r.score = scores[r.question_id].score if r.question_id in scores else 0.0
        if responses:
            await conn.execute(
                sql.score_responses,
                [
                    {"a_id": attempt_id, "q_id": r.question_id, "new_score": r.score}
                    for r in responses.values()
                ],
            )
        return Finished(attempt, responses, questions)

    async def sweep_expired(self, limit: int = 200) -> int:
        """Submit attempts whose deadline has passed. Safe on every instance at once."""
        async with self.db.session() as session:
            ids = list(
                await session.scalars(
                    select(models.Attempt.id)
                    .where(
                        models.Attempt.status == "in_progress",
                        models.Attempt.deadline_at < utcnow(),
                    )
                    .order_by(models.Attempt.deadline_at)
                    .limit(limit)
                )
            )
        done = 0
        for attempt_id in ids:
            done += (await self.finish(attempt_id, how="sweep")) is not None
        return done

    # -- reading ------------------------------------------------------------------------
    async def get(self, caller: Principal, attempt_id: str) -> AttemptView:
        """The attempt, for its student or the quiz's owner; reading an attempt past its
        deadline submits it first."""
        attempt = await self.own_attempt(caller, attempt_id)
        if attempt.status == "in_progress" and expired(attempt, utcnow()):
            await self.finish(attempt.id, how="deadline")
            attempt = await self.own_attempt(caller, attempt_id)
        snap = await self.quizzes.snapshot(attempt.quiz_id)
        if snap is None:
            raise NotFound("attempt not found")
        async with self.db.read_session() as session:
            responses = {
                r.question_id: r
                for r in await session.scalars(
                    select(models.Response).where(models.Response.attempt_id == attempt_id)
                )
            }
        for_owner = caller.user_id != attempt.user_id
        return attempt_view(
            attempt,
            snap,
            responses,
            for_owner=for_owner,
            questions=await self.questions_of(attempt.quiz_id, attempt.question_ids),
        )

    # -- helpers ------------------------------------------------------------------------
    async def own_attempt(
        self, caller: Principal, attempt_id: str, *, student_only: bool = False
    ) -> models.Attempt:
        """The attempt if the caller is its student or, for reading, owns its quiz (or is
        an admin). 404 for anyone else; 403 when the quiz's owner or an admin tries to
        answer or submit (``student_only``) an attempt they may read."""
        async with self.db.read_session() as session:
            attempt = await session.get(models.Attempt, attempt_id)
        if attempt is None:
            raise NotFound("attempt not found")
        if attempt.user_id == caller.user_id:
            return attempt
        snap = await self.quizzes.snapshot(attempt.quiz_id)
        if snap is not None and (caller.is_admin or snap.owner_id == caller.user_id):
            if student_only:
                raise Forbidden("only the attempt's student may answer or submit it")
            return attempt
        raise NotFound("attempt not found")

    async def questions_of(self, quiz_id: str, question_ids: Sequence[str]) -> dict[str, Question]:
        """The question versions an attempt was started with."""
        snap = await self.quizzes.snapshot(quiz_id)
        current = snap.by_id if snap else {}
        missing = [qid for qid in question_ids if qid not in current]
        if not missing:
            return current
        # Drawn bank questions and archived versions: a version's content never changes
        # (an edit makes a new one), so the near cache may keep them.
        cache = self.quizzes.cache
        found: dict[str, Question] = {}
        for qid in missing:
            cached = cache.get(f"qversion:{qid}")
            if isinstance(cached, Question):
                found[qid] = cached
        unknown = [qid for qid in missing if qid not in found]
        if unknown:
            loaded = await self.quizzes.question_versions(unknown)
            for qid, question in loaded.items():
                cache.put(f"qversion:{qid}", question)
            found.update(loaded)
        return {**current, **found}


def _attempt_from(row: Row[Any]) -> models.Attempt:
    """A detached ``Attempt`` built from the attempt's columns of ``row``."""
    return models.Attempt(**{name: getattr(row, name) for name in _ATTEMPT_COLUMNS})


_ATTEMPT_COLUMNS = tuple(c.name for c in cast(Table, models.Attempt.__table__).columns)


@dataclass(frozen=True)
class _FinishStatements:
    """The statements of a submission, built once per process (their compiled form is
    then found in SQLAlchemy's cache by identity, without building a cache key)."""

    shape: Any
    lock_with_responses: Any
    close_attempt: Any
    score_responses: Any

    @classmethod
    def build(cls) -> _FinishStatements:
        a = cast(Table, models.Attempt.__table__)
        r = cast(Table, models.Response.__table__)
        a_id = bindparam("a_id", type_=String)
        # The attempt locked (PostgreSQL; SQLite has no row locks and ignores FOR UPDATE)
        # and its responses, in one round trip: one row per response, or one without.
        lock = (
            select(a, r.c.question_id, r.c.payload, r.c.score.label("response_score"))
            .add_columns(r.c.manual_score, r.c.saved_at)
            .select_from(a.outerjoin(r, r.c.attempt_id == a.c.id))
            .where(a.c.id == a_id)
            .with_for_update(of=a)
        )
        close = (
            update(a)
            .where(a.c.id == bindparam("a_id", type_=String), a.c.status == "in_progress")
            .values(
                status=bindparam("status"),
                submitted_at=bindparam("submitted_at"),
                auto_submitted=bindparam("auto_submitted"),
                score=bindparam("score"),
                max_score=bindparam("max_score"),
                percent=bindparam("percent"),
            )
        )
        score = (
            update(r)
            .where(r.c.attempt_id == bindparam("a_id"), r.c.question_id == bindparam("q_id"))
            .values(score=bindparam("new_score"))
        )
        shape = select(a.c.user_id, a.c.quiz_id, a.c.question_ids, a.c.deadline_at).where(
            a.c.id == a_id
        )
        return cls(shape, lock, close, score)


class _LostRace(Exception):
    """Another submit closed the attempt first; roll back and let it win."""
