"""A teacher's question bank: questions organised by category (a path such as
``Geography/Capitals``) and tags, which quizzes draw from at random
(``services/draws.py``).

Only its owner reads or changes a bank: every call works on the caller's own bank, so
there is no way to name another's. Editing a question makes a new version (the old row
is archived, attempts that drew it keep it, as quizzes' questions do); moving and tagging
change the category and tags of the current versions in place (they decide what a draw
may pick, not how an answer scores). Imports file copies of their questions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.mapping import question_from_row
from quizplatform.domain.draws import category_matches, normalise_category
from quizplatform.domain.questions import Question
from quizplatform.runtime.clock import utcnow
from quizplatform.services.accounts import Principal
from quizplatform.services.draws import bank_quiz_id, ensure_bank
from quizplatform.services.errors import ErrorDetail, Forbidden, Invalid, NotFound
from quizplatform.services.question_views import OwnerQuestion, owner_question
from quizplatform.services.quizzes import (
    _insert_question,
    _like_pattern,
    _tag_rows,
    _validate_questions,
)

MAX_BULK = 500  # question ids per move or tag call


@dataclass(frozen=True, slots=True)
class CategoryCount:
    """A category of the bank and how many current questions it holds directly."""

    category: str | None
    questions: int


@dataclass(frozen=True, slots=True)
class BankPage:
    """One page of the bank's questions (owner views: keys, category and tags)."""

    items: tuple[OwnerQuestion, ...]
    total: int


