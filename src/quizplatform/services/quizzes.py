"""Quiz authoring: create, read (owner and student views), edit with question versioning,
publish, search, import and export."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.mapping import fill_question_row, parts_for, question_from_row
from quizplatform.domain import formats
from quizplatform.domain.draws import DrawRule
from quizplatform.domain.formats.errors import UnsupportedQuestion
from quizplatform.domain.limits import Deadline
from quizplatform.domain.questions import (
    Question,
    QuizContent,
    QuizSettings,
    ShowCorrectAnswers,
    question_problems,
    quiz_size_problems,
)
from quizplatform.runtime.clock import utcnow
from quizplatform.runtime.cpu import CpuPool
from quizplatform.runtime.metrics import Metrics
from quizplatform.services import imports
from quizplatform.services.accounts import Principal
from quizplatform.services.audit import AuditEvent, AuditLog, note
from quizplatform.services.cache import NearCache
from quizplatform.services.draws import (
    BANK_STATUS,
    check_draws,
    drawn_count,
    rule_from_row,
    store_draws,
)
from quizplatform.services.errors import (
    Conflict,
    ErrorDetail,
    Forbidden,
    Invalid,
    NotFound,
)
from quizplatform.services.question_views import owner_question, student_question
from quizplatform.services.smoke import not_smoke


@dataclass
class QuizSnapshot:
    """A quiz as read from the database: immutable once built, safe to cache."""

    id: str
    owner_id: str
    title: str
    description: str
    status: str
    tags: list[str]
    settings: QuizSettings
    questions: list[Question]
    revision: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    draws: list[DrawRule] = field(default_factory=list)  # random draws from the bank
    by_id: dict[str, Question] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {q.id: q for q in self.questions if q.id}

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    @property
    def max_score(self) -> float:
        """Every attempt's maximum: a drawn question is worth its rule's points."""
        drawn = sum(rule.count * rule.points for rule in self.draws)
        return sum(q.max_score for q in self.questions) + drawn

    @property
    def question_count(self) -> int:
        """How many questions an attempt shows (fixed and drawn)."""
        return len(self.questions) + sum(rule.count for rule in self.draws)


QuestionView = Mapping[str, object]  # a question's contract view (``services/question_views.py``)


@dataclass(frozen=True, slots=True)
class QuizDocument:
    """The contract's quiz document: with the keys for its owner, without for anyone else;
    ``questions_hidden`` when an exam that has not opened yet is shown without them."""

    id: str
    title: str
    description: str
    status: str
    tags: tuple[str, ...]
    settings: QuizSettings
    question_count: int
    max_score: float
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    questions: tuple[QuestionView, ...]
    questions_hidden: bool
    # Anyone but the owner sees a draw as its count and points only (no id, category, tag).
    draws: tuple[DrawRule, ...] = ()


@dataclass(frozen=True, slots=True)
class QuizSummary:
    """One quiz of a search result (no questions)."""

    id: str
    title: str
    description: str
    status: str
    tags: tuple[str, ...]
    question_count: int
    published_at: datetime | None
    updated_at: datetime

    @property
    def is_published(self) -> bool:
        return self.status == "published"


@dataclass(frozen=True, slots=True)
class QuizChanges:
    """What a PATCH changes; a field left None stays as it is. ``settings`` is the whole
    new ``QuizSettings``; ``questions`` the full new list (ids name the existing questions
    to keep or edit)."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | None = None
    settings: QuizSettings | None = None
    questions: tuple[Question, ...] | None = None
    draws: tuple[DrawRule, ...] | None = None


def quiz_document(snap: QuizSnapshot, *, owner: bool, hide_questions: bool = False) -> QuizDocument:
    """The quiz as its owner (``owner``) or anyone else sees it; with ``hide_questions``
    (an exam that has not opened yet) without its questions."""
    shown = [] if hide_questions else snap.questions
    return QuizDocument(
        id=snap.id,
        title=snap.title,
        description=snap.description,
        status=snap.status,
        tags=tuple(snap.tags),
        settings=snap.settings,
        question_count=snap.question_count,
        max_score=snap.max_score,
        created_at=snap.created_at,
        updated_at=snap.updated_at,
        published_at=snap.published_at,
        questions=tuple(owner_question(q) if owner else student_question(q) for q in shown),
        questions_hidden=hide_questions,
        draws=tuple(
            rule if owner else DrawRule(count=rule.count, points=rule.points) for rule in snap.draws
        ),
    )


