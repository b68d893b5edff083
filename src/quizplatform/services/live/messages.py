"""The shapes of what the live game service returns: JSON documents the transport sends
as they are (the "state" and "ack" messages of the spec), typed."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class SkippedQuestion(TypedDict):
    """A question of the quiz a live game cannot play (essay, matching, description)."""

    id: str
    type: str


class CreatedGame(TypedDict):
    id: str
    pin: str
    join_url_path: str
    questions: int
    skipped: list[SkippedQuestion]


class Ack(TypedDict):
    """The answer's acknowledgement (the transport adds the client's ``id``)."""

    type: Literal["ack"]
    accepted: bool
    already: NotRequired[bool]
    reason: NotRequired[str]  # late, not_open, invalid, kicked, ended, unknown


class BoardLine(TypedDict):
    nickname: str
    score: int
    player_id: NotRequired[str]  # the host's view only


class RankedLine(TypedDict):
    player_id: str
    nickname: str
    score: int
    rank: int


class GameResults(TypedDict):
    """What an ended game keeps (``live_games.results``)."""

    leaderboard: list[RankedLine]
    ended_ms: int


class LastAnswer(TypedDict):
    points: int
    bonus: int
    correct: bool


class You(TypedDict):
    player_id: str
    nickname: str
    score: int
    rank: int
    streak: int
    last: LastAnswer | None


class LobbyPlayer(TypedDict):
    player_id: str
    nickname: str


class State(TypedDict):
    """The "state" message; the player's adds ``answered`` and ``you``, the host's
    ``pin``, ``answers``, ``distribution`` and the lobby."""

    type: Literal["state"]
    game_id: str
    version: int
    phase: str
    index: int
    count: int
    question: dict[str, object] | None
    started_ms: int
    deadline_ms: int
    limit_ms: int
    remaining_ms: int
    server_ms: int
    players: int
    leaderboard: NotRequired[list[BoardLine]]  # closed, ended
    correct: NotRequired[dict[str, object]]  # closed
    answered: NotRequired[bool]
    you: NotRequired[You]
    pin: NotRequired[str]
    answers: NotRequired[int]
    distribution: NotRequired[dict[str, int]]
    lobby: NotRequired[list[str]]
    lobby_players: NotRequired[list[LobbyPlayer]]


class PlayerResult(TypedDict):
    """A player's standing (``results_for``); the last answer's figures whatever the
    phase: hide them until the question closes."""

    score: int
    rank: int
    streak: int
    kicked: bool
    answered: bool
    points: int | None
    bonus: int | None
    correct: bool | None
