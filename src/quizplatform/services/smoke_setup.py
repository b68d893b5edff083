"""``quiz smoke setup``: the smoke-test account (a teacher flagged ``is_smoke``) and its
one unlisted quiz, made idempotently for ``quiz smoke`` to sign in and take."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from quizplatform.db import models
from quizplatform.domain.questions import Question, QuestionType, QuizContent
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.container import Services
from quizplatform.services.errors import Conflict
from quizplatform.services.smoke import SMOKE_QUIZ_TITLE

SMOKE_DISPLAY_NAME = "Smoke test"


@dataclass(frozen=True)
class SmokeAccount:
    """What ``quiz smoke`` needs (the credentials file holds it) and what setup did."""

    email: str
    password: str
    quiz_id: str
    done: tuple[str, ...]


def smoke_quiz() -> QuizContent:
    """The smoke quiz: one true/false question answered ``true`` for full marks."""
    return QuizContent(
        title=SMOKE_QUIZ_TITLE,
        description="Taken by `quiz smoke` after each deploy; unlisted, out of reports.",
        questions=[
            Question(QuestionType.TRUE_FALSE, "The platform answers (smoke test).", answer=True)
        ],
    )


async def set_up_smoke(services: Services, email: str, known_password: str | None) -> SmokeAccount:
    """Create (or find) the smoke account and its published quiz. The password stays
    ``known_password`` if that still signs in; else a new random one is set (and the
    account's tokens are revoked)."""
    done: list[str] = []
    email = email.strip().lower()
    async with services.db.session() as session:
        user = await session.scalar(select(models.User).where(models.User.email == email))
    if user is None:
        password = secrets.token_urlsafe(24)
        user = await services.accounts.register(
            email, password, SMOKE_DISPLAY_NAME, Role.TEACHER, by_admin=True
        )
        done.append(f"created the smoke account {email}")
    elif not user.is_smoke:
        raise Conflict(f"{email} is a real account, not the smoke account; choose another email")
    elif known_password and await services.accounts.verify_password(user, known_password):
        password = known_password
    else:
        password = secrets.token_urlsafe(24)
        await _set_password(services, user.id, password)
        done.append("set a new password for the smoke account")
    async with services.db.session() as session:
        row = await session.get(models.User, user.id)
        if row is not None and not row.is_smoke:
            row.is_smoke = True
    owner = Principal(user.id, Role.TEACHER, SMOKE_DISPLAY_NAME)
    quiz_id = await _smoke_quiz_id(services, owner, done)
    return SmokeAccount(email, password, quiz_id, tuple(done))


async def _set_password(services: Services, user_id: str, password: str) -> None:
    password_hash = await services.accounts.hash_password(password)
    async with services.db.session() as session:
        row = await session.get(models.User, user_id)
        if row is not None:
            row.password_hash = password_hash
    await services.accounts.revoke_all(user_id)


async def _smoke_quiz_id(services: Services, owner: Principal, done: list[str]) -> str:
    async with services.db.session() as session:
        quiz = await session.scalar(
            select(models.Quiz)
            .where(models.Quiz.owner_id == owner.user_id, models.Quiz.title == SMOKE_QUIZ_TITLE)
            .order_by(models.Quiz.created_at)
            .limit(1)
        )
        found = None if quiz is None else (quiz.id, quiz.status)
    if found is None:
        snap = await services.quizzes.create(owner, smoke_quiz())
        found = (snap.id, snap.status)
        done.append("created the smoke quiz")
    if found[1] != "published":
        await services.quizzes.set_status(owner, found[0], publish=True)
        done.append("published the smoke quiz")
    return found[0]
