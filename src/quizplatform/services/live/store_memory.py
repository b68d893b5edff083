"""``MemoryLiveStore``: the live game store in process, for the embedded single-instance
default. The same operations and answers as ``RedisLiveStore``, each under one lock."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from quizplatform.db.shared_store import InvalidationHandler
from quizplatform.domain.live import Phase, streak_bonus
from quizplatform.services.live.records import (
    GAME_TTL_MS,
    LOBBY_INDEX,
    NO_CORRECT,
    AnswerOutcome,
    AnswerRecord,
    AnswerStatus,
    BoardEntry,
    GameMeta,
    JoinOutcome,
    JoinStatus,
    PlayerRecord,
    Standing,
    TransitionResult,
)


@dataclass
class _Game:
    meta: GameMeta
    expires: float
    players: dict[str, PlayerRecord] = field(default_factory=dict)
    nicks: dict[str, str] = field(default_factory=dict)
    board: dict[str, int] = field(default_factory=dict)
    answers: dict[int, dict[str, AnswerRecord]] = field(default_factory=dict)
    dist: dict[int, dict[str, int]] = field(default_factory=dict)


def _expiry() -> float:
    return time.monotonic() + GAME_TTL_MS / 1000


class MemoryLiveStore:
    """The live store in this process (see ``store.py`` for the semantics)."""

    def __init__(self) -> None:
        self._games: dict[str, _Game] = {}
        self._pins: dict[str, tuple[str, float]] = {}
        self._handlers: dict[str, list[InvalidationHandler]] = {}
        self._lock = asyncio.Lock()

    def _game(self, game_id: str) -> _Game | None:
        game = self._games.get(game_id)
        if game is not None and game.expires <= time.monotonic():
            del self._games[game_id]
            return None
        return game

    def _touch(self, game: _Game) -> None:
        game.expires = _expiry()
        self._pins[game.meta.pin] = (game.meta.game_id, game.expires)

    async def create_game(
        self, game_id: str, pin: str, *, count: int, max_players: int, streak: bool
    ) -> bool:
        """See ``LiveStore.create_game``."""
        async with self._lock:
            if (held := self._pins.get(pin)) is not None and held[1] > time.monotonic():
                return held[0] == game_id
            meta = GameMeta(
                game_id=game_id,
                pin=pin,
                phase=Phase.LOBBY,
                index=LOBBY_INDEX,
                count=count,
                started_ms=0,
                deadline_ms=0,
                limit_ms=0,
                closed_ms=0,
                remaining_ms=0,
                version=1,
                players=0,
                streak=streak,
                max_players=max_players,
            )
            self._games[game_id] = game = _Game(meta, _expiry())
            self._touch(game)
            return True

    async def game_of_pin(self, pin: str) -> str | None:
        """See ``LiveStore.game_of_pin``."""
        held = self._pins.get(pin)
        return held[0] if held is not None and held[1] > time.monotonic() else None

    async def meta(self, game_id: str) -> GameMeta | None:
        """See ``LiveStore.meta``."""
        game = self._game(game_id)
        return game.meta if game else None

    async def join(self, game_id: str, player_id: str, nick: str, nick_key: str) -> JoinOutcome:
        """See ``LiveStore.join``."""
        async with self._lock:
            game = self._game(game_id)
            if game is None:
                return JoinOutcome(JoinStatus.UNKNOWN)
            meta = game.meta
            holder = game.nicks.get(nick_key)
            if holder == player_id:
                return JoinOutcome(JoinStatus.OK, meta.players, meta.version)
            if meta.phase is Phase.ENDED:
                return JoinOutcome(JoinStatus.ENDED, meta.players, meta.version)
            if meta.players >= meta.max_players:
                return JoinOutcome(JoinStatus.FULL, meta.players, meta.version)
            if holder is not None or player_id in game.players:
                return JoinOutcome(JoinStatus.TAKEN, meta.players, meta.version)
            game.players[player_id] = PlayerRecord(player_id, nick, 0, 0, NO_CORRECT, False)
            game.nicks[nick_key] = player_id
            game.board[player_id] = 0
            game.meta = replace(meta, players=meta.players + 1, version=meta.version + 1)
            self._touch(game)
            return JoinOutcome(JoinStatus.OK, game.meta.players, game.meta.version)

    async def kick(self, game_id: str, player_id: str) -> bool:
        """See ``LiveStore.kick``."""
        async with self._lock:
            game = self._game(game_id)
            player = game.players.get(player_id) if game else None
            if game is None or player is None or player.kicked:
                return False
            game.players[player_id] = replace(player, kicked=True)
            game.board.pop(player_id, None)
            meta = game.meta
            game.meta = replace(meta, players=meta.players - 1, version=meta.version + 1)
            self._touch(game)
            return True

    async def leave(self, game_id: str, player_id: str, nick_key: str) -> bool:
        """See ``LiveStore.leave``."""
        async with self._lock:
            game = self._game(game_id)
            player = game.players.pop(player_id, None) if game else None
            if game is None or player is None:
                return False
            if game.nicks.get(nick_key) == player_id:
                del game.nicks[nick_key]
            game.board.pop(player_id, None)
            meta = game.meta
            players = meta.players if player.kicked else meta.players - 1
            game.meta = replace(meta, players=players, version=meta.version + 1)
            self._touch(game)
            return True

    async def _transition(
        self,
        game_id: str,
        expected: Collection[Phase],
        expected_index: int | None,
        change: Any,
    ) -> TransitionResult:
        async with self._lock:
            game = self._game(game_id)
            if game is None:
                return TransitionResult(False, None)
            meta = game.meta
            if meta.phase not in expected or (
                expected_index is not None and meta.index != expected_index
            ):
                return TransitionResult(False, meta)
            changed = cast(GameMeta | None, change(meta))
            if changed is None:
                return TransitionResult(False, meta)
            game.meta = replace(changed, version=meta.version + 1)
            self._touch(game)
            return TransitionResult(True, game.meta)

    async def start_question(
        self,
        game_id: str,
        index: int,
        *,
        started_ms: int,
        limit_ms: int,
        expected: Collection[Phase] = (Phase.LOBBY, Phase.CLOSED),
    ) -> TransitionResult:
        """See ``LiveStore.start_question``."""

        def start(m: GameMeta) -> GameMeta | None:
            if index != m.index + 1 or index >= m.count:
                return None
            return replace(
                m,
                phase=Phase.QUESTION,
                index=index,
                started_ms=started_ms,
                deadline_ms=started_ms + limit_ms,
                limit_ms=limit_ms,
                closed_ms=0,
                remaining_ms=0,
            )

        return await self._transition(game_id, expected, None, start)

    async def close_question(self, game_id: str, index: int, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.close_question``."""
        return await self._transition(
            game_id,
            (Phase.QUESTION, Phase.PAUSED),
            index,
            lambda m: replace(m, phase=Phase.CLOSED, closed_ms=m.closed_ms or now_ms),
        )

    async def pause(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.pause``."""
        return await self._transition(
            game_id,
            (Phase.QUESTION,),
            None,
            lambda m: replace(
                m,
                phase=Phase.PAUSED,
                closed_ms=now_ms,
                remaining_ms=max(m.deadline_ms - now_ms, 0),
            ),
        )

    async def resume(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.resume``."""

        def resume(m: GameMeta) -> GameMeta:
            deadline = now_ms + m.remaining_ms
            return replace(
                m,
                phase=Phase.QUESTION,
                deadline_ms=deadline,
                started_ms=deadline - m.limit_ms,
                closed_ms=0,
                remaining_ms=0,
            )

        return await self._transition(game_id, (Phase.PAUSED,), None, resume)

    async def end(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """See ``LiveStore.end``."""
        return await self._transition(
            game_id,
            (Phase.LOBBY, Phase.QUESTION, Phase.CLOSED, Phase.PAUSED),
            None,
            lambda m: replace(m, phase=Phase.ENDED, closed_ms=m.closed_ms or now_ms),
        )

    async def answer(
        self,
        game_id: str,
        index: int,
        player_id: str,
        answer: object,
        *,
        fraction: float,
        points: int,
        received_ms: int,
        elapsed_ms: int,
        grace_ms: int,
        dist_keys: Sequence[str],
    ) -> AnswerOutcome:
        """See ``LiveStore.answer``."""
        # Round-tripped through JSON like the Redis record (and refused alike if it
        # cannot be).
        stored = json.loads(json.dumps(answer, allow_nan=False))
        async with self._lock:
            game = self._game(game_id)
            player = game.players.get(player_id) if game else None
            if game is None or player is None:
                return AnswerOutcome(AnswerStatus.UNKNOWN)
            if player.kicked:
                return AnswerOutcome(AnswerStatus.KICKED)
            meta = game.meta
            answers = game.answers.setdefault(index, {})
            if (previous := answers.get(player_id)) is not None:
                return AnswerOutcome(
                    AnswerStatus.ALREADY, previous, len(answers), meta.players, player.streak
                )
            if meta.index != index or meta.phase not in (
                Phase.QUESTION,
                Phase.CLOSED,
                Phase.PAUSED,
            ):
                return AnswerOutcome(AnswerStatus.NOT_OPEN)
            if received_ms > meta.deadline_ms + grace_ms or (
                meta.closed_ms > 0 and received_ms > meta.closed_ms
            ):
                return AnswerOutcome(AnswerStatus.LATE)
            fraction = min(max(fraction, 0.0), 1.0)
            streak, last_correct = 0, player.last_correct
            if fraction >= 1:
                streak = player.streak + 1 if player.last_correct == index - 1 else 1
                last_correct = index
            bonus = streak_bonus(streak) if meta.streak else 0
            record = AnswerRecord(stored, fraction, points, bonus, received_ms, elapsed_ms)
            answers[player_id] = record
            game.players[player_id] = replace(
                player,
                score=player.score + points + bonus,
                streak=streak,
                last_correct=last_correct,
            )
            game.board[player_id] = game.board.get(player_id, 0) + points + bonus
            dist = game.dist.setdefault(index, {})
            for key in dist_keys:
                dist[key] = dist.get(key, 0) + 1
            self._touch(game)
            return AnswerOutcome(
                AnswerStatus.OK,
                record,
                len(answers),
                meta.players,
                streak,
                after_close=meta.phase is not Phase.QUESTION,
            )

    async def player(self, game_id: str, player_id: str) -> PlayerRecord | None:
        """See ``LiveStore.player``."""
        game = self._game(game_id)
        return game.players.get(player_id) if game else None

    async def players(self, game_id: str) -> list[PlayerRecord]:
        """See ``LiveStore.players``."""
        game = self._game(game_id)
        return list(game.players.values()) if game else []

    async def board_top(self, game_id: str, limit: int) -> list[BoardEntry]:
        """See ``LiveStore.board_top``."""
        game = self._game(game_id)
        if game is None or limit <= 0:
            return []
        best = sorted(game.board.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:limit]
        return [BoardEntry(pid, game.players[pid].nick, score) for pid, score in best]

    async def standings(
        self, game_id: str, player_ids: Sequence[str], index: int
    ) -> dict[str, Standing]:
        """See ``LiveStore.standings``."""
        game = self._game(game_id)
        if game is None:
            return {}
        scores = sorted(game.board.values(), reverse=True)
        answers = game.answers.get(index, {})
        out: dict[str, Standing] = {}
        for pid in player_ids:
            player = game.players.get(pid)
            if player is None:
                continue
            rank = 0
            if pid in game.board:
                score = game.board[pid]
                rank = 1 + sum(1 for s in scores if s > score)
            out[pid] = Standing(
                pid, player.score, rank, player.streak, player.kicked, answers.get(pid)
            )
        return out

    async def answered_count(self, game_id: str, index: int) -> int:
        """See ``LiveStore.answered_count``."""
        game = self._game(game_id)
        return len(game.answers.get(index, {})) if game else 0

    async def distribution(self, game_id: str, index: int) -> dict[str, int]:
        """See ``LiveStore.distribution``."""
        game = self._game(game_id)
        return dict(game.dist.get(index, {})) if game else {}

    async def answers(self, game_id: str, index: int) -> dict[str, AnswerRecord]:
        """See ``LiveStore.answers``."""
        game = self._game(game_id)
        return dict(game.answers.get(index, {})) if game else {}

    async def publish(self, game_id: str, message: str) -> None:
        """See ``LiveStore.publish``."""
        for handler in list(self._handlers.get(game_id, [])):
            await _call(handler, message)

    async def subscribe(self, game_id: str, handler: InvalidationHandler) -> _Subscription:
        """See ``LiveStore.subscribe``."""
        self._handlers.setdefault(game_id, []).append(handler)
        await _call(handler, "*")
        return _Subscription(self._handlers, game_id, handler)

    async def close(self) -> None:
        """See ``LiveStore.close``."""
        self._handlers.clear()


class _Subscription:
    def __init__(
        self,
        handlers: dict[str, list[InvalidationHandler]],
        game_id: str,
        handler: InvalidationHandler,
    ) -> None:
        self._handlers, self._game_id, self._handler = handlers, game_id, handler

    async def close(self) -> None:
        handlers = self._handlers.get(self._game_id, [])
        if self._handler in handlers:
            handlers.remove(self._handler)


async def _call(handler: InvalidationHandler, message: str) -> None:
    result = handler(message)
    if result is not None:
        await cast(Any, result)
