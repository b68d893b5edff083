"""The live game store: a game's state in Redis (atomic Lua scripts) or in process.

API summary (every method is async; times are Unix milliseconds; ``g`` is the game id)::

    create_game(g, pin, count=, max_players=, streak=) -> bool     # False: pin taken
    game_of_pin(pin) -> str | None
    meta(g) -> GameMeta | None                                     # phase, index, times, version…
    join(g, player_id, nick, nick_key) -> JoinOutcome              # ok|full|taken|ended|unknown
    kick(g, player_id) -> bool                                     # True if kicked now
    leave(g, player_id, nick_key) -> bool                          # undo a join entirely
    start_question(g, i, started_ms=, limit_ms=, expected=) -> TransitionResult
    close_question(g, i, now_ms=) -> TransitionResult              # question -> closed
    pause(g, now_ms=) / resume(g, now_ms=) / end(g, now_ms=) -> TransitionResult
    answer(g, i, player_id, answer, fraction=, points=, received_ms=, elapsed_ms=,
           grace_ms=, dist_keys=) -> AnswerOutcome                 # ok|already|not_open|late|…
    player(g, player_id) -> PlayerRecord | None
    players(g) -> list[PlayerRecord]
    board_top(g, limit) -> list[BoardEntry]                        # best first
    standings(g, player_ids, index) -> dict[player_id, Standing]   # one round trip
    answered_count(g, i) -> int
    distribution(g, i) -> dict[str, int]
    answers(g, i) -> dict[player_id, AnswerRecord]                 # for persistence
    publish(g, message) -> None                                    # channel live:{g}
    subscribe(g, handler) -> LiveSubscription                      # .close() to stop

Transitions are compare-and-set on the phase (and the index): of two instances closing the
same question at once exactly one gets ``applied=True`` (and should publish the new
version); a transition retried after a lost connection is recognised and reported applied.
An answer is recorded at most once per player and question; the points and the streak
bonus are added to the score in the same atomic step. The deadline is judged on
``received_ms`` (stamped by the transport on receipt): an answer is accepted while the
game is at that question (open, or closed/paused meanwhile), ``received_ms <= deadline_ms
+ grace_ms`` and, once the question was closed or paused, ``received_ms <= closed_ms``: an
answer read before the close but scored after it still counts, one read after does not.
The speed ``points`` come from the caller (``domain.live.live_points``); the store adds
``domain.live.streak_bonus`` when the game's streak option is on.

Keys (under the shared store's prefix), each with a 24 h TTL refreshed on writes:
``live:pin:{pin}``, ``live:{g}:meta``, ``:players``, ``:nicks``, ``:board``, ``:a:{i}``,
``:dist:{i}``; pub/sub channel ``live:{g}``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from quizplatform.db.shared_store import InvalidationHandler, KeyValueStore, RedisStore
from quizplatform.domain.live import Phase
from quizplatform.services.live.records import (
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

__all__ = [
    "AnswerOutcome",
    "AnswerRecord",
    "AnswerStatus",
    "BoardEntry",
    "GameMeta",
    "JoinOutcome",
    "JoinStatus",
    "LiveStore",
    "LiveSubscription",
    "Phase",
    "PlayerRecord",
    "Standing",
    "TransitionResult",
    "create_live_store",
]


class LiveSubscription(Protocol):
    async def close(self) -> None:
        """Stop delivering messages to the handler (idempotent)."""
        ...


class LiveStore(Protocol):
    async def create_game(
        self, game_id: str, pin: str, *, count: int, max_players: int, streak: bool
    ) -> bool:
        """Claim ``pin`` for the game and write its meta in the lobby phase (index -1,
        version 1, 0 players). False, with nothing written, if the pin is in use."""
        ...

    async def game_of_pin(self, pin: str) -> str | None:
        """The game holding ``pin`` (until 24 h after the game's last write), or None."""
        ...

    async def meta(self, game_id: str) -> GameMeta | None:
        """The game's meta, or None if there is no such game."""
        ...

    async def join(self, game_id: str, player_id: str, nick: str, nick_key: str) -> JoinOutcome:
        """Add a player. ``nick_key`` is the uniqueness key (the casefolded nickname).

        ``ended`` if the game ended, ``full`` if it has ``max_players`` players, ``taken``
        if another player holds ``nick_key`` (a kicked player keeps theirs) or
        ``player_id`` is in the game under another nickname, ``unknown``
        if there is no such game; else ``ok`` (players +1, version +1). Joining again
        with the same player id and key is ``ok`` and changes nothing (a retried call).
        """
        ...

    async def kick(self, game_id: str, player_id: str) -> bool:
        """Mark the player kicked: off the board, no longer counted in ``players``,
        answers refused; version +1. False if unknown or already kicked."""
        ...

    async def leave(self, game_id: str, player_id: str, nick_key: str) -> bool:
        """Undo a join entirely (e.g. when the join's database transaction failed): the
        player, their nickname (if ``nick_key`` is theirs) and their board entry go,
        ``players`` -1 (unless kicked), version +1. False if there is no such player."""
        ...

    async def start_question(
        self,
        game_id: str,
        index: int,
        *,
        started_ms: int,
        limit_ms: int,
        expected: Collection[Phase] = (Phase.LOBBY, Phase.CLOSED),
    ) -> TransitionResult:
        """Open question ``index`` (deadline = started + limit) if the phase is one of
        ``expected`` and the current index is ``index - 1`` (so of two "next" at once
        only one applies). Indexes only go forward; ``index >= count`` is refused."""
        ...

    async def close_question(self, game_id: str, index: int, *, now_ms: int) -> TransitionResult:
        """question(index) or paused(index) -> closed, ``closed_ms = now_ms`` (unless
        already set by a pause: answers read during a pause do not count)."""
        ...

    async def pause(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """question -> paused: ``remaining_ms = max(deadline_ms - now_ms, 0)``,
        ``closed_ms = now_ms``."""
        ...

    async def resume(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """paused -> question with ``deadline_ms = now_ms + remaining_ms`` and
        ``started_ms = deadline_ms - limit_ms`` (elapsed time excludes the pause),
        ``closed_ms = 0``."""
        ...

    async def end(self, game_id: str, *, now_ms: int) -> TransitionResult:
        """Any phase but ended -> ended (``closed_ms = now_ms`` unless already set)."""
        ...

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
        """Record the player's answer to question ``index`` once, atomically.

        Checks, in order: game and player exist (``unknown``), not kicked (``kicked``),
        no earlier answer (``already``, with the stored record, whatever the phase now),
        the game is at ``index`` in phase question, closed or paused (``not_open``),
        ``received_ms <= deadline_ms + grace_ms`` and ``<= closed_ms`` if set (``late``).
        Then stores the record, updates the streak (fraction 1: +1 if the last fully
        right answer was ``index - 1``, else 1; otherwise 0), adds ``points`` + bonus to
        the score and the board, and +1 to each of ``dist_keys`` in the distribution
        (``domain.live.grade_answer``'s keys). ``answer`` must be JSON-serialisable.
        """
        ...

    async def player(self, game_id: str, player_id: str) -> PlayerRecord | None:
        """One player, or None."""
        ...

    async def players(self, game_id: str) -> list[PlayerRecord]:
        """Every player, kicked ones included, in no particular order."""
        ...

    async def board_top(self, game_id: str, limit: int) -> list[BoardEntry]:
        """The best ``limit`` players, highest score first (equal scores: player id
        descending, as Redis' ZREVRANGE orders them). Kicked players are not on it."""
        ...

    async def standings(
        self, game_id: str, player_ids: Sequence[str], index: int
    ) -> dict[str, Standing]:
        """Score, rank, streak and answer to question ``index`` of each known player,
        in one round trip (unknown ids are left out)."""
        ...

    async def answered_count(self, game_id: str, index: int) -> int:
        """How many players answered question ``index``."""
        ...

    async def distribution(self, game_id: str, index: int) -> dict[str, int]:
        """The answer counts of question ``index`` by distribution key."""
        ...

    async def answers(self, game_id: str, index: int) -> dict[str, AnswerRecord]:
        """Every answer to question ``index`` by player id."""
        ...

    async def publish(self, game_id: str, message: str) -> None:
        """Send ``message`` to every subscriber of the game's channel, on any instance."""
        ...

    async def subscribe(self, game_id: str, handler: InvalidationHandler) -> LiveSubscription:
        """Call ``handler`` with each message on the game's channel, and with ``"*"``
        when messages may have been missed (at the start and after a reconnection).
        The handler runs on the listener's task: keep it short (queue the work)."""
        ...

    async def close(self) -> None:
        """Stop every subscription (the shared store's connections stay open)."""
        ...


def create_live_store(store: KeyValueStore) -> LiveStore:
    """The live store matching the shared store: Redis (sharing its connection pool,
    prefix and metrics) for a ``RedisStore``, else the in-process one."""
    from quizplatform.services.live.store_memory import MemoryLiveStore
    from quizplatform.services.live.store_redis import RedisLiveStore

    if isinstance(store, RedisStore):
        return RedisLiveStore(store)
    return MemoryLiveStore()
