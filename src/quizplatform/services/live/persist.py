"""The database side of live games: the game row, each player's guest account and
attempt, every accepted answer (stored before it is acknowledged) and the final results.

A player's id in the game store is the id of their attempt, so an answer becomes a
``Response`` row of that attempt without a lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.domain.questions import Question
from quizplatform.domain.scoring import total
from quizplatform.runtime.clock import utcnow
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.attempts.rules import score_all
from quizplatform.services.live.batch import GroupWriter
from quizplatform.services.live.messages import GameResults

#: (player_id, question_id, payload, score): one answer as a Response row.
AnswerRow = tuple[str, str, dict[str, object], float]

GUEST_EMAIL_DOMAIN = "live.invalid"
# Not an argon2 hash: verifying any password against it fails (services/accounts.py).
UNUSABLE_PASSWORD = "!guest"  # noqa: S105 - no password: never matches


@dataclass(frozen=True)
class GameRecord:
    """What never changes about a game once created (safe to cache per instance)."""

    id: str
    quiz_id: str
    host_id: str
    pin: str
    question_ids: tuple[str, ...]
    drawn: dict[str, str]
    order_key: str
    question_seconds: int
    streak: bool
    require_sign_in: bool
    max_players: int
    shuffle_options: bool = False


class LiveRecords:
    """Reads and writes the live games' rows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        r = cast(Table, models.Response.__table__)
        insert = sqlite_insert if db.is_sqlite else pg_insert
        # Idempotent: an answer acknowledged as "already" writes again, changing nothing.
        self._insert_response = (
            insert(r)
            .values(
                attempt_id=bindparam("attempt_id"),
                question_id=bindparam("question_id"),
                payload=bindparam("payload"),
                score=bindparam("score"),
                saved_at=bindparam("saved_at"),
            )
            .on_conflict_do_nothing(index_elements=["attempt_id", "question_id"])
        )
        self._answers: GroupWriter[AnswerRow] = GroupWriter(self._save_batch)

    async def create(self, record: GameRecord, options: dict[str, object]) -> None:
        """Insert the game's row."""
        async with self.db.session() as session:
            session.add(
                models.LiveGame(
                    id=record.id,
                    quiz_id=record.quiz_id,
                    host_id=record.host_id,
                    pin=record.pin,
                    status="lobby",
                    options={**options, "drawn": record.drawn, "order_key": record.order_key},
                    question_ids=list(record.question_ids),
                )
            )

    async def load(self, game_id: str) -> GameRecord | None:
        """The game's fixed facts, or None."""
        async with self.db.read_session() as session:
            row = await session.get(models.LiveGame, game_id)
        if row is None:
            return None
        o: dict[str, Any] = row.options
        return GameRecord(
            id=row.id,
            quiz_id=row.quiz_id,
            host_id=row.host_id,
            pin=row.pin,
            question_ids=tuple(row.question_ids),
            drawn=dict(o.get("drawn") or {}),
            order_key=str(o.get("order_key") or ""),
            question_seconds=int(o.get("question_seconds") or 20),
            streak=bool(o.get("streak", True)),
            require_sign_in=bool(o.get("require_sign_in", False)),
            max_players=int(o.get("max_players") or 1),
            shuffle_options=bool(o.get("shuffle_options", False)),
        )

    async def seat(
        self, game: GameRecord, player_id: str, nickname: str, principal: Principal | None
    ) -> None:
        """In one transaction: the guest account (unless signed in) and the player's
        attempt, whose id is ``player_id``."""
        now = utcnow()
        async with self.db.session() as session:
            if principal is None:
                user = models.User(
                    id=models.new_id(),
                    email=f"guest-{secrets.token_hex(12)}@{GUEST_EMAIL_DOMAIN}",
                    password_hash=UNUSABLE_PASSWORD,
                    display_name=nickname,
                    role=Role.GUEST.value,
                    is_active=True,
                    created_at=now,
                )
                session.add(user)
                await session.flush()
                user_id = user.id
            else:
                user_id = principal.user_id
            session.add(
                models.Attempt(
                    id=player_id,
                    quiz_id=game.quiz_id,
                    user_id=user_id,
                    status="in_progress",
                    seed=0,
                    order_key=game.order_key,
                    question_ids=list(game.question_ids),
                    drawn=dict(game.drawn) or None,
                    started_at=now,
                    deadline_at=None,
                    live_game_id=game.id,
                )
            )

    async def save_answers(self, rows: Sequence[AnswerRow]) -> None:
        """Store many answers ``(player_id, question_id, payload, score)`` at once (those
        stored already stay as they are)."""
        if not rows:
            return
        now = utcnow()
        params = [
            {"attempt_id": p, "question_id": q, "payload": a, "score": s, "saved_at": now}
            for p, q, a, s in rows
        ]
        async with self.db.autocommit(idempotent=True) as conn:
            await conn.execute(self._insert_response, params)

    async def save_answer(
        self, player_id: str, question_id: str, payload: dict[str, object], score: float
    ) -> None:
        """Store an answer (nothing changes if it is stored already); returns once it is
        committed, in one statement with the answers that came in meanwhile."""
        await self._answers.write((player_id, question_id, payload, score))

    async def _save_batch(self, rows: Sequence[AnswerRow]) -> None:
        # Sorted by key: two instances' batches that share a row (a resend) lock the
        # rows in the same order, never in a cycle.
        await self.save_answers(sorted(rows, key=lambda row: (row[0], row[1])))

    async def mark(self, game_id: str, status: str, **times: datetime) -> None:
        """Set the game's status (``running``) and a time column (``started_at``)."""
        async with self.db.session() as session:
            await session.execute(
                update(models.LiveGame)
                .where(models.LiveGame.id == game_id)
                .values(status=status, **times)
            )

    async def finish(
        self, game_id: str, questions: dict[str, Question], results: GameResults
    ) -> int:
        """End the game: every attempt still in progress submitted with its score, the
        results kept. Returns how many attempts were submitted (0 when already ended)."""
        now = utcnow()
        async with self.db.transaction() as conn:
            game = cast(Table, models.LiveGame.__table__)
            ended = await conn.execute(
                update(game)
                .where(game.c.id == game_id, game.c.status != "ended")
                .values(status="ended", ended_at=now, results=results)
            )
            if ended.rowcount != 1:
                return 0
            a, r = models.Attempt, models.Response
            attempts = (
                await conn.execute(
                    select(a.id, a.question_ids).where(
                        a.live_game_id == game_id, a.status == "in_progress"
                    )
                )
            ).all()
            rows = (
                await conn.execute(
                    select(r.attempt_id, r.question_id, r.payload)
                    .join(a, a.id == r.attempt_id)
                    .where(a.live_game_id == game_id, a.status == "in_progress")
                )
            ).all()
            by_attempt: dict[str, list[models.Response]] = {}
            for attempt_id, question_id, payload in rows:
                by_attempt.setdefault(attempt_id, []).append(
                    models.Response(attempt_id=attempt_id, question_id=question_id, payload=payload)
                )
            updates = []
            for attempt_id, question_ids in attempts:
                shell = models.Attempt(question_ids=question_ids)
                scores = score_all(shell, questions, by_attempt.get(attempt_id, []))
                result = total(list(scores.values()))
                updates.append(
                    {
                        "a_id": attempt_id,
                        "score": result.score,
                        "max_score": result.max_score,
                        "percent": result.percent,
                    }
                )
            if updates:
                t = cast(Table, a.__table__)
                await conn.execute(
                    update(t)
                    .where(t.c.id == bindparam("a_id"), t.c.status == "in_progress")
                    .values(
                        status="submitted",
                        submitted_at=now,
                        auto_submitted=True,
                        score=bindparam("score"),
                        max_score=bindparam("max_score"),
                        percent=bindparam("percent"),
                    ),
                    updates,
                )
        return len(updates)

    async def results(self, game_id: str) -> GameResults | None:
        """The stored final results of an ended game."""
        async with self.db.read_session() as session:
            return cast(
                "GameResults | None",
                await session.scalar(
                    select(models.LiveGame.results).where(models.LiveGame.id == game_id)
                ),
            )
