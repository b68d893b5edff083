"""What keeps the smoke-test account out of sight (``quiz smoke setup`` creates it): SQL
conditions the listing, leaderboard and report queries add."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute

from quizplatform.db import models

#: The smoke account's sign-in name unless ``quiz smoke setup --email`` says otherwise.
SMOKE_EMAIL = "quiz-smoke@example.org"
#: The title of the smoke account's one quiz (the journey finds it by this title).
SMOKE_QUIZ_TITLE = "Smoke test (post-deploy check)"


def not_smoke(user_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """True where ``user_id`` (a column naming a user) is not the smoke account: its
    attempts are left out of leaderboards and reports, its quiz out of the listing."""
    return user_id.not_in(select(models.User.id).where(models.User.is_smoke.is_(True)))
