"""Random draws of a quiz, on the database side: where a teacher's bank lives, which bank
questions a draw rule may pick, whether a quiz's rules can be met, and the draw itself.

The bank is a hidden quiz row per teacher (status ``bank``, a deterministic id made from
the owner's id, so two first uses at once make one row): its questions are ordinary
question rows, versioned like any other (an edit archives the old row; attempts keep
theirs). No route serves that row as a quiz (``QuizService.visible`` hides it).

The choice itself is ``domain.draws.assign`` with one generator per rule,
``attempt_rng(order_key, "draw:<rule id>")``: secret, and the same every time the attempt
is shown (the drawn ids are stored with the attempt anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import cast

from sqlalchemy import ScalarSelect, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from quizplatform.db import models
from quizplatform.domain.draws import (
    MAX_DRAWN,
    MAX_DRAWS,
    DrawRule,
    assign,
    category_matches,
    normalise_category,
    rule_problems,
)
from quizplatform.domain.questions import QuestionType
from quizplatform.services.errors import ErrorDetail, Invalid
from quizplatform.services.question_views import attempt_rng

BANK_STATUS = "bank"
BANK_TITLE = "Question bank"


def bank_quiz_id(owner_id: str) -> str:
    """The id of the row holding ``owner_id``'s bank."""
    return hashlib.sha256(f"question-bank:{owner_id}".encode()).hexdigest()[:32]


async def ensure_bank(session: AsyncSession, owner_id: str) -> str:
    """The owner's bank row id, created on first use (concurrent first uses make one)."""
    bank_id = bank_quiz_id(owner_id)
    table = cast(Table, models.Quiz.__table__)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(table)
        .values(
            id=bank_id,
            owner_id=owner_id,
            title=BANK_TITLE,
            description="",
            status=BANK_STATUS,
            shuffle_questions=False,
            shuffle_options=False,
            show_correct_answers="never",
            revision=1,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return bank_id


def drawn_count() -> ScalarSelect[int]:
    """How many questions a quiz's draws add to each attempt (a correlated subquery)."""
    return (
        select(func.coalesce(func.sum(models.QuizDraw.count), 0))
        .where(models.QuizDraw.quiz_id == models.Quiz.id)
        .correlate(models.Quiz)
        .scalar_subquery()
    )


def rule_from_row(row: models.QuizDraw) -> DrawRule:
    return DrawRule(
        id=row.id, count=row.count, points=row.points, category=row.category, tag=row.tag
    )


def clean_rule(rule: DrawRule) -> DrawRule:
    """The rule as stored: category normalised, tag trimmed and lower case."""
    tag = (rule.tag or "").strip().lower() or None
    return DrawRule(
        count=rule.count,
        points=rule.points,
        category=normalise_category(rule.category),
        tag=tag,
        id=rule.id,
    )


async def candidates(session: AsyncSession, owner_id: str, rule: DrawRule) -> list[str]:
    """The ids of the current bank questions ``rule`` may draw: in its category (or a
    subcategory), with its tag, worth its points (a description never: it scores 0)."""
    q = models.Question
    stmt = select(q.id, q.category).where(
        q.quiz_id == bank_quiz_id(owner_id),
        q.archived_at.is_(None),
        q.type != QuestionType.DESCRIPTION.value,
        q.points == rule.points,
    )
    if rule.tag:
        stmt = stmt.where(
            q.id.in_(
                select(models.QuestionTag.question_id)
                .join(models.Tag)
                .where(models.Tag.name == rule.tag.strip().lower())
            )
        )
    rows = (await session.execute(stmt)).all()
    # Categories compared in Python: SQLite's lower() folds ASCII only.
    return [qid for qid, category in rows if category_matches(rule.category, category)]


def _static_problems(rules: Sequence[DrawRule]) -> list[ErrorDetail]:
    details: list[ErrorDetail] = [
        {"loc": ["body", "draws", index, field], "message": message}
        for index, rule in enumerate(rules)
        for field, message in rule_problems(rule)
    ]
    if len(rules) > MAX_DRAWS:
        details.append({"loc": ["body", "draws"], "message": f"at most {MAX_DRAWS} draws"})
    if sum(max(rule.count, 0) for rule in rules) > MAX_DRAWN:
        details.append(
            {"loc": ["body", "draws"], "message": f"at most {MAX_DRAWN} drawn questions in all"}
        )
    return details


async def check_draws(session: AsyncSession, owner_id: str, rules: Sequence[DrawRule]) -> None:
    """Raise Invalid (422) unless every rule is valid and the owner's bank holds enough
    questions for all of them at once (a question matching two rules counts once)."""
    details = _static_problems(rules)
    if details:
        raise Invalid("some random draws are not valid", details)
    if not rules:
        return
    pools = [await candidates(session, owner_id, rule) for rule in rules]
    for index, (rule, pool) in enumerate(zip(rules, pools, strict=True)):
        if len(pool) < rule.count:
            details.append(
                {
                    "loc": ["body", "draws", index, "count"],
                    "message": f"the bank has {len(pool)} question(s) for this draw "
                    f"({rule.describe()}); add questions or draw fewer",
                }
            )
    if not details and assign(pools, [rule.count for rule in rules]) is None:
        details.append(
            {
                "loc": ["body", "draws"],
                "message": "the draws share questions and together need more than the bank "
                "has; add questions or draw fewer",
            }
        )
    if details:
        raise Invalid("the question bank has too few questions for these random draws", details)


async def draw(
    session: AsyncSession, owner_id: str, rules: Sequence[DrawRule], order_key: str
) -> dict[str, list[str]] | None:
    """The questions an attempt with ``order_key`` draws, by rule id; None when the bank
    no longer has enough (it changed after the quiz was published)."""
    if not rules:
        return {}
    pools = [await candidates(session, owner_id, rule) for rule in rules]
    rngs = [attempt_rng(order_key, f"draw:{rule.id}") for rule in rules]
    chosen = assign(pools, [rule.count for rule in rules], rngs)
    if chosen is None:
        return None
    return {rule.id or "": ids for rule, ids in zip(rules, chosen, strict=True)}


async def store_draws(session: AsyncSession, quiz: models.Quiz, rules: Sequence[DrawRule]) -> None:
    """Make ``rules`` the quiz's draws; a rule whose id is one of the quiz's keeps it."""
    await session.refresh(quiz, ["draws"])
    existing = {row.id: row for row in quiz.draws}
    kept: list[models.QuizDraw] = []
    for position, rule in enumerate(clean_rule(r) for r in rules):
        row = existing.pop(rule.id, None) if rule.id else None
        if row is None:
            row = models.QuizDraw(id=models.new_id(), quiz_id=quiz.id)
        row.position, row.count, row.points = position, rule.count, rule.points
        row.category, row.tag = rule.category, rule.tag
        kept.append(row)
    quiz.draws = kept
