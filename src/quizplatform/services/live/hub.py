"""The per-instance fan-out of live games (issue 19): one ``LiveHub`` per instance.

Players of one game may sit on any instance; the game's state is in the live store
(Redis), and every change of it is announced on the game's channel (``live:{g}``) with a
tiny event: ``{"v": version}`` or ``{"answers": i, "count": n}``. The hub subscribes to
the channel of each game that has a connection (or a long poll) on this instance, and
unsubscribes when the last one leaves.

On a version event the hub rebuilds the game's state once (``LiveGameService``: one
common state, personalised for all its local players with one store round trip:
``player_views``, the scores and ranks as ``results_for`` reads them) and hands each
connection its copy. Events that arrive while a
rebuild runs are coalesced into the next one, so a burst of joins costs one rebuild, not
one per join. Answer counts go to host connections at most ``ANSWERS_PER_SECOND`` times a
second.

A ticker calls ``close_if_due`` every ``TICK_SECONDS`` for the games with an open
question that this instance serves: the question closes on time even if the host's
instance died, and two instances closing it at once close it once (the store's
compare-and-set).

Connections are the transport's (``api/live_socket.py``): the hub only queues messages on
them (``deliver``), never waits for a slow client. On shutdown every connection is closed
with 1012 ("service restart"): the client reconnects at once, to another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from quizplatform.runtime.metrics import Metrics
from quizplatform.services.errors import ServiceError

if TYPE_CHECKING:
    from quizplatform.services.accounts import Principal
    from quizplatform.services.live.seats import Seat

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.1
ANSWERS_PER_SECOND = 4
#: Close code of a socket whose instance is shutting down (RFC 6455: service restart).
CLOSE_RESTART = 1012
CLOSE_KICKED = 4403
CLOSE_NO_GAME = 4404
#: A long poll wakes this often to look at the game itself (a missed event costs at
#: most this much delay, never a hung request).
POLL_RECHECK_SECONDS = 1.0
#: Pub/sub delivers at most once: a game with no event for this long compares its
#: version in the store with the one pushed, so a lost event costs at most this delay.
PUSH_RECHECK_SECONDS = 1.0
STOP_SECONDS = 1.0

Message = dict[str, object]


def now_ms() -> int:
    """The server's clock in Unix milliseconds (how the deadline is judged)."""
    return time.time_ns() // 1_000_000


class LiveConnection(Protocol):
    """One client of a game on this instance, as the hub sees it."""

    game_id: str
    seat: Seat | None  # a player's seat; None for a host
    host: Principal | None  # the host's principal; None for a player

    def deliver(self, message: Message) -> None:
        """Queue ``message`` for the client (never blocks)."""
        ...

    def deliver_state(self, state: Message) -> None:
        """Queue ``state``, replacing a state not sent yet (coalescing)."""
        ...

    async def close(self, code: int) -> None:
        """Close the connection with ``code``."""
        ...


class Subscription(Protocol):
    async def close(self) -> None: ...


class LiveEvents(Protocol):
    """Where game events come from (``LiveStore.subscribe``)."""

    async def subscribe(
        self, game_id: str, handler: Callable[[str], Awaitable[None] | None]
    ) -> Subscription: ...


class LiveViews(Protocol):
    """``LiveGameService`` as the hub uses it."""

    async def player_views(
        self, game_id: str, seats: list[Seat]
    ) -> Mapping[str, Mapping[str, object] | None]: ...

    async def host_view(self, game_id: str, host: Principal) -> Mapping[str, object]: ...

    async def close_if_due(self, game_id: str, now_ms: int) -> bool: ...

    async def current_version(self, game_id: str) -> int | None: ...


@dataclass(eq=False)
class _Game:
    """One game as this instance serves it."""

    game_id: str
    players: set[LiveConnection] = field(default_factory=set)
    hosts: set[LiveConnection] = field(default_factory=set)
    waiters: int = 0  # long polls in progress
    subscription: Subscription | None = None
    phase: str = ""  # as last seen (the ticker only looks at open questions)
    version: int = -1  # the newest version announced or seen
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # long polls wait on it
    refresher: asyncio.Task[None] | None = None
    answers: tuple[int, int] | None = None  # (index, count) not yet sent to hosts
    answers_sent: float = 0.0
    stale: bool = False  # the state changed since it was last pushed
    pushed: int = -1  # the version last pushed to this game's connections
    stopped: bool = False

    @property
    def idle(self) -> bool:
        return not self.players and not self.hosts and self.waiters == 0


