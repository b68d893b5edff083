"""Attempts: start, save responses, submit (by hand, on expiry, by the sweep), grading,
leaderboard and the teacher's report."""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, cast

import orjson
from sqlalchemy import JSON, String, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.kv import KeyValueStore
from quizplatform.db.models import UTCDateTime
from quizplatform.domain.analysis import AttemptItems, QuestionInfo, analyse
from quizplatform.domain.questions import Question, QuestionType, ShowCorrectAnswers
from quizplatform.domain.scoring import (
    InvalidResponse,
    QuestionScore,
    parse_response,
    score_question,
    total,
    validate_manual_grade,
)
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.metrics import Metrics
from quizplatform.services.accounts import Principal
from quizplatform.services.errors import Conflict, Forbidden, Invalid, NotFound
from quizplatform.services.quizzes import QuizService, QuizSnapshot
from quizplatform.services.views import owner_question, student_question

# Leaderboard ranks pack (score, -duration) into one sortable float: exact up to 2**53.
_DURATION_SLOTS = 10_000_000
_SCORE_STEPS = 1000


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


class AttemptService:
    def __init__(
        self, db: Database, store: KeyValueStore, quizzes: QuizService, metrics: Metrics
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.store = store
        self.quizzes = quizzes
        self._upsert = self._build_upsert()

    async def _shape(self, attempt_id: str) -> AttemptShape | None:
        """The fixed facts of an attempt, from the near cache when possible."""
        key = f"attempt:{attempt_id}"
        cached = self.quizzes.cache.get(key)
        if isinstance(cached, AttemptShape):
            return cached
        async with self.db.read_session() as session:
            attempt = await session.get(models.Attempt, attempt_id)
        if attempt is None:
            return None
        return self._remember(attempt)

    def _remember(self, attempt: models.Attempt) -> AttemptShape:
        shape = AttemptShape(
            attempt.user_id, attempt.quiz_id, tuple(attempt.question_ids), attempt.deadline_at
        )
        self.quizzes.cache.put(f"attempt:{attempt.id}", shape)
        return shape

    # -- starting ---------------------------------------------------------------------
    async def start(self, caller: Principal, quiz_id: str) -> tuple[dict[str, Any], bool]:
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
    ) -> tuple[dict[str, Any], bool]:
        async with self.db.session() as session:
            existing = list(
                await session.scalars(
                    select(models.Attempt).where(
                        models.Attempt.quiz_id == snap.id, models.Attempt.user_id == caller.user_id
                    )
                )
            )
        running = [a for a in existing if a.status == "in_progress"]
        for attempt in running:
            if not _expired(attempt, now):
                return self.attempt_view(attempt, snap, {}, for_owner=False), False
            await self._finish(attempt.id, how="deadline")
        limit = snap.settings.max_attempts
        if limit is not None and len(existing) >= limit:
            raise Conflict(f"no attempts left (the limit is {limit})")
        seed = secrets.randbelow(2**31)
        order = [q.id for q in snap.questions if q.id]
        if snap.settings.shuffle_questions:
            random.Random(seed).shuffle(order)
        deadline = _deadline(snap, now)
        attempt = models.Attempt(
            quiz_id=snap.id,
            user_id=caller.user_id,
            seed=seed,
            question_ids=order,
            started_at=now,
            deadline_at=deadline,
            status="in_progress",
        )
        async with self.db.session() as session:
            session.add(attempt)
        self._remember(attempt)
        self.metrics.attempts_started.inc()
        return self.attempt_view(attempt, snap, {}, for_owner=False), True

    # -- responses ----------------------------------------------------------------------
    async def save_response(
        self, caller: Principal, attempt_id: str, question_id: str, payload: object
    ) -> dict[str, Any]:
        """Save (or replace) the caller's response to one question of their attempt.

        The common case costs one SQL statement: the attempt's fixed facts (owner, quiz,
        questions, deadline) come from the near cache, and the upsert itself checks that the
        attempt is still in progress. Anything else (no such attempt, not the caller's,
        past the deadline, already submitted) takes the slow path that says exactly why.
        """
        now = utcnow()
        shape = await self._shape(attempt_id)
        if shape is None or shape.user_id != caller.user_id or _past(shape.deadline_at, now):
            await self._explain_closed(caller, attempt_id)
        if question_id not in shape.question_ids:
            raise NotFound("question not found in this attempt")
        question = (await self._questions(shape.quiz_id, shape.question_ids))[question_id]
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
        return {"question_id": question_id, "response": stored, "saved_at": now}

    async def _explain_closed(self, caller: Principal, attempt_id: str) -> NoReturn:
        """Raise the error that says why a response cannot be saved now."""
        attempt = await self._own_attempt(caller, attempt_id, student_only=True)
        if attempt.status == "in_progress" and _expired(attempt, utcnow()):
            await self._finish(attempt.id, how="deadline")
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
    async def submit(self, caller: Principal, attempt_id: str) -> dict[str, Any]:
        shape = await self._shape(attempt_id)
        if shape is None or shape.user_id != caller.user_id:
            await self._own_attempt(caller, attempt_id, student_only=True)  # raises
        assert shape is not None
        # _finish does nothing (None) when the attempt is no longer in progress.
        how = "deadline" if _past(shape.deadline_at, utcnow()) else "student"
        finished = await self._finish(attempt_id, how=how, display_name=caller.display_name)
        if finished is not None:
            snap = await self.quizzes.snapshot(finished.attempt.quiz_id)
            if snap is not None:
                return self.attempt_view(
                    finished.attempt,
                    snap,
                    finished.responses,
                    for_owner=False,
                    questions=finished.questions,
                )
        return await self.get(caller, attempt_id)

    async def _finish(
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
        questions = await self._questions(shape.quiz_id, shape.question_ids)
        try:
            async with self.db.session() as session:
                attempt = await session.get(
                    models.Attempt, attempt_id, with_for_update=not self.db.is_sqlite
                )
                if attempt is None or attempt.status != "in_progress":
                    return None
                session.expunge(attempt)
                finished = await self._close(session, attempt, how, questions)
        except _LostRace:
            return None
        self.metrics.attempts_submitted.labels(how).inc()
        await self._rank(finished.attempt, display_name)
        return finished

    async def _close(
        self,
        session: AsyncSession,
        attempt: models.Attempt,
        how: str,
        questions: dict[str, Question],
    ) -> Finished:
        """Score ``attempt`` (detached, locked) and write the result in ``session``."""
        attempt_id = attempt.id
        responses = {
            r.question_id: r
            for r in await session.scalars(
                select(models.Response).where(models.Response.attempt_id == attempt_id)
            )
        }
        scores = _score(attempt, questions, list(responses.values()))
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
        won = await session.execute(
            update(models.Attempt)
            .where(models.Attempt.id == attempt_id, models.Attempt.status == "in_progress")
            .values(
                status=attempt.status,
                submitted_at=attempt.submitted_at,
                auto_submitted=auto,
                score=result.score,
                max_score=result.max_score,
                percent=result.percent,
            )
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise _LostRace
        # One executemany instead of the ORM's per-object flush bookkeeping.
        for r in responses.values():
            session.expunge(r)
            r.score = scores[r.question_id].score if r.question_id in scores else 0.0
        if responses:
            table = cast(Table, models.Response.__table__)
            await session.execute(
                update(table)
                .where(
                    table.c.attempt_id == bindparam("a_id"),
                    table.c.question_id == bindparam("q_id"),
                )
                .values(score=bindparam("new_score")),
                [
                    {"a_id": r.attempt_id, "q_id": r.question_id, "new_score": r.score}
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
            done += (await self._finish(attempt_id, how="sweep")) is not None
        return done

    # -- reading ------------------------------------------------------------------------
    async def get(self, caller: Principal, attempt_id: str) -> dict[str, Any]:
        attempt = await self._own_attempt(caller, attempt_id)
        if attempt.status == "in_progress" and _expired(attempt, utcnow()):
            await self._finish(attempt.id, how="deadline")
            attempt = await self._own_attempt(caller, attempt_id)
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
        return self.attempt_view(
            attempt,
            snap,
            responses,
            for_owner=for_owner,
            questions=await self._questions(attempt.quiz_id, attempt.question_ids),
        )

    def attempt_view(
        self,
        attempt: models.Attempt,
        snap: QuizSnapshot,
        responses: dict[str, models.Response],
        *,
        for_owner: bool,
        questions: dict[str, Question] | None = None,
    ) -> dict[str, Any]:
        questions = questions or snap.by_id
        rng = random.Random(attempt.seed)
        shown = [
            student_question(questions[qid], rng, snap.settings.shuffle_options)
            for qid in attempt.question_ids
            if qid in questions
        ]
        view: dict[str, Any] = {
            "id": attempt.id,
            "quiz_id": attempt.quiz_id,
            "user_id": attempt.user_id,
            "status": attempt.status,
            "started_at": attempt.started_at,
            "deadline_at": attempt.deadline_at,
            "submitted_at": attempt.submitted_at,
            "auto_submitted": attempt.auto_submitted,
            "questions": shown,
            "responses": {qid: r.payload for qid, r in responses.items()},
        }
        if attempt.status != "submitted":
            return view
        scores = {
            qid: _stored_score(questions[qid], responses.get(qid))
            for qid in attempt.question_ids
            if qid in questions
        }
        view.update(
            score=attempt.score,
            max_score=attempt.max_score,
            percent=attempt.percent,
            results=[
                {
                    "question_id": qid,
                    "score": s.score,
                    "max_score": s.max_score,
                    "correct": s.correct,
                }
                for qid, s in scores.items()
            ],
        )
        view["show_correct_answers"] = for_owner or _answers_allowed(snap, utcnow())
        if view["show_correct_answers"]:
            view["review"] = [
                {
                    "question": owner_question(questions[qid]),
                    "response": responses[qid].payload if qid in responses else None,
                    "score": s.score,
                    "max_score": s.max_score,
                    "correct": s.correct,
                }
                for qid, s in scores.items()
            ]
        return view

    async def list_mine(self, caller: Principal, limit: int = 50) -> list[dict[str, Any]]:
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
        return [
            _attempt_summary(attempt, now, quiz_title=title, deadline_at=attempt.deadline_at)
            for attempt, title in rows
        ]

    async def recent_on_my_quizzes(
        self, caller: Principal, limit: int = 20
    ) -> list[dict[str, Any]]:
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
        return [
            _attempt_summary(attempt, now, quiz_title=title, student=name)
            for attempt, title, name in rows
        ]

    # -- grading ------------------------------------------------------------------------
    async def grade(
        self, caller: Principal, attempt_id: str, question_id: str, score: object
    ) -> dict[str, Any]:
        # 404 unless the caller may read the attempt: another student or teacher must not
        # learn that it exists; its own student may read it but not grade it (403).
        attempt = await self._own_attempt(caller, attempt_id)
        snap = await self.quizzes.snapshot(attempt.quiz_id)
        if snap is None:
            raise NotFound("attempt not found")
        if not (caller.is_admin or caller.user_id == snap.owner_id):
            raise Forbidden("only the quiz's owner may grade its attempts")
        if attempt.status != "submitted":
            raise Conflict("only submitted attempts can be graded")
        if question_id not in attempt.question_ids:
            raise NotFound("question not found in this attempt")
        questions = await self._questions(attempt.quiz_id, attempt.question_ids)
        try:
            value = validate_manual_grade(questions[question_id], score)
        except InvalidResponse as exc:
            raise Invalid(str(exc), [{"loc": ["body", "score"], "message": str(exc)}]) from exc
        async with self.db.session() as session:
            response = await session.get(models.Response, (attempt_id, question_id))
            if response is None:
                response = models.Response(
                    attempt_id=attempt_id, question_id=question_id, payload={"text": ""}
                )
                session.add(response)
            response.manual_score = value
            response.score = value
            await session.flush()
            responses = list(
                await session.scalars(
                    select(models.Response).where(models.Response.attempt_id == attempt_id)
                )
            )
            scores = _score(attempt, questions, responses)
            result = total(list(scores.values()))
            row = await session.get(models.Attempt, attempt_id)
            assert row is not None
            row.score, row.max_score, row.percent = result.score, result.max_score, result.percent
        # A grade may lower a score, which a merge cannot express: rebuild on next read.
        await self.store.delete(f"lb:{attempt.quiz_id}", f"lb:{attempt.quiz_id}:built")
        return await self.get(caller, attempt_id)

    async def awaiting_grades(
        self, caller: Principal, quiz_id: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Submitted attempts on the caller's quiz with essay answers not graded yet,
        oldest submission first (the order to grade them in): ``attempt_id``, ``student``,
        ``submitted_at`` and ``ungraded`` (how many essays of it wait)."""
        await self.quizzes.owned(caller, quiz_id)  # 404/403 unless the caller owns it
        # Every version of the quiz's essays: an attempt may hold an older one.
        essays = select(models.Question.id).where(
            models.Question.quiz_id == quiz_id, models.Question.type == QuestionType.ESSAY.value
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
        return [
            {"attempt_id": a, "student": name, "submitted_at": at, "ungraded": n}
            for a, name, at, n in rows
        ]

    # -- leaderboard ----------------------------------------------------------------------
    async def leaderboard(
        self, caller: Principal | None, quiz_id: str, limit: int, *, mark_caller: bool = False
    ) -> dict[str, Any]:
        """The best attempt per student. ``mark_caller`` adds ``is_caller`` to each item
        (the web page highlights the viewer's own row; the API does not ask for it)."""
        await self.quizzes.visible(caller, quiz_id)
        key = f"lb:{quiz_id}"
        if not await self.store.exists(f"{key}:built"):
            await self._rebuild_leaderboard(quiz_id)
        entries = [orjson.loads(raw) for raw in await self.store.ranked_top(key, limit)]
        items = [
            {
                "rank": index + 1,
                "display_name": e["display_name"],
                "score": e["score"],
                "percent": e["percent"],
                "duration_seconds": e["duration_seconds"],
            }
            for index, e in enumerate(entries)
        ]
        if mark_caller:
            for item, e in zip(items, entries, strict=True):
                item["is_caller"] = caller is not None and e.get("user_id") == caller.user_id
        return {"items": items}

    async def _rank(self, attempt: models.Attempt, display_name: str | None = None) -> None:
        key = f"lb:{attempt.quiz_id}"
        if not await self.store.exists(f"{key}:built"):
            return  # the next read rebuilds from the database, this attempt included
        name = display_name or await self.display_name(attempt.user_id)
        await self.store.ranked_put(key, attempt.user_id, *_rank_entry(attempt, name))

    async def _rebuild_leaderboard(self, quiz_id: str) -> None:
        key = f"lb:{quiz_id}"
        # Mark first, then merge: a submit that lands meanwhile either sees the mark and
        # merges itself, or committed before our read below and is in it. So the read is
        # from the primary: a replica may not have replayed that submit yet.
        await self.store.set(f"{key}:built", b"1")
        async with self.db.read_session(fresh=True) as session:
            rows = await session.execute(
                select(models.Attempt, models.User.display_name)
                .join(models.User, models.User.id == models.Attempt.user_id)
                .where(models.Attempt.quiz_id == quiz_id, models.Attempt.status == "submitted")
            )
            for attempt, name in rows:
                await self.store.ranked_put(key, attempt.user_id, *_rank_entry(attempt, name))

    async def display_name(self, user_id: str) -> str:
        """A user's display name ("?" if gone). Not secret: leaderboards show it."""
        async with self.db.read_session() as session:
            name = await session.scalar(
                select(models.User.display_name).where(models.User.id == user_id)
            )
        return name or "?"

    # -- report -------------------------------------------------------------------------
    async def report(self, caller: Principal, quiz_id: str) -> dict[str, Any]:
        snap = await self.quizzes.owned(caller, quiz_id)
        submitted = (models.Attempt.quiz_id == quiz_id, models.Attempt.status == "submitted")
        # Plain column rows, not ORM objects: building an instance per attempt and per
        # response was most of the report's time (the teacher's report page, p95 budget).
        async with self.db.read_session() as session:
            attempts = (
                await session.execute(
                    select(models.Attempt.id, models.Attempt.percent).where(*submitted)
                )
            ).all()
            responses = (
                await session.execute(
                    select(
                        models.Response.attempt_id,
                        models.Response.question_id,
                        models.Response.score,
                        models.Response.payload,
                    )
                    .join(models.Attempt)
                    .where(*submitted)
                )
            ).all()
        scores: dict[str, dict[str, float]] = {}
        choices: dict[str, dict[str, list[str]]] = {}
        for attempt_id, question_id, score, payload in responses:
            scores.setdefault(attempt_id, {})[question_id] = score or 0.0
            choices.setdefault(attempt_id, {})[question_id] = _chosen(payload)
        infos = [
            QuestionInfo(q.id or "", q.max_score, tuple(o.id or "" for o in q.options))
            for q in snap.questions
        ]
        items = [
            AttemptItems(scores=scores.get(attempt_id, {}), choices=choices.get(attempt_id, {}))
            for attempt_id, _ in attempts
        ]
        analysis = analyse(infos, items)
        return {
            "attempts": analysis.attempts,
            "mean_percent": analysis.mean_percent,
            "questions": [
                {
                    "question_id": qa.question_id,
                    "facility": qa.facility,
                    "discrimination": qa.discrimination,
                    "mean_score": qa.mean_score,
                    "max_score": qa.max_score,
                    "options": [{"id": o.id, "chosen": o.chosen} for o in qa.options],
                }
                for qa in analysis.questions
            ],
            "scores": sorted(percent or 0.0 for _, percent in attempts),
        }

    # -- helpers ------------------------------------------------------------------------
    async def _own_attempt(
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

    async def _questions(self, quiz_id: str, question_ids: Sequence[str]) -> dict[str, Question]:
        """The question versions an attempt was started with."""
        snap = await self.quizzes.snapshot(quiz_id)
        current = snap.by_id if snap else {}
        missing = [qid for qid in question_ids if qid not in current]
        if not missing:
            return current
        return {**current, **await self.quizzes.question_versions(missing)}


class _LostRace(Exception):
    """Another submit closed the attempt first; roll back and let it win."""


def _attempt_summary(attempt: models.Attempt, now: datetime, **extra: Any) -> dict[str, Any]:
    """An attempt as the dashboards list it; ``status`` is ``time_up`` for one still in
    progress past its deadline (opening it submits it, as any access does)."""
    status = attempt.status
    if status == "in_progress" and _expired(attempt, now):
        status = "time_up"
    return {
        "id": attempt.id,
        "quiz_id": attempt.quiz_id,
        "status": status,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
        "score": attempt.score,
        "max_score": attempt.max_score,
        "percent": attempt.percent,
        **extra,
    }


def _past(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and now >= deadline


def _expired(attempt: models.Attempt, now: datetime) -> bool:
    return _past(attempt.deadline_at, now)


def _deadline(snap: QuizSnapshot, now: datetime) -> datetime | None:
    candidates = []
    if snap.settings.time_limit_seconds:
        candidates.append(now + timedelta(seconds=snap.settings.time_limit_seconds))
    if snap.settings.closes_at:
        candidates.append(snap.settings.closes_at)
    return min(candidates) if candidates else None


def _answers_allowed(snap: QuizSnapshot, now: datetime) -> bool:
    rule = snap.settings.show_correct_answers
    if rule is ShowCorrectAnswers.AFTER_SUBMIT:
        return True
    if rule is ShowCorrectAnswers.AFTER_CLOSE:
        return snap.settings.closes_at is not None and now >= snap.settings.closes_at
    return False


def _stored_score(question: Question, response: models.Response | None) -> QuestionScore:
    if response is None:
        return score_question(question, None)
    return score_question(question, response.payload, response.manual_score)


def _score(
    attempt: models.Attempt, questions: dict[str, Question], responses: list[models.Response]
) -> dict[str, QuestionScore]:
    by_question = {r.question_id: r for r in responses}
    return {
        qid: _stored_score(questions[qid], by_question.get(qid))
        for qid in attempt.question_ids
        if qid in questions
    }


def _chosen(payload: dict[str, Any]) -> list[str]:
    if "option_id" in payload:
        return [str(payload["option_id"])]
    return [str(x) for x in payload.get("option_ids", [])]


def _rank_entry(attempt: models.Attempt, display_name: str) -> tuple[float, bytes]:
    end = attempt.submitted_at or attempt.started_at
    duration = max(0, math.ceil((end - attempt.started_at).total_seconds()))
    score = attempt.score or 0.0
    rank = float(
        round(score * _SCORE_STEPS) * _DURATION_SLOTS
        + (_DURATION_SLOTS - 1 - min(duration, _DURATION_SLOTS - 1))
    )
    details = orjson.dumps(
        {
            "user_id": attempt.user_id,
            "display_name": display_name,
            "score": score,
            "percent": attempt.percent,
            "duration_seconds": duration,
        }
    )
    return rank, details