def _snapshot_query() -> Select[models.Quiz]:
    return select(models.Quiz).options(
        selectinload(models.Quiz.tag_links),
        selectinload(models.Quiz.draws),
        selectinload(models.Quiz.questions).selectinload(models.Question.parts),
        selectinload(models.Quiz.questions).selectinload(models.Question.tag_links),
    )


def snapshot_from_row(row: models.Quiz) -> QuizSnapshot:
    return QuizSnapshot(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        description=row.description,
        status=row.status,
        tags=row.tags,
        settings=QuizSettings(
            time_limit_seconds=row.time_limit_seconds,
            max_attempts=row.max_attempts,
            shuffle_questions=row.shuffle_questions,
            shuffle_options=row.shuffle_options,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            show_correct_answers=ShowCorrectAnswers(row.show_correct_answers),
        ),
        questions=[question_from_row(q) for q in row.questions],
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
        draws=[rule_from_row(d) for d in row.draws],
    )


def _validate_questions(questions: list[Question], loc_prefix: str = "questions") -> None:
    # The loc names the question and, when the problem concerns one, its field
    # (``["body", "questions", 2, "options"]``): the web editor shows it beside that field.
    details: list[ErrorDetail] = [
        {
            "loc": ["body", loc_prefix, index, *([p.field] if p.field else [])],
            "message": p.message,
        }
        for index, q in enumerate(questions)
        for p in question_problems(q)
    ]
    if details:
        raise Invalid("some questions are not valid", details)


def _validate_size(content: QuizContent) -> None:
    """The quiz-level limits (``domain/limits.py``), whichever way the quiz arrived."""
    details: list[ErrorDetail] = [
        {"loc": ["body", *([p.field] if p.field else [])], "message": p.message}
        for p in quiz_size_problems(content)
    ]
    if details:
        raise Invalid("the quiz is larger than the limits", details)


def _validate_content(content: QuizContent) -> None:
    """Every check ``create`` makes before it writes (``Invalid`` if one fails)."""
    _validate_settings(content.settings)
    _validate_size(content)
    _validate_questions(content.questions)


def _validate_settings(s: QuizSettings) -> None:
    details: list[ErrorDetail] = []
    if s.time_limit_seconds is not None and s.time_limit_seconds <= 0:
        details.append(
            {"loc": ["body", "settings", "time_limit_seconds"], "message": "must be > 0"}
        )
    if s.max_attempts is not None and s.max_attempts <= 0:
        details.append({"loc": ["body", "settings", "max_attempts"], "message": "must be > 0"})
    if s.opens_at and s.closes_at and s.closes_at <= s.opens_at:
        details.append(
            {"loc": ["body", "settings", "closes_at"], "message": "must be after opens_at"}
        )
    if details:
        raise Invalid("the settings are not valid", details)