class LiveHub:
    """See the module docstring."""

    def __init__(self, views: LiveViews, events: LiveEvents, metrics: Metrics) -> None:
        self.views = views
        self.events = events
        self.metrics = metrics
        self.games: dict[str, _Game] = {}
        self._lock = asyncio.Lock()  # subscribe/unsubscribe one at a time
        self._ticker: asyncio.Task[None] | None = None
        self._serving = asyncio.Event()  # set while this instance serves a game
        self._closing = False

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the ticker (idempotent)."""
        self._closing = False
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick_forever())

    async def close(self) -> None:
        """Close every connection with 1012 and stop (the instance is shutting down)."""
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        games, self.games = list(self.games.values()), {}
        self._serving.clear()
        for game in games:
            for conn in [*game.players, *game.hosts]:
                with contextlib.suppress(Exception):
                    await conn.close(CLOSE_RESTART)
            await self._drop(game)
        self.metrics.live_games.set(0)
        self.metrics.live_players.set(0)

    # -- connections ---------------------------------------------------------------------
    async def attach(self, conn: LiveConnection, state: Mapping[str, object]) -> bool:
        """Serve ``conn`` from now on (False: the instance is closing); ``state`` is the
        view it was just sent. A change announced since that view was read is pushed."""
        if self._closing:
            return False
        game = await self._game(conn.game_id)
        (game.players if conn.seat is not None else game.hosts).add(conn)
        if conn.seat is not None:
            self.metrics.live_players.inc()
        version = state.get("version")
        if isinstance(version, int) and len(game.players) + len(game.hosts) == 1:
            game.pushed = version  # its only connection has just been sent this view
        if isinstance(version, int) and game.version > version:
            game.stale = True
            game.dirty.set()
        self._saw(game, state)
        return True

    async def detach(self, conn: LiveConnection) -> None:
        """Stop serving ``conn`` (it closed)."""
        game = self.games.get(conn.game_id)
        if game is None:
            return
        if conn in game.players:
            game.players.discard(conn)
            self.metrics.live_players.dec()
        game.hosts.discard(conn)
        await self._release(game)

    async def wait_change(self, game_id: str, after: int, within: float) -> None:
        """Wait (at most ``within`` s) until the game's version is past ``after`` (a long
        poll). Returns early, at least every ``POLL_RECHECK_SECONDS``, for the caller to
        look at the game itself: a version event may have been missed."""
        game = await self._game(game_id)
        game.waiters += 1
        try:
            if game.version > after:
                return
            if game.phase == "question":
                await self.views.close_if_due(game_id, now_ms())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(game.changed.wait(), min(within, POLL_RECHECK_SECONDS))
        finally:
            game.waiters -= 1
            await self._release(game)

    def note_state(self, game_id: str, state: Mapping[str, object]) -> None:
        """Remember what a view said of the game (its phase for the ticker)."""
        game = self.games.get(game_id)
        if game is not None:
            self._saw(game, state)

    # -- events --------------------------------------------------------------------------
    async def _game(self, game_id: str) -> _Game:
        async with self._lock:
            game = self.games.get(game_id)
            if game is None:
                game = self.games[game_id] = _Game(game_id)
                self._serving.set()
                self.metrics.live_games.set(len(self.games))
                game.subscription = await self.events.subscribe(
                    game_id, lambda message: self._on_event(game, message)
                )
                game.refresher = asyncio.create_task(self._refresh_forever(game))
            return game

    async def _release(self, game: _Game) -> None:
        async with self._lock:
            if game.idle and self.games.get(game.game_id) is game:
                del self.games[game.game_id]
                if not self.games:
                    self._serving.clear()
                self.metrics.live_games.set(len(self.games))
                await self._drop(game)

    @staticmethod
    async def _drop(game: _Game) -> None:
        game.stopped = True
        if game.refresher is not None:
            game.refresher.cancel()
            # Not awaited without bound: a library may take a cancellation for its own
            # timeout (and raise TimeoutError); the flag then ends the loop.
            game.dirty.set()
            await asyncio.wait({game.refresher}, timeout=STOP_SECONDS)
        if game.subscription is not None:
            with contextlib.suppress(Exception):
                await game.subscription.close()

    def _on_event(self, game: _Game, message: str) -> None:
        """A message on the game's channel (runs on the listener's task: only notes it)."""
        if message == "*":  # messages may have been missed: rebuild
            game.stale = True
            game.dirty.set()
            return
        try:
            event = json.loads(message)
        except ValueError:
            log.warning("live event not JSON", game=game.game_id)
            return
        if not isinstance(event, dict):
            return
        if "v" in event:
            version = int(event["v"])
            # "stale": the same version again, its results changed (a late-read answer).
            if version > game.pushed or event.get("stale"):
                game.stale = True
                game.dirty.set()
            if version > game.version:
                game.version = version
                game.changed.set()
                game.changed = asyncio.Event()
        elif "answers" in event:
            game.answers = (int(event["answers"]), int(event.get("count", 0)))
            game.dirty.set()

    def _saw(self, game: _Game, state: Mapping[str, object]) -> None:
        version = state.get("version")
        if isinstance(version, int) and version > game.version:
            game.version = version
        phase = state.get("phase")
        if isinstance(phase, str):
            game.phase = phase

    # -- pushing state -------------------------------------------------------------------
    async def _refresh_forever(self, game: _Game) -> None:
        """Rebuild and push the game's state whenever it went stale (coalesced: the
        events that arrive during a rebuild cost one more rebuild, not one each)."""
        while not game.stopped:
            try:
                await asyncio.wait_for(game.dirty.wait(), PUSH_RECHECK_SECONDS)
            except TimeoutError:
                await self._recheck(game)
                continue
            game.dirty.clear()
            if game.stopped:
                return
            try:
                if game.stale:
                    game.stale = False
                    await self._push_state(game)
                self._push_answers(game)
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup must not end the game's fan-out
                log.exception("live state push failed", game=game.game_id)
                await asyncio.sleep(0.2)
                game.stale = True
                game.dirty.set()

    async def _recheck(self, game: _Game) -> None:
        """Mark the game stale if the store is past the version pushed (an event lost)."""
        if game.stopped or (not game.players and not game.hosts):
            return
        try:
            version = await self.views.current_version(game.game_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the next recheck tries again
            log.warning("live version recheck failed", game=game.game_id, error=str(exc))
            return
        if version is not None and version > game.pushed:
            log.info("live event missed", game=game.game_id, version=version, pushed=game.pushed)
            game.stale = True
            game.dirty.set()

    def _push_answers(self, game: _Game) -> None:
        """Send the newest answer count to the hosts, at most ANSWERS_PER_SECOND a second
        (a count that comes sooner waits for its turn, without holding up state pushes)."""
        if game.answers is None or not game.hosts:
            game.answers = None
            return
        wait = game.answers_sent + 1 / ANSWERS_PER_SECOND - time.monotonic()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, game.dirty.set)
            return
        index, count = game.answers
        game.answers = None
        game.answers_sent = time.monotonic()
        message: Message = {"type": "answers", "index": index, "count": count}
        for conn in list(game.hosts):
            conn.deliver(message)

    async def _push_state(self, game: _Game) -> None:
        versions: list[int] = []  # of the views pushed: the oldest is what every socket has
        for conn in list(game.hosts):
            assert conn.host is not None
            try:
                view = await self.views.host_view(game.game_id, conn.host)
            except ServiceError as exc:  # the game is gone, or the host lost the right
                await conn.close(CLOSE_NO_GAME if exc.status == 404 else CLOSE_KICKED)
                continue
            self._saw(game, view)
            versions.append(_version(view))
            conn.deliver_state(dict(view))
        players = list(game.players)
        if players:
            versions.extend(await self._push_players(game, players))
        if versions:
            game.pushed = max(game.pushed, min(versions))

    async def _push_players(self, game: _Game, players: list[LiveConnection]) -> list[int]:
        """Push each player's state, built once for the game and personalised with one
        store round trip (``player_views``); a kicked player gets ``kicked`` and is
        closed. The version pushed ([] if none)."""
        seats = [conn.seat for conn in players if conn.seat is not None]
        views = await self.views.player_views(game.game_id, seats)
        versions: list[int] = []
        for conn in players:
            assert conn.seat is not None
            view = views.get(conn.seat.player_id)
            if view is None:
                conn.deliver({"type": "kicked"})
                await conn.close(CLOSE_KICKED)
                continue
            if not versions:
                self._saw(game, view)
                versions.append(_version(view))
            conn.deliver_state(dict(view))
        return versions

    # -- ticker --------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await self._serving.wait()  # no games here: no wake-ups 10 times a second
            await asyncio.sleep(TICK_SECONDS)
            for game in list(self.games.values()):
                if game.phase != "question":
                    continue
                try:
                    await self.views.close_if_due(game.game_id, now_ms())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the next tick tries again
                    log.warning("close_if_due failed", game=game.game_id, error=str(exc))


def _version(view: Mapping[str, object]) -> int:
    version = view.get("version")
    return version if isinstance(version, int) else -1
