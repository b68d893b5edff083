"""Leaderboards: the best attempt per student, kept ranked in the key-value store and
rebuilt from the database when missing."""

from __future__ import annotations

import math

import orjson
from sqlalchemy import select

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.results import Leaderboard, LeaderboardEntry
from quizplatform.services.quizzes import QuizService

# Leaderboard ranks pack (score, -duration) into one sortable float: exact up to 2**53.
_DURATION_SLOTS = 10_000_000
_SCORE_STEPS = 1000


class Leaderboards:
    """Reads and keeps the per-quiz leaderboards."""

    def __init__(self, db: Database, store: KeyValueStore, quizzes: QuizService) -> None:
        self.db = db
        self.store = store
        self.quizzes = quizzes

    async def top(self, caller: Principal | None, quiz_id: str, limit: int) -> Leaderboard:
        """The best attempt per student, best first (at most ``limit``)."""
        await self.quizzes.visible(caller, quiz_id)
        key = f"lb:{quiz_id}"
        if not await self.store.exists(f"{key}:built"):
            await self._rebuild(quiz_id)
        entries = [orjson.loads(raw) for raw in await self.store.ranked_top(key, limit)]
        return Leaderboard(
            tuple(
                LeaderboardEntry(
                    rank=index + 1,
                    display_name=e["display_name"],
                    score=e["score"],
                    percent=e["percent"],
                    duration_seconds=e["duration_seconds"],
                    is_caller=caller is not None and e.get("user_id") == caller.user_id,
                )
                for index, e in enumerate(entries)
            )
        )

    async def record(self, attempt: models.Attempt, display_name: str | None = None) -> None:
        """Merge a submitted attempt into its quiz's leaderboard (if that is built)."""
        if attempt.live_game_id is not None:
            return  # a live game's attempt: the game has its own leaderboard
        key = f"lb:{attempt.quiz_id}"
        if not await self.store.exists(f"{key}:built"):
            return  # the next read rebuilds from the database, this attempt included
        name = display_name or await self.display_name(attempt.user_id)
        await self.store.ranked_put(key, attempt.user_id, *rank_entry(attempt, name))

    async def forget(self, quiz_id: str) -> None:
        """Drop a quiz's leaderboard: the next read rebuilds it (after a score went down,
        which a merge cannot express)."""
        await self.store.delete(f"lb:{quiz_id}", f"lb:{quiz_id}:built")

    async def _rebuild(self, quiz_id: str) -> None:
        key = f"lb:{quiz_id}"
        if await self._owned_by_smoke_account(quiz_id):
            return  # never marked built, so the smoke test's submits never merge into it
        # Mark first, then merge: a submit that lands meanwhile either sees the mark and
        # merges itself, or committed before our read below and is in it. So the read is
        # from the primary: a replica may not have replayed that submit yet.
        await self.store.set(f"{key}:built", b"1")
        async with self.db.read_session(fresh=True) as session:
            rows = await session.execute(
                select(models.Attempt, models.User.display_name)
                .join(models.User, models.User.id == models.Attempt.user_id)
                .where(
                    models.Attempt.quiz_id == quiz_id,
                    models.Attempt.status == "submitted",
                    models.Attempt.live_game_id.is_(None),
                    models.User.is_smoke.is_(False),
                )
            )
            for attempt, name in rows:
                await self.store.ranked_put(key, attempt.user_id, *rank_entry(attempt, name))

    async def _owned_by_smoke_account(self, quiz_id: str) -> bool:
        async with self.db.read_session() as session:
            smoke = await session.scalar(
                select(models.User.is_smoke)
                .join(models.Quiz, models.Quiz.owner_id == models.User.id)
                .where(models.Quiz.id == quiz_id)
            )
        return bool(smoke)

    async def display_name(self, user_id: str) -> str:
        """A user's display name ("?" if gone). Not secret: leaderboards show it."""
        async with self.db.read_session() as session:
            name = await session.scalar(
                select(models.User.display_name).where(models.User.id == user_id)
            )
        return name or "?"


def rank_entry(attempt: models.Attempt, display_name: str) -> tuple[float, bytes]:
    """The attempt's sort key (higher score, then shorter time, first) and stored entry."""
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