class QuizService:
    def __init__(
        self,
        db: Database,
        cache: NearCache,
        metrics: Metrics,
        cpu: CpuPool | None = None,
        import_deadline_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.cache = cache
        self.metrics = metrics
        self.cpu = cpu or CpuPool(2)
        self.import_deadline_seconds = import_deadline_seconds
        self.audit: AuditLog | None = None  # set by Services.create
        # (session, owner id, questions): files an import into the bank (Services.create).
        self.file_into_bank: (
            Callable[[AsyncSession, str, Sequence[Question]], Awaitable[object]] | None
        ) = None

    # -- reading ----------------------------------------------------------------------
    async def snapshot(self, quiz_id: str) -> QuizSnapshot | None:
        """The quiz (from the near cache when possible), or None.

        A miss reads from a replica when the request may; right after the quiz changed
        (``recently_invalidated``) from the primary, so a replica that has not replayed
        the change yet cannot put the old version back into the cache."""
        key = f"quiz:{quiz_id}"
        cached = self.cache.get(key)
        if isinstance(cached, QuizSnapshot):
            return cached
        return await self.cache.load_once(key, partial(self._load_snapshot, quiz_id, key))

    async def _load_snapshot(self, quiz_id: str, key: str) -> QuizSnapshot | None:
        started = time.monotonic()
        fresh = self.cache.recently_invalidated(key)

        async def read(session: AsyncSession) -> QuizSnapshot | None:
            row = await session.scalar(
                # A bank is no quiz (and may be large): never loaded as one.
                _snapshot_query().where(
                    models.Quiz.id == quiz_id, models.Quiz.status != BANK_STATUS
                )
            )
            return None if row is None else snapshot_from_row(row)

        # Often read right after the request's own write: run_read survives a failover
        # then, when the request itself can no longer be run again.
        snap = await self.db.run_read(read, fresh=fresh)
        if snap is not None:
            self.cache.put(key, snap, since=started)
        return snap

    async def visible(self, caller: Principal | None, quiz_id: str) -> tuple[QuizSnapshot, bool]:
        """The quiz and whether the caller sees it as its owner; NotFound if hidden."""
        snap = await self.snapshot(quiz_id)
        if snap is None:
            raise NotFound("quiz not found")
        is_owner = caller is not None and (caller.is_admin or caller.user_id == snap.owner_id)
        if not is_owner and not snap.is_published:
            raise NotFound("quiz not found")
        return snap, is_owner

    async def owned(self, caller: Principal, quiz_id: str) -> QuizSnapshot:
        """The quiz if the caller may change it: 403 if only visible, 404 if hidden."""
        snap, is_owner = await self.visible(caller, quiz_id)
        if not is_owner:
            raise Forbidden("only the quiz's owner may do this")
        return snap

    async def student_view_bytes(
        self, snap: QuizSnapshot, render: Callable[[QuizDocument], bytes]
    ) -> bytes:
        """The student view of a published quiz serialised by ``render`` (the API's JSON),
        cached per revision. Before ``opens_at`` the questions are left out (an exam is not
        readable before it starts)."""
        opens_at = snap.settings.opens_at
        hidden = opens_at is not None and utcnow() < opens_at
        key = f"quizview:{snap.id}"
        cached = self.cache.get(key)
        if isinstance(cached, tuple) and cached[:2] == (snap.revision, hidden):
            return bytes(cached[2])
        body = render(quiz_document(snap, owner=False, hide_questions=hidden))
        self.cache.put(key, (snap.revision, hidden, body))
        return body

    async def search(
        self,
        caller: Principal | None,
        *,
        mine: bool,
        text: str | None,
        tag: str | None,
        page: int,
        per_page: int,
    ) -> tuple[list[QuizSummary], int]:
        """One page of the published quizzes (or with ``mine`` the caller's own) matching
        ``text`` and ``tag``, and how many match in all."""
        q = select(models.Quiz)
        if mine:
            if caller is None:
                return [], 0
            q = q.where(models.Quiz.owner_id == caller.user_id, models.Quiz.status != BANK_STATUS)
        else:
            q = q.where(models.Quiz.status == "published", not_smoke(models.Quiz.owner_id))
        if tag:
            q = q.where(
                models.Quiz.id.in_(
                    select(models.QuizTag.quiz_id)
                    .join(models.Tag)
                    .where(models.Tag.name == tag.strip().lower())
                )
            )
        order: list[Any] = [models.Quiz.published_at.desc(), models.Quiz.created_at.desc()]
        if text and text.strip():
            q, order = self._text_filter(q, text.strip())
        async with self.db.read_session() as session:
            total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
            counts = (
                select(func.count(models.Question.id))
                .where(
                    models.Question.quiz_id == models.Quiz.id,
                    models.Question.archived_at.is_(None),
                )
                .correlate(models.Quiz)
                .scalar_subquery()
            )
            rows = await session.execute(
                q.add_columns(counts + drawn_count())  # what an attempt shows
                .options(selectinload(models.Quiz.tag_links))
                .order_by(*order, models.Quiz.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            items = [
                QuizSummary(
                    id=quiz.id,
                    title=quiz.title,
                    description=quiz.description,
                    status=quiz.status,
                    tags=tuple(quiz.tags),
                    question_count=count,
                    published_at=quiz.published_at,
                    updated_at=quiz.updated_at,
                )
                for quiz, count in rows
            ]
        return items, total

    def _text_filter(
        self, q: Select[models.Quiz], text: str
    ) -> tuple[Select[models.Quiz], list[Any]]:
        if self.db.is_sqlite:
            # Like the full-text search on PostgreSQL: every word must occur in the title or
            # the description, in any order (not the whole text as one substring).
            document = models.Quiz.title + " " + models.Quiz.description
            conds = [document.ilike(_like_pattern(word), escape="\\") for word in text.split()]
            return q.where(and_(*conds)), [models.Quiz.published_at.desc()]
        document = func.to_tsvector("simple", models.Quiz.title + " " + models.Quiz.description)
        query = func.websearch_to_tsquery("simple", text)
        rank = func.ts_rank(document, query)
        return q.where(document.op("@@")(query)), [rank.desc()]

    # -- writing ----------------------------------------------------------------------
    async def create(
        self,
        caller: Principal,
        content: QuizContent,
        *,
        in_transaction: Callable[[AsyncSession, str], Awaitable[None]] | None = None,
        draws: tuple[DrawRule, ...] = (),
    ) -> QuizSnapshot:
        """Create a draft quiz. ``in_transaction(session, quiz_id)`` runs before the
        commit: what it writes commits with the quiz, and if it raises neither is kept."""
        if not caller.can_author:
            raise Forbidden("only teachers can create quizzes")
        _validate_settings(content.settings)
        _validate_size(content)
        _validate_questions(content.questions)
        async with self.db.session() as session:
            quiz = models.Quiz(
                owner_id=caller.user_id,
                title=content.title.strip(),
                description=content.description,
                tag_links=[],
            )
            _apply_settings(quiz, content.settings)
            session.add(quiz)
            await session.flush()
            await _set_quiz_tags(session, quiz, content.tags)
            for position, q in enumerate(content.questions):
                await _insert_question(session, quiz.id, q, position)
            if draws:
                await check_draws(session, caller.user_id, draws)
                await store_draws(session, quiz, draws)
            quiz_id = quiz.id
            if in_transaction is not None:
                await session.flush()
                await in_transaction(session, quiz_id)
        snap = await self.snapshot(quiz_id)
        assert snap is not None
        return snap

    async def update(self, caller: Principal, quiz_id: str, changes: QuizChanges) -> QuizSnapshot:
        """Apply a PATCH: the fields of ``changes`` that are not None."""
        await self.owned(caller, quiz_id)
        questions = None if changes.questions is None else list(changes.questions)
        if changes.settings is not None:
            _validate_settings(changes.settings)
        _validate_size(
            QuizContent(
                title=changes.title or "",
                description=changes.description or "",
                questions=questions or [],
                tags=list(changes.tags or ()),
            )
        )
        if questions is not None:
            _validate_questions(questions)
        async with self.db.session() as session:
            quiz = await session.get(models.Quiz, quiz_id, with_for_update=not self.db.is_sqlite)
            if quiz is None:
                raise NotFound("quiz not found")
            if changes.title is not None:
                quiz.title = changes.title.strip()
            if changes.description is not None:
                quiz.description = changes.description
            if changes.settings is not None:
                _apply_settings(quiz, changes.settings)
            if changes.tags is not None:
                await session.refresh(quiz, ["tag_links"])
                await _set_quiz_tags(session, quiz, list(changes.tags))
            if questions is not None:
                await _replace_questions(session, quiz_id, questions)
            if changes.draws is not None:
                await check_draws(session, quiz.owner_id, changes.draws)
                await store_draws(session, quiz, changes.draws)
            quiz.revision += 1
            quiz.updated_at = utcnow()
        await self.cache.invalidate(f"quiz:{quiz_id}", f"quizview:{quiz_id}")
        snap = await self.snapshot(quiz_id)
        assert snap is not None
        return snap

    async def set_status(self, caller: Principal, quiz_id: str, publish: bool) -> QuizSnapshot:
        snap = await self.owned(caller, quiz_id)
        if publish and not snap.questions and not snap.draws:
            raise Conflict("a quiz needs at least one question before it can be published")
        async with self.db.session() as session:
            quiz = await session.get(models.Quiz, quiz_id)
            if quiz is None:
                raise NotFound("quiz not found")
            if publish:  # the bank may have changed since the draws were set
                await check_draws(session, quiz.owner_id, snap.draws)
            quiz.status = "published" if publish else "draft"
            if publish and quiz.published_at is None:
                quiz.published_at = utcnow()
            quiz.revision += 1
        await self.cache.invalidate(f"quiz:{quiz_id}", f"quizview:{quiz_id}")
        if publish:
            self.metrics.quizzes_published.inc()
        event = AuditEvent.QUIZ_PUBLISHED if publish else AuditEvent.QUIZ_UNPUBLISHED
        await note(self.audit, event, **_by(caller), target_type="quiz", target_id=quiz_id)
        snap2 = await self.snapshot(quiz_id)
        assert snap2 is not None
        return snap2

    async def delete(self, caller: Principal, quiz_id: str) -> None:
        await self.owned(caller, quiz_id)
        async with self.db.session() as session:
            await session.execute(delete(models.Quiz).where(models.Quiz.id == quiz_id))
        await self.cache.invalidate(f"quiz:{quiz_id}", f"quizview:{quiz_id}")
        await note(
            self.audit,
            AuditEvent.QUIZ_DELETED,
            **_by(caller),
            target_type="quiz",
            target_id=quiz_id,
        )

    # -- formats ----------------------------------------------------------------------
    async def import_file(
        self,
        caller: Principal,
        fmt: str | None,
        data: bytes,
        title: str | None,
        *,
        filename: str | None = None,
        skip_unsupported: bool = False,
    ) -> QuizSnapshot:
        """Create a draft quiz from a file in ``fmt`` (None: detected from the file and its
        ``filename``). Nothing is saved unless the whole file reads cleanly (with
        ``skip_unsupported``, questions of types the platform lacks are left out)."""
        if not caller.can_author:
            raise Forbidden("only teachers can import quizzes")
        fmt, _ = imports.choose_format(fmt, data, filename)
        deadline = Deadline(self.import_deadline_seconds)
        read = imports.Reading(self.cpu, fmt, False, data, skip_unsupported, deadline)
        imported = await imports.read_or_refuse(read, self.metrics)
        content = imports.imported_content(imported, title)
        filer = self.file_into_bank

        async def file_copies(session: AsyncSession, quiz_id: str) -> None:
            if filer is not None:  # copies go into the teacher's bank, in the same transaction
                await filer(session, caller.user_id, content.questions)

        snap = await self.create(caller, content, in_transaction=file_copies)
        self.metrics.quizzes_imported.labels(fmt).inc()
        return snap

    async def preview_file(
        self,
        caller: Principal,
        fmt: str | None,
        data: bytes,
        title: str | None = None,
        *,
        filename: str | None = None,
        skip_unsupported: bool = False,
    ) -> imports.ImportPreview:
        """What ``import_file`` would do with the same arguments, read the same way;
        nothing is saved. Problems in the file are in the preview; an unknown or
        undetectable format, an empty file (422) and one over the limits (413) raise."""
        if not caller.can_author:
            raise Forbidden("only teachers can import quizzes")
        fmt, detected = imports.choose_format(fmt, data, filename)
        deadline = Deadline(self.import_deadline_seconds)
        read = imports.Reading(self.cpu, fmt, detected, data, skip_unsupported, deadline)
        return await imports.preview(read, title, _validate_content)

    async def export_file(self, caller: Principal, quiz_id: str, fmt: str) -> tuple[bytes, str]:
        """The quiz written in ``fmt``; returns (the file's bytes, media type). The file
        holds the answer key: every export is audited."""
        snap = await self.owned(caller, quiz_id)
        if fmt not in formats.FORMAT_INFO:
            raise Invalid(
                f"unknown format {fmt!r}",
                [{"loc": ["query", "format"], "message": "unknown format"}],
            )
        content = QuizContent(
            title=snap.title,
            description=snap.description,
            questions=snap.questions,
            tags=snap.tags,
            settings=snap.settings,
        )
        try:
            data = formats.write_quiz(fmt, content)
        except UnsupportedQuestion as exc:
            raise Invalid(str(exc), [{"loc": ["query", "format"], "message": str(exc)}]) from exc
        await note(
            self.audit,
            AuditEvent.ANSWER_KEY_EXPORTED,
            **_by(caller),
            target_type="quiz",
            target_id=quiz_id,
            details={"format": fmt},
        )
        return data, formats.FORMAT_INFO[fmt].media_type

    async def question_versions(self, question_ids: list[str]) -> dict[str, Question]:
        """Questions by id, archived versions included (for attempts that used them)."""
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(models.Question)
                .where(models.Question.id.in_(question_ids))
                .options(
                    selectinload(models.Question.parts), selectinload(models.Question.tag_links)
                )
            )
            return {row.id: question_from_row(row) for row in rows}


def _like_pattern(word: str) -> str:
    """``word`` as a LIKE pattern matching it anywhere; its wildcards are literal."""
    return "%" + word.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def _apply_settings(quiz: models.Quiz, s: QuizSettings) -> None:
    quiz.time_limit_seconds = s.time_limit_seconds
    quiz.max_attempts = s.max_attempts
    quiz.shuffle_questions = s.shuffle_questions
    quiz.shuffle_options = s.shuffle_options
    quiz.opens_at = s.opens_at
    quiz.closes_at = s.closes_at
    quiz.show_correct_answers = s.show_correct_answers.value


async def _tag_rows(session: AsyncSession, names: list[str]) -> list[models.Tag]:
    wanted = sorted({n.strip().lower() for n in names if n.strip()})
    if not wanted:
        return []
    existing = {
        t.name: t
        for t in await session.scalars(select(models.Tag).where(models.Tag.name.in_(wanted)))
    }
    for name in wanted:
        if name not in existing:
            # A concurrent insert of the same tag fails this transaction with a unique
            # violation; the client retries. Tags are rare enough not to need upserts.
            tag = models.Tag(name=name)
            session.add(tag)
            existing[name] = tag
    await session.flush()
    return [existing[n] for n in wanted]


async def _set_quiz_tags(session: AsyncSession, quiz: models.Quiz, names: list[str]) -> None:
    tags = await _tag_rows(session, names)
    if quiz.tag_links:
        quiz.tag_links = []
        await session.flush()  # delete the old links before inserting equal keys
    quiz.tag_links = [models.QuizTag(quiz_id=quiz.id, tag_id=t.id, tag=t) for t in tags]


async def _insert_question(
    session: AsyncSession, quiz_id: str, q: Question, position: int, replaces: str | None = None
) -> models.Question:
    row = models.Question(quiz_id=quiz_id, replaces_id=replaces)
    row.id = models.new_id()
    fill_question_row(row, q, position)
    row.parts = parts_for(q)
    tags = await _tag_rows(session, q.tags)
    row.tag_links = [models.QuestionTag(question_id=row.id, tag_id=t.id, tag=t) for t in tags]
    session.add(row)
    return row


async def _replace_questions(session: AsyncSession, quiz_id: str, incoming: list[Question]) -> None:
    """Make ``incoming`` the quiz's question list.

    Once the quiz has attempts, a question is never changed or deleted in place: its row
    is archived (attempts keep scoring against it) and new content gets a new row.
    """
    rows = {
        r.id: r
        for r in await session.scalars(
            select(models.Question)
            .where(models.Question.quiz_id == quiz_id, models.Question.archived_at.is_(None))
            .options(selectinload(models.Question.parts), selectinload(models.Question.tag_links))
        )
    }
    unknown = [i for i, q in enumerate(incoming) if q.id and q.id not in rows]
    if unknown:
        raise Invalid(
            "some question ids do not belong to this quiz",
            [
                {"loc": ["body", "questions", i, "id"], "message": "unknown question id"}
                for i in unknown
            ],
        )
    # Once anyone has started the quiz, every question row may be part of an attempt (its
    # stored question list), so rows are versioned rather than changed or deleted.
    started = await session.scalar(
        select(models.Attempt.id).where(models.Attempt.quiz_id == quiz_id).limit(1)
    )
    answered = set(rows) if started is not None else set()
    now = utcnow()
    kept: set[str] = set()
    for position, q in enumerate(incoming):
        row = rows.get(q.id or "")
        if row is None:
            await _insert_question(session, quiz_id, q, position)
            continue
        kept.add(row.id)
        if question_from_row(row).without_ids() == q.without_ids():
            row.position = position
        elif row.id in answered:
            row.archived_at = now
            await _insert_question(session, quiz_id, q, position, replaces=row.id)
        else:
            fill_question_row(row, q, position)
            tags = await _tag_rows(session, q.tags)
            own_ids = frozenset(part.id for part in row.parts)
            row.parts, row.tag_links = [], []
            await session.flush()  # delete the old parts before inserting ones with kept ids
            row.parts = parts_for(q, own_ids)
            row.tag_links = [
                models.QuestionTag(question_id=row.id, tag_id=t.id, tag=t) for t in tags
            ]
    for row_id, row in rows.items():
        if row_id in kept:
            continue
        if row_id in answered:
            row.archived_at = now
        else:
            await session.delete(row)


def _by(caller: Principal) -> dict[str, str]:
    return {"actor_id": caller.user_id, "actor_display": caller.display_name}