class BankService:
    """The caller's own question bank."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ----------------------------------------------------------------------
    async def search(
        self,
        caller: Principal,
        *,
        category: str | None,
        tag: str | None,
        text: str | None,
        page: int,
        per_page: int,
    ) -> BankPage:
        """The current questions in ``category`` (subcategories included) with ``tag``
        and ``text`` in the prompt or title, by category then position."""
        _author(caller)
        q = models.Question
        stmt = select(q.id, q.category).where(
            q.quiz_id == bank_quiz_id(caller.user_id), q.archived_at.is_(None)
        )
        if tag and tag.strip():
            stmt = stmt.where(q.id.in_(_tagged(tag)))
        for word in (text or "").split()[:20]:  # every word, in the prompt or the title
            pattern = _like_pattern(word)
            stmt = stmt.where(
                or_(
                    q.prompt.ilike(pattern, escape="\\"),
                    func.coalesce(q.title, "").ilike(pattern, escape="\\"),
                )
            )
        async with self.db.read_session() as session:
            rows = (
                await session.execute(
                    stmt.order_by(q.category.is_(None), q.category, q.position, q.id)
                )
            ).all()
        ids = [qid for qid, cat in rows if category_matches(category, cat)]
        chosen = ids[(page - 1) * per_page : page * per_page]
        questions = await self._load(chosen)
        return BankPage(tuple(owner_question(questions[i]) for i in chosen), len(ids))

    async def categories(self, caller: Principal) -> list[CategoryCount]:
        """Every category of the bank with its number of current questions."""
        _author(caller)
        q = models.Question
        async with self.db.read_session() as session:
            rows = (
                await session.execute(
                    select(q.category, func.count())
                    .where(q.quiz_id == bank_quiz_id(caller.user_id), q.archived_at.is_(None))
                    .group_by(q.category)
                )
            ).all()
        counts = [CategoryCount(cat, n) for cat, n in rows]
        return sorted(counts, key=lambda c: (c.category is not None, (c.category or "").lower()))

    async def _load(self, ids: Sequence[str]) -> dict[str, Question]:
        if not ids:
            return {}
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(models.Question)
                .where(models.Question.id.in_(list(ids)))
                .options(
                    selectinload(models.Question.parts), selectinload(models.Question.tag_links)
                )
            )
            return {row.id: question_from_row(row) for row in rows}

    # -- writing ----------------------------------------------------------------------
    async def add(self, caller: Principal, question: Question) -> OwnerQuestion:
        """File a new question into the bank."""
        _author(caller)
        _validate_questions([question], "question")
        async with self.db.session() as session:
            (new_id,) = await file_questions(session, caller.user_id, [question])
        return owner_question((await self._load([new_id]))[new_id])

    async def edit(self, caller: Principal, question_id: str, question: Question) -> OwnerQuestion:
        """A new version of a bank question (the old one is archived, so attempts that
        drew it keep it). A question without a category keeps the old one's."""
        _author(caller)
        _validate_questions([question], "question")
        async with self.db.session() as session:
            row = await self._current(session, caller, question_id)
            category = question.category if question.category is not None else row.category
            row.archived_at = utcnow()
            new = await _insert_question(
                session,
                row.quiz_id,
                replace(question.without_ids(), category=normalise_category(category)),
                row.position,
                replaces=row.id,
            )
            new_id = new.id
        return owner_question((await self._load([new_id]))[new_id])

    async def remove(self, caller: Principal, question_id: str) -> None:
        """Take a question out of the bank (archived: attempts that drew it keep it)."""
        _author(caller)
        async with self.db.session() as session:
            row = await self._current(session, caller, question_id)
            row.archived_at = utcnow()

    async def move(self, caller: Principal, ids: Sequence[str], category: str | None) -> int:
        """File the questions ``ids`` under ``category`` (None or blank: no category)."""
        _author(caller)
        target = normalise_category(category)
        async with self.db.session() as session:
            rows = await self._many(session, caller, ids)
            for row in rows:
                row.category = target
        return len(rows)

    async def retag(
        self, caller: Principal, ids: Sequence[str], add: Sequence[str], remove: Sequence[str]
    ) -> int:
        """Add the tags ``add`` to the questions ``ids`` and take ``remove`` off them."""
        _author(caller)
        async with self.db.session() as session:
            rows = await self._many(session, caller, ids)
            row_ids = [row.id for row in rows]
            gone = {n.strip().lower() for n in remove if n.strip()}
            if gone:
                await session.execute(
                    delete(models.QuestionTag).where(
                        models.QuestionTag.question_id.in_(row_ids),
                        models.QuestionTag.tag_id.in_(
                            select(models.Tag.id).where(models.Tag.name.in_(gone))
                        ),
                    )
                )
            tags = [t for t in await _tag_rows(session, list(add)) if t.name not in gone]
            if tags:
                links = select(models.QuestionTag.question_id, models.QuestionTag.tag_id).where(
                    models.QuestionTag.question_id.in_(row_ids)
                )
                have = {(qid, tag_id) for qid, tag_id in (await session.execute(links)).all()}
                session.add_all(
                    models.QuestionTag(question_id=qid, tag_id=t.id)
                    for qid in row_ids
                    for t in tags
                    if (qid, t.id) not in have
                )
        return len(rows)

    async def _current(
        self, session: AsyncSession, caller: Principal, question_id: str
    ) -> models.Question:
        row = await session.get(models.Question, question_id)
        if (
            row is None
            or row.quiz_id != bank_quiz_id(caller.user_id)
            or row.archived_at is not None
        ):
            raise NotFound("question not found in your bank")
        return row

    async def _many(
        self, session: AsyncSession, caller: Principal, ids: Sequence[str]
    ) -> list[models.Question]:
        if len(ids) > MAX_BULK:
            raise Invalid(
                f"at most {MAX_BULK} questions at once",
                [{"loc": ["body", "ids"], "message": f"at most {MAX_BULK} ids"}],
            )
        wanted = list(dict.fromkeys(ids))
        rows = {
            row.id: row
            for row in await session.scalars(
                select(models.Question).where(
                    models.Question.id.in_(wanted),
                    models.Question.quiz_id == bank_quiz_id(caller.user_id),
                    models.Question.archived_at.is_(None),
                )
            )
        }
        unknown: list[ErrorDetail] = [
            {"loc": ["body", "ids", index], "message": "not a question of your bank"}
            for index, qid in enumerate(ids)
            if qid not in rows
        ]
        if unknown:
            raise Invalid("some ids are not questions of your bank", unknown)
        return [rows[qid] for qid in wanted]


async def file_questions(
    session: AsyncSession, owner_id: str, questions: Sequence[Question]
) -> list[str]:
    """Copies of ``questions`` at the end of the owner's bank, keeping their categories
    (normalised) and tags; used by imports and ``BankService.add``."""
    bank_id = await ensure_bank(session, owner_id)
    last = await session.scalar(
        select(func.max(models.Question.position)).where(models.Question.quiz_id == bank_id)
    )
    start = 0 if last is None else last + 1
    ids: list[str] = []
    for offset, q in enumerate(questions):
        copy = replace(q.without_ids(), category=normalise_category(q.category))
        ids.append((await _insert_question(session, bank_id, copy, start + offset)).id)
    return ids


def _tagged(tag: str) -> Select[Any]:
    return (
        select(models.QuestionTag.question_id)
        .join(models.Tag)
        .where(models.Tag.name == tag.strip().lower())
    )


def _author(caller: Principal) -> None:
    if not caller.can_author:
        raise Forbidden("only teachers have a question bank")
