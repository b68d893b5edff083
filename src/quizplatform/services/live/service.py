"""``LiveGameService``: the live classroom game as the transport, web and bench use it.

The running game is in the live store (``store.py``; Redis with atomic scripts, shared by
every instance); the database keeps the game, each player's attempt and every accepted
answer, which is written before it is acknowledged (``persist.py``). A player's id is
their attempt's id. Each change of the game is published as ``{"v": version}`` on the
game's channel for the instances' hubs to fan out.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from quizplatform.data import load_nickname_blocklist
from quizplatform.db.shared_store import KeyValueStore
from quizplatform.domain.live import (
    NicknameRejected,
    Phase,
    grade_answer,
    live_points,
    new_pin,
    nickname_key,
    normalize_nickname,
)
from quizplatform.domain.questions import Question
from quizplatform.domain.scoring import InvalidResponse, score_question
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.attempts import AttemptService
from quizplatform.services.errors import Forbidden, Invalid, NotFound
from quizplatform.services.live.joins import JoinLimits
from quizplatform.services.live.messages import Ack, CreatedGame, GameResults, PlayerResult, State
from quizplatform.services.live.options import GameOptions, LiveConflict, LiveRefused
from quizplatform.services.live.persist import GameRecord, LiveRecords
from quizplatform.services.live.records import AnswerStatus, JoinStatus, TransitionResult
from quizplatform.services.live.seats import Seat, SeatSigner
from quizplatform.services.live.setup import plan_game
from quizplatform.services.live.state import StateBuilder, final_leaderboard
from quizplatform.services.live.store import LiveStore
from quizplatform.services.quizzes import QuizService

__all__ = ["GameOptions", "LiveConflict", "LiveGameService", "LiveRefused", "Seat"]

log = structlog.get_logger(__name__)

PIN_TRIES = 20
#: How late after a question's start an instance's delivery of it still counts as the
#: player's start (speed points); a later delivery (a reconnect) counts from here.
DELIVERY_SLACK_MS = 1000
_CACHED_GAMES = 1000
ACTIONS = frozenset({"start", "next", "pause", "resume", "skip", "end", "kick"})


def wall_ms() -> int:
    """The server's clock in Unix milliseconds."""
    return time.time_ns() // 1_000_000


