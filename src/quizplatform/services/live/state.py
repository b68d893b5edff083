"""The "state" messages of a live game (the player's and the host's), built from the
live store: what everyone sees, then each player's own part (``you``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quizplatform.domain.live import Phase, public_correct, public_question
from quizplatform.domain.questions import Question
from quizplatform.services.errors import NotFound
from quizplatform.services.live.messages import (
    BoardLine,
    PlayerResult,
    RankedLine,
    State,
)
from quizplatform.services.live.options import LiveRefused
from quizplatform.services.live.persist import GameRecord
from quizplatform.services.live.records import GameMeta, PlayerRecord, Standing
from quizplatform.services.live.seats import Seat
from quizplatform.services.live.store import LiveStore

LEADERBOARD_SIZE = 10
LOBBY_SIZE = 200
_SHOWS_QUESTION = (Phase.QUESTION, Phase.PAUSED, Phase.CLOSED)
_REVEALED = (Phase.CLOSED, Phase.ENDED)


class StateBuilder:
    """Builds state messages; the loaders give a game's fixed facts and questions."""

    def __init__(
        self,
        store: LiveStore,
        game: Callable[[str], Awaitable[GameRecord]],
        questions: Callable[[GameRecord], Awaitable[dict[str, Question]]],
        clock: Callable[[], int],
    ) -> None:
        self.store = store
        self._load_game = game
        self._load_questions = questions
        self.clock = clock

    async def _meta(self, game_id: str) -> GameMeta:
        meta = await self.store.meta(game_id)
        if meta is None:
            raise NotFound("no such game")
        return meta

    async def common(self, game_id: str, *, host: bool = False) -> State:
        """What every player of the game sees now (``host`` adds the player ids to the
        leaderboard)."""
        game = await self._load_game(game_id)
        meta = await self._meta(game_id)
        now = self.clock()
        question: Question | None = None
        if meta.phase in _SHOWS_QUESTION and 0 <= meta.index < len(game.question_ids):
            question = (await self._load_questions(game))[game.question_ids[meta.index]]
        remaining = 0
        if meta.phase is Phase.QUESTION:
            remaining = max(meta.deadline_ms - now, 0)
        elif meta.phase is Phase.PAUSED:
            remaining = meta.remaining_ms
        state: State = {
            "type": "state",
            "game_id": game_id,
            "version": meta.version,
            "phase": meta.phase.value,
            "index": meta.index,
            "count": meta.count,
            "question": None,
            "started_ms": meta.started_ms,
            "deadline_ms": meta.deadline_ms,
            "limit_ms": meta.limit_ms,
            "remaining_ms": remaining,
            "server_ms": now,
            "players": meta.players,
        }
        if question is not None:
            seed = f"{game.order_key}:{meta.index}" if game.shuffle_options else None
            state["question"] = public_question(question, shuffle_seed=seed)
        if meta.phase in _REVEALED:
            top = await self.store.board_top(game_id, LEADERBOARD_SIZE)
            lines: list[BoardLine] = []
            for e in top:
                line: BoardLine = {"nickname": e.nick, "score": e.score}
                if host:
                    line["player_id"] = e.player_id
                lines.append(line)
            state["leaderboard"] = lines
        if meta.phase is Phase.CLOSED and question is not None:
            state["correct"] = public_correct(question)
        return state

    async def player(self, seat: Seat) -> State:
        """The player's state; ``LiveRefused("kicked")`` once kicked."""
        state = await self.common(seat.game_id)
        standing = (await self.store.standings(seat.game_id, [seat.player_id], state["index"])).get(
            seat.player_id
        )
        if standing is None:
            raise NotFound("no such player in this game")
        return personalise(state, seat, standing)

    async def players(self, game_id: str, seats: list[Seat]) -> dict[str, State | None]:
        """The state of each seat's player, built once and personalised with one round
        trip to the store; None for a player kicked (or unknown)."""
        state = await self.common(game_id)
        ids = [seat.player_id for seat in seats]
        standings = await self.store.standings(game_id, ids, state["index"])
        views: dict[str, State | None] = {}
        for seat in seats:
            standing = standings.get(seat.player_id)
            views[seat.player_id] = (
                None if standing is None or standing.kicked else personalise(state, seat, standing)
            )
        return views

    async def host(self, game_id: str) -> State:
        """The host's state: answer count, distribution once closed, the lobby."""
        game = await self._load_game(game_id)
        state = await self.common(game_id, host=True)
        state["pin"] = game.pin
        phase, index = Phase(state["phase"]), state["index"]
        state["answers"] = await self.store.answered_count(game_id, index) if index >= 0 else 0
        if phase in _REVEALED and index >= 0:
            state["distribution"] = await self.store.distribution(game_id, index)
        if phase is Phase.LOBBY:
            players = [p for p in await self.store.players(game_id) if not p.kicked]
            players = players[:LOBBY_SIZE]
            state["lobby"] = [p.nick for p in players]
            state["lobby_players"] = [
                {"player_id": p.player_id, "nickname": p.nick} for p in players
            ]
        return state

    async def results(self, game_id: str, player_ids: list[str]) -> dict[str, PlayerResult]:
        """Each player's score, rank, streak and last answer (points, bonus, correct,
        whatever the phase: hide them before the question closes), one round trip."""
        meta = await self._meta(game_id)
        standings = await self.store.standings(game_id, player_ids, meta.index)
        return {pid: result_of(s) for pid, s in standings.items()}


def result_of(standing: Standing) -> PlayerResult:
    """A player's standing as ``results_for`` gives it."""
    last = standing.last
    return {
        "score": standing.score,
        "rank": standing.rank,
        "streak": standing.streak,
        "kicked": standing.kicked,
        "answered": last is not None,
        "points": None if last is None else last.total,
        "bonus": None if last is None else last.bonus,
        "correct": None if last is None else last.fraction >= 1,
    }


def personalise(state: State, seat: Seat, standing: Standing) -> State:
    """``state`` (from ``StateBuilder.common``) with the player's own part: ``answered``
    and ``you`` (the last answer's points only once the question has closed)."""
    if standing.kicked:
        raise LiveRefused("kicked", "you were removed from this game")
    last = standing.last
    revealed = state["phase"] in (Phase.CLOSED.value, Phase.ENDED.value)
    mine = state.copy()
    mine["answered"] = last is not None
    mine["you"] = {
        "player_id": seat.player_id,
        "nickname": seat.nickname,
        "score": standing.score if revealed else standing.score - (last.total if last else 0),
        "rank": standing.rank,
        "streak": standing.streak,
        "last": (
            {"points": last.points, "bonus": last.bonus, "correct": last.fraction >= 1}
            if revealed and last is not None
            else None
        ),
    }
    return mine


def final_leaderboard(players: list[PlayerRecord]) -> list[RankedLine]:
    """Every player not kicked, best first; equal scores share a rank."""
    board = sorted(
        (p for p in players if not p.kicked), key=lambda p: (-p.score, p.nick.casefold())
    )
    ranked: list[RankedLine] = []
    for position, p in enumerate(board, start=1):
        rank = ranked[-1]["rank"] if ranked and ranked[-1]["score"] == p.score else position
        ranked.append(
            {"player_id": p.player_id, "nickname": p.nick, "score": p.score, "rank": rank}
        )
    return ranked
