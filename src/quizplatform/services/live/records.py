"""The typed records the live store reads and returns (see ``store.py`` for the API)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from quizplatform.domain.live import Phase

# Every key of a game lives this long after its last write (each write refreshes it).
GAME_TTL_MS = 24 * 3600 * 1000
LOBBY_INDEX = -1
NO_CORRECT = -2  # "last_correct" of a player who has not answered fully right yet


class JoinStatus(StrEnum):
    OK = "ok"
    FULL = "full"
    TAKEN = "taken"
    ENDED = "ended"
    UNKNOWN = "unknown"  # no such game


class AnswerStatus(StrEnum):
    OK = "ok"
    ALREADY = "already"  # this player answered this question before: ``record`` holds it
    NOT_OPEN = "not_open"  # wrong index, or the game is not in that question
    LATE = "late"  # received_ms > deadline_ms + grace_ms
    KICKED = "kicked"
    UNKNOWN = "unknown"  # no such player (or game)


@dataclass(frozen=True)
class GameMeta:
    """The ``live:{g}:meta`` hash. Times are Unix milliseconds on the servers' clocks."""

    game_id: str
    pin: str
    phase: Phase
    index: int  # current question, LOBBY_INDEX in the lobby
    count: int  # questions in the game
    started_ms: int  # when the current question opened (shifted by a pause)
    deadline_ms: int  # when its time is up
    limit_ms: int  # its time limit
    closed_ms: int  # when it was closed, paused or ended (0 while open)
    remaining_ms: int  # while paused: what was left of the question
    version: int  # +1 on every transition, join and kick
    players: int  # players in the game (kicked ones no longer count)
    streak: bool  # whether the streak bonus is on
    max_players: int

    @classmethod
    def from_fields(cls, game_id: str, fields: dict[str, str]) -> GameMeta:
        """Build from the hash's fields (strings, as Redis returns them)."""

        def number(name: str, default: int = 0) -> int:
            value = fields.get(name)
            return int(value) if value not in (None, "") else default

        return cls(
            game_id=game_id,
            pin=fields.get("pin", ""),
            phase=Phase(fields["phase"]),
            index=number("index", LOBBY_INDEX),
            count=number("count"),
            started_ms=number("started_ms"),
            deadline_ms=number("deadline_ms"),
            limit_ms=number("limit_ms"),
            closed_ms=number("closed_ms"),
            remaining_ms=number("remaining_ms"),
            version=number("version"),
            players=number("players"),
            streak=number("streak") == 1,
            max_players=number("max_players"),
        )


@dataclass(frozen=True)
class PlayerRecord:
    """A player of ``live:{g}:players`` (stored as JSON)."""

    player_id: str
    nick: str
    score: int
    streak: int  # consecutive fully right answers
    last_correct: int  # index of the last fully right answer, NO_CORRECT if none
    kicked: bool

    @classmethod
    def from_json(cls, player_id: str, raw: str | bytes) -> PlayerRecord:
        """Parse the stored JSON."""
        data = json.loads(raw)
        return cls(
            player_id=player_id,
            nick=str(data["nick"]),
            score=int(data["score"]),
            streak=int(data["streak"]),
            last_correct=int(data["last_correct"]),
            kicked=bool(data["kicked"]),
        )

    def to_json(self) -> str:
        """The stored JSON."""
        return json.dumps(
            {
                "nick": self.nick,
                "score": self.score,
                "streak": self.streak,
                "last_correct": self.last_correct,
                "kicked": self.kicked,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class AnswerRecord:
    """One player's answer to one question (``live:{g}:a:{i}``, stored as JSON).

    ``answer`` is the parsed payload (``domain.scoring.parse_response``'s result).
    """

    answer: object
    fraction: float
    points: int  # speed points (domain.live.live_points), without the bonus
    bonus: int  # streak bonus
    received_ms: int
    elapsed_ms: int

    @property
    def total(self) -> int:
        """Points added to the score."""
        return self.points + self.bonus

    @classmethod
    def from_json(cls, raw: str | bytes) -> AnswerRecord:
        """Parse the stored JSON."""
        data = json.loads(raw)
        return cls(
            answer=data["answer"],
            fraction=float(data["fraction"]),
            points=int(data["points"]),
            bonus=int(data["bonus"]),
            received_ms=int(data["received_ms"]),
            elapsed_ms=int(data["elapsed_ms"]),
        )


@dataclass(frozen=True)
class JoinOutcome:
    status: JoinStatus
    players: int = 0  # players after the join (when ok)
    version: int = 0


@dataclass(frozen=True)
class AnswerOutcome:
    """What ``LiveStore.answer`` did. ``record`` is set for ``ok`` and ``already``."""

    status: AnswerStatus
    record: AnswerRecord | None = None
    answered: int = 0  # answers to this question so far (ok/already)
    players: int = 0  # players in the game (ok/already)
    streak: int = 0  # the player's streak after this answer (ok)
    # ok, but the question had been closed or paused meanwhile (the answer was read in
    # time): a state already sent with the question's results is stale, send it again.
    after_close: bool = False


@dataclass(frozen=True)
class BoardEntry:
    player_id: str
    nick: str
    score: int


@dataclass(frozen=True)
class Standing:
    """A player's place: ``rank`` is 1 + the players with a strictly higher score (ties
    share a rank); ``last`` is their answer to the question asked for (None if none)."""

    player_id: str
    score: int
    rank: int
    streak: int
    kicked: bool
    last: AnswerRecord | None = None


@dataclass(frozen=True)
class TransitionResult:
    """A compare-and-set transition: ``applied`` False when the phase (or index) was not
    the expected one; ``meta`` is the game as it is after the call (None: no game)."""

    applied: bool
    meta: GameMeta | None = field(default=None)