class LiveGameService:
    """Creates, joins, runs and ends live games."""

    def __init__(
        self,
        settings: Settings,
        store: LiveStore,
        kv: KeyValueStore,
        records: LiveRecords,
        quizzes: QuizService,
        attempts: AttemptService,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.settings = settings
        self.store = store
        self.limits = JoinLimits(settings, kv)
        self.records = records
        self.quizzes = quizzes
        self.attempts = attempts
        self.clock = clock
        self.seats = SeatSigner(settings.secret_key.get_secret_value())
        self.views = StateBuilder(store, self._game, self._questions, clock)
        self._games: dict[str, GameRecord] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- games --------------------------------------------------------------------------
    async def _game(self, game_id: str) -> GameRecord:
        game = self._games.get(game_id)
        if game is None:
            game = await self.records.load(game_id)
            if game is None:
                raise NotFound("no such game")
            if len(self._games) >= _CACHED_GAMES:
                self._games.clear()
            self._games[game_id] = game
        return game

    async def _questions(self, game: GameRecord) -> dict[str, Question]:
        return await self.attempts.lifecycle.questions_of(game.quiz_id, game.question_ids)

    async def create_game(self, host: Principal, quiz_id: str, options: GameOptions) -> CreatedGame:
        """A new game of the host's quiz in its lobby, with a fresh PIN."""
        if not host.can_author:
            raise Forbidden("only teachers can host live games")
        snap = await self.quizzes.owned(host, quiz_id)
        chosen = options.resolved(self.settings)
        plan = await plan_game(self.records.db, self.attempts, snap)
        if not plan.question_ids:
            raise Invalid(
                "this quiz has no question a live game can play",
                [{"loc": ["body", "quiz_id"], "message": "no playable question"}],
            )
        game_id = secrets.token_hex(16)
        rng = secrets.SystemRandom()
        for _ in range(PIN_TRIES):
            pin = new_pin(rng)
            if await self.store.create_game(
                game_id,
                pin,
                count=len(plan.question_ids),
                max_players=chosen.max_players or self.settings.live_max_players,
                streak=chosen.streak,
            ):
                break
        else:
            raise LiveConflict("pins", "no free PIN found; try again")
        doc = {**chosen.document(), "shuffle_options": snap.settings.shuffle_options}
        record = GameRecord(
            id=game_id,
            quiz_id=snap.id,
            host_id=host.user_id,
            pin=pin,
            question_ids=tuple(plan.question_ids),
            drawn=plan.drawn,
            order_key=plan.order_key,
            question_seconds=chosen.question_seconds or self.settings.live_question_seconds,
            streak=chosen.streak,
            require_sign_in=bool(chosen.require_sign_in),
            max_players=chosen.max_players or self.settings.live_max_players,
            shuffle_options=snap.settings.shuffle_options,
        )
        await self.records.create(record, doc)
        self._games[game_id] = record
        return {
            "id": game_id,
            "pin": pin,
            "join_url_path": f"/live/join?pin={pin}",
            "questions": len(plan.question_ids),
            "skipped": plan.skipped,
        }

    async def game_of_pin(self, pin: str) -> str | None:
        """The game a PIN names, or None."""
        if not (isinstance(pin, str) and len(pin) == 6 and pin.isdigit()):
            return None
        return await self.store.game_of_pin(pin)

    async def current_version(self, game_id: str) -> int | None:
        """The game's state version in the store (None: no such game)."""
        meta = await self.store.meta(game_id)
        return None if meta is None else meta.version

    def channel(self, game_id: str) -> str:
        """The game's pub/sub channel (publish through the store)."""
        return f"live:{game_id}"

    async def _publish_version(self, game_id: str, version: int) -> None:
        await self.store.publish(game_id, orjson.dumps({"v": version}).decode())

    # -- joining ------------------------------------------------------------------------
    async def join(
        self, pin: str, nickname: str, *, ip: str, principal: Principal | None
    ) -> tuple[Seat, str]:
        """Take a seat in the game of ``pin``: (seat, signed seat token)."""
        await self.limits.by_address(ip)
        game_id = await self.game_of_pin(pin)
        if game_id is None:
            raise NotFound("no game with this PIN")
        await self.limits.by_game(game_id)
        game = await self._game(game_id)
        if principal is not None and principal.role is Role.GUEST:
            principal = None
        if game.require_sign_in and principal is None:
            raise LiveRefused("sign_in_required", "sign in to join this game")
        try:
            nick = normalize_nickname(nickname, load_nickname_blocklist())
        except NicknameRejected as exc:
            message = str(exc)
            raise Invalid(message, [{"loc": ["body", "nickname"], "message": message}]) from exc
        player_id = secrets.token_hex(16)
        outcome = await self.store.join(game_id, player_id, nick, nickname_key(nick))
        if outcome.status is JoinStatus.TAKEN:
            raise LiveConflict("taken", "this nickname is taken in this game")
        if outcome.status is JoinStatus.ENDED:
            raise LiveConflict("ended", "this game has ended")
        if outcome.status is JoinStatus.FULL:
            raise LiveRefused("full", "this game is full")
        if outcome.status is not JoinStatus.OK:
            raise NotFound("no game with this PIN")
        try:
            await self.records.seat(game, player_id, nick, principal)
        except BaseException:
            await self.store.leave(game_id, player_id, nickname_key(nick))  # no attempt: no seat
            raise
        await self._publish_version(game_id, outcome.version)
        seat = Seat(game_id, player_id, nick)
        return seat, self.seats.sign(seat)

    def seat_from_token(self, token: str) -> Seat:
        """The seat a token carries; ``NotAuthenticated`` if forged or malformed."""
        return self.seats.verify(token)

    # -- views --------------------------------------------------------------------------
    async def player_view(self, seat: Seat) -> State:
        """The player's "state" message."""
        return await self.views.player(seat)

    async def player_views(self, game_id: str, seats: list[Seat]) -> dict[str, State | None]:
        """Every local player's state of one game (the hub's fan-out): the common part
        once, ``you`` for all with one store round trip; None for a kicked player."""
        return await self.views.players(game_id, seats)

    async def host_view(self, game_id: str, host: Principal) -> State:
        """The host's "state" message; Forbidden for anyone but the host or an admin."""
        await self._hosted(game_id, host)
        return await self.views.host(game_id)

    async def results_for(self, game_id: str, player_ids: list[str]) -> dict[str, PlayerResult]:
        """Score, rank, last points and streak of each player, in one round trip."""
        return await self.views.results(game_id, player_ids)

    async def _hosted(self, game_id: str, host: Principal) -> GameRecord:
        game = await self._game(game_id)
        if host.user_id != game.host_id and not host.is_admin:
            raise Forbidden("only the game's host may do this")
        return game

    # -- running ------------------------------------------------------------------------
    async def control(
        self, game_id: str, host: Principal, action: str, player_id: str | None = None
    ) -> State:
        """Start, advance (``next``: open the first question, close the open one, or open
        the next / end after the last), pause, resume, skip (close and move on), end, or
        kick a player. Returns the host view; ``LiveConflict`` in a wrong phase."""
        game = await self._hosted(game_id, host)
        if action not in ACTIONS:
            raise NotFound("no such action")
        meta = await self.store.meta(game_id)
        if meta is None:
            raise NotFound("no such game")
        now = self.clock()
        if action == "kick":
            if not player_id or not await self.store.kick(game_id, player_id):
                raise NotFound("no such player in this game")
            meta = await self.store.meta(game_id)
            if meta is not None:
                await self._publish_version(game_id, meta.version)
            return await self.views.host(game_id)
        if action == "end" or (
            action in ("next", "skip")
            and meta.phase in (Phase.CLOSED, Phase.QUESTION, Phase.PAUSED)
            and meta.index + 1 >= meta.count
            and (action == "skip" or meta.phase is Phase.CLOSED)
        ):
            await self._end(game, now)
            return await self.views.host(game_id)
        if action == "start" or (action == "next" and meta.phase is Phase.LOBBY):
            result = await self.store.start_question(
                game_id,
                0,
                started_ms=now,
                limit_ms=game.question_seconds * 1000,
                expected=(Phase.LOBBY,),
            )
            if result.applied:
                await self.records.mark(game_id, "running", started_at=_utc(now))
        elif action == "next" and meta.phase is Phase.CLOSED:
            result = await self._open(game, meta.index + 1, now)
        elif action in ("next", "skip") and meta.phase in (Phase.QUESTION, Phase.PAUSED):
            result = await self.store.close_question(game_id, meta.index, now_ms=now)
            if result.applied and action == "skip":
                await self._publish_version(game_id, result.meta.version if result.meta else 0)
                result = await self._open(game, meta.index + 1, now)
        elif action == "pause":
            result = await self.store.pause(game_id, now_ms=now)
        elif action == "resume":
            result = await self.store.resume(game_id, now_ms=now)
        else:
            raise LiveConflict("phase", f"cannot {action} while the game is {meta.phase.value}")
        if not result.applied:
            raise LiveConflict("phase", f"cannot {action} while the game is {meta.phase.value}")
        if result.meta is not None:
            await self._publish_version(game_id, result.meta.version)
        return await self.views.host(game_id)

    async def _open(self, game: GameRecord, index: int, now: int) -> TransitionResult:
        return await self.store.start_question(
            game.id,
            index,
            started_ms=now,
            limit_ms=game.question_seconds * 1000,
            expected=(Phase.CLOSED,),
        )

    async def _end(self, game: GameRecord, now: int) -> None:
        """End the game (again, harmlessly: the attempts are submitted once)."""
        result = await self.store.end(game.id, now_ms=now)
        if result.applied and result.meta is not None:
            await self._publish_version(game.id, result.meta.version)
        # An answer the store took just before the end may still be writing its row (on
        # any instance): write every answer the store holds (the same rows: the first
        # write wins) so the attempts are scored on all of them.
        await self._store_answers(game)
        ranked = final_leaderboard(await self.store.players(game.id))
        await self.records.finish(
            game.id, await self._questions(game), GameResults(leaderboard=ranked, ended_ms=now)
        )

    async def _store_answers(self, game: GameRecord) -> None:
        questions = await self._questions(game)
        for index, question_id in enumerate(game.question_ids):
            question = questions[question_id]
            rows = [
                (player, question_id, record.answer, score_question(question, record.answer).score)
                for player, record in (await self.store.answers(game.id, index)).items()
                if isinstance(record.answer, dict)
            ]
            await self.records.save_answers(rows)

    async def answer(
        self, seat: Seat, index: int, payload: object, *, received_ms: int, shown_ms: int | None
    ) -> Ack:
        """Record the player's answer to question ``index`` (stored in the database before
        this returns accepted); the "ack" body, without the client's id."""
        game = await self._game(seat.game_id)
        if not isinstance(index, int) or isinstance(index, bool):
            return _refused("invalid")
        if not 0 <= index < len(game.question_ids):
            return _refused("not_open")
        question_id = game.question_ids[index]
        question = (await self._questions(game))[question_id]
        try:
            graded = grade_answer(question, payload)
        except InvalidResponse:
            return _refused("invalid")
        stored, fraction = graded.response, graded.fraction
        meta = await self.store.meta(game.id)
        if meta is None or meta.phase is Phase.ENDED:
            return _refused("ended")
        if meta.index != index:
            return _refused("not_open")  # the store decides the rest, atomically
        shown = meta.started_ms if shown_ms is None else shown_ms
        # A slow broadcast is forgiven up to the slack, no more: a player who reconnects
        # late in the question must not restart their own clock.
        latest = min(meta.started_ms + DELIVERY_SLACK_MS, meta.deadline_ms)
        shown = min(max(shown, meta.started_ms), latest)
        elapsed = max(received_ms - shown, 0)
        outcome = await self.store.answer(
            game.id,
            index,
            seat.player_id,
            stored,
            fraction=fraction,
            points=live_points(fraction, elapsed, meta.limit_ms or 1),
            received_ms=received_ms,
            elapsed_ms=elapsed,
            grace_ms=self.settings.live_answer_grace_ms,
            dist_keys=graded.dist_keys,
        )
        if outcome.status not in (AnswerStatus.OK, AnswerStatus.ALREADY):
            return _refused(outcome.status.value)
        record = outcome.record
        if outcome.status is AnswerStatus.ALREADY and record is not None:
            # The first answer stands: store it (again, harmlessly) before acknowledging.
            first = record.answer if isinstance(record.answer, dict) else stored
            stored, score = first, score_question(question, first).score
        else:
            score = score_question(question, stored).score
        await self.records.save_answer(seat.player_id, question_id, stored, score)
        if outcome.status is AnswerStatus.OK:
            # The hosts' answer count: not part of the answer, so not on its ack's path.
            self._in_background(
                self.store.publish(
                    game.id, orjson.dumps({"answers": index, "count": outcome.answered}).decode()
                )
            )
            if outcome.after_close:  # results already sent without it: send them again
                await self.store.publish(
                    game.id, orjson.dumps({"v": meta.version, "stale": True}).decode()
                )
            elif outcome.players and outcome.answered >= outcome.players:
                await self.close_if_due(game.id, self.clock())
        return {"type": "ack", "accepted": True, "already": outcome.status is AnswerStatus.ALREADY}

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("live answer count not published", error=str(exc))

    async def close_if_due(self, game_id: str, now_ms: int) -> bool:
        """Close the open question once its deadline (+ grace) has passed or every player
        has answered; True if this call closed it (idempotent across instances)."""
        meta = await self.store.meta(game_id)
        if meta is None or meta.phase is not Phase.QUESTION:
            return False
        due = now_ms > meta.deadline_ms + self.settings.live_answer_grace_ms
        if not due:
            answered = await self.store.answered_count(game_id, meta.index)
            due = meta.players > 0 and answered >= meta.players
        if not due:
            return False
        result = await self.store.close_question(game_id, meta.index, now_ms=now_ms)
        if result.applied and result.meta is not None:
            await self._publish_version(game_id, result.meta.version)
        return result.applied


def _refused(reason: str) -> Ack:
    return {"type": "ack", "accepted": False, "reason": reason}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
