"""A Python client of the live-game protocol (players over WebSocket, the host over REST),
for bench/live.py and the live drills (tests/e2e).

Thousands of players share one asyncio event loop: no thread per player, permessage-
deflate off, small frame and queue limits, one TLS context for all. A player joins
over REST, says hello with its seat, answers with a client nonce, measures send -> ack,
and on a lost connection (close 1012, an error, a dropped socket) reconnects with
backoff (0.2 s doubling to 5 s, jittered; at once after 1012) and resends every answer
not yet acknowledged while its question is still open. Only loopback targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from live_stats import Ack, Outage
from loopback import host_is_loopback

API = "/api/v1"
WS_PATH = "/api/v1/live/ws"
FATAL_CLOSE = {4401: "bad seat", 4403: "kicked", 4404: "no such game"}
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
RESEND_PHASES = ("question", "paused", "closed")
# A state message with a leaderboard of 10 and a question is a few KiB.
MAX_FRAME = 1 << 16


class LiveClientError(RuntimeError):
    """The server refused something the client cannot retry."""


@dataclass(frozen=True)
class Endpoint:
    """Where the players go: one or more instance (or load-balancer) base URLs, and
    the TLS context for https ones (the stack's CA). A player's k-th connection goes
    to ``urls[(start + k) % len(urls)]``."""

    urls: tuple[str, ...]
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("no URL")
        for url in self.urls:
            if not host_is_loopback(url):
                raise ValueError(f"{url} is not this machine: the live bench is loopback only")

    @classmethod
    def with_ca(cls, urls: list[str], ca_file: str | None) -> Endpoint:
        """An endpoint that verifies https URLs against ``ca_file``."""
        tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        return cls(tuple(urls), tls)

    def ws_url(self, k: int) -> str:
        base = self.urls[k % len(self.urls)]
        return "ws" + base.removeprefix("http") + WS_PATH

    def http(self, k: int = 0, **kw: Any) -> httpx.AsyncClient:
        """An HTTP client for ``urls[k]`` (verified with the endpoint's CA)."""
        verify: ssl.SSLContext | bool = self.tls if self.tls is not None else True
        return httpx.AsyncClient(base_url=self.urls[k % len(self.urls)], verify=verify, **kw)


def now_ms() -> int:
    """Wall clock in ms (the server stamps its times the same way)."""
    return time.time_ns() // 1_000_000


# -- joining ---------------------------------------------------------------------------------
async def join(
    client: httpx.AsyncClient, pin: str, nickname: str, *, tries: int = 8
) -> dict[str, Any]:
    """``POST /live/join``: the seat ({game_id, player_id, nickname, seat}). Retries a
    429 after its Retry-After and transport errors after a short pause; any other
    refusal raises LiveClientError."""
    last = ""
    for attempt in range(tries):
        try:
            r = await client.post(f"{API}/live/join", json={"pin": pin, "nickname": nickname})
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}"
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if r.status_code == 201:
            data: dict[str, Any] = r.json()
            return data
        last = f"{r.status_code} {r.text[:200]}"
        if r.status_code == 429 or r.status_code >= 500:
            wait = 0.5
            with contextlib.suppress(ValueError):
                wait = float(r.headers.get("retry-after", wait))
            await asyncio.sleep(min(wait, 10.0) * random.uniform(1.0, 1.3))
            continue
        raise LiveClientError(f"join {nickname!r}: {last}")
    raise LiveClientError(f"join {nickname!r}: gave up after {tries} tries ({last})")


# -- a player ------------------------------------------------------------------------------
@dataclass
class Pending:
    """An answer sent (or about to be) and not yet acknowledged."""

    nonce: str
    index: int
    answer: Any
    sent: float = 0.0  # perf_counter of the last send, 0 before the first
    epoch: int = -1  # the connection it was last sent on
    resent: bool = False


# (player, the state of an open question) -> (when to answer, wall-clock s; payload), or
# None not to answer it.
AnswerPlan = Callable[["LivePlayer", dict[str, Any]], "tuple[float, Any] | None"]


@dataclass
class PlayerStats:
    """What a player measured."""

    acks: list[Ack] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    messages: int = 0


class LivePlayer:
    """One simulated player: a seat and a WebSocket that comes back when it is lost."""

    def __init__(
        self,
        endpoint: Endpoint,
        seat: dict[str, Any],
        plan: AnswerPlan,
        *,
        t0: float,
        start: int = 0,
        open_timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.seat = seat
        self.player_id: str = seat["player_id"]
        self.nickname: str = seat["nickname"]
        self.plan = plan
        self.t0 = t0  # perf_counter at the start of the run (times are relative to it)
        self.start = start
        self.open_timeout = open_timeout
        self.stats = PlayerStats()
        self.state: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None  # the "ended" state
        self.closed_states: dict[int, dict[str, Any]] = {}  # index -> first "closed" state
        self.acknowledged: dict[int, Any] = {}  # index -> payload the server recorded
        self.pending: dict[int, Pending] = {}
        self.planned: set[int] = set()
        # drills: questions at which the socket is cut right after the answer is sent,
        # before its ack can arrive (the ack is lost; the answer may or may not be in)
        self.drop_after_send: set[int] = set()
        self.failed = ""  # a fatal close or refusal
        self.ws: ClientConnection | None = None
        self.epoch = 0  # connections made
        self.connected = asyncio.Event()
        self._open_outage: float | None = None
        self._outage_code: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the connection ----------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.final is not None or bool(self.failed)

    def _now(self) -> float:
        return time.perf_counter() - self.t0

    async def run(self) -> None:
        """Connect, and reconnect, until the game ends or the server refuses us."""
        backoff = BACKOFF_FIRST_S
        try:
            while not self.done:
                code: int | None = None
                try:
                    async with connect(
                        self.endpoint.ws_url(self.start + self.epoch),
                        ssl=self.endpoint.tls,
                        compression=None,
                        max_size=MAX_FRAME,
                        max_queue=16,
                        write_limit=8192,
                        open_timeout=self.open_timeout,
                        close_timeout=2,
                        ping_interval=20,
                        ping_timeout=20,
                        user_agent_header=None,
                    ) as ws:
                        self.ws = ws
                        self.epoch += 1
                        await ws.send(json.dumps({"type": "hello", "seat": self.seat["seat"]}))
                        async for raw in ws:
                            self._on_message(raw)
                            if self.state is not None and self._open_outage is None:
                                backoff = BACKOFF_FIRST_S
                            if self.done:
                                break
                        code = ws.close_code
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else 1006
                except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                    self.stats.errors[f"connect {type(exc).__name__}"] += 1
                finally:
                    self.ws = None
                    self.connected.clear()
                if self.done:
                    break
                if code in FATAL_CLOSE:
                    self.stats.errors[f"closed {code}"] += 1
                    self.failed = f"closed {code} ({FATAL_CLOSE[code]})"
                    break
                if self._open_outage is None:
                    self._open_outage = self._now()
                    self._outage_code = code
                delay = 0.0 if code == 1012 else backoff * random.uniform(0.5, 1.5)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                await asyncio.sleep(delay)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._open_outage is not None:  # never came back
                self.stats.outages.append(Outage(self._open_outage, None, self._outage_code))
                self._open_outage = None
            for p in self.pending.values():
                self.stats.acks.append(Ack(p.sent - self.t0 if p.sent else 0, math.nan, "unacked"))
            self.pending.clear()

    def drop(self) -> None:
        """Lose the connection as a network change would: the socket is closed without a
        WebSocket close handshake (the server sees an abnormal close)."""
        if self.ws is not None:
            self.ws.transport.abort()

    # -- messages ---------------------------------------------------------------------
    def _on_message(self, raw: str | bytes) -> None:
        self.stats.messages += 1
        try:
            msg = json.loads(raw)
        except ValueError:
            self.stats.errors["bad frame"] += 1
            return
        kind = msg.get("type")
        if kind == "state":
            self._on_state(msg)
        elif kind == "ack":
            self._on_ack(msg)
        elif kind == "kicked":
            self.failed = "kicked"
        elif kind == "error":
            self.stats.errors[f"error {str(msg.get('message'))[:60]}"] += 1

    def _on_state(self, state: dict[str, Any]) -> None:
        first = not self.connected.is_set()
        self.state = state
        self.connected.set()
        if first and self._open_outage is not None:
            self.stats.outages.append(Outage(self._open_outage, self._now(), self._outage_code))
            self._open_outage = None
        phase, index = state.get("phase"), state.get("index", -1)
        if phase == "ended":
            self.final = state
            return
        if phase == "closed" and index not in self.closed_states:
            self.closed_states[index] = state
        # Resent while the game is still at its question, even once it closed: the
        # server answers "already" if it has it (the ack was lost), else judges it late.
        pending = self.pending.get(index)
        if phase in RESEND_PHASES and pending is not None and pending.epoch != self.epoch:
            pending.resent = pending.sent > 0
            pending.epoch = self.epoch  # now: a second state before the send must not resend
            self._spawn(self._send(pending))
        if phase != "question" or index in self.planned or index in self.acknowledged:
            return
        self.planned.add(index)
        plan = self.plan(self, state)
        if plan is not None:
            at, payload = plan
            self._spawn(self._answer_at(index, at, payload))

    def _on_ack(self, msg: dict[str, Any]) -> None:
        nonce = msg.get("id")
        found = next((p for p in self.pending.values() if p.nonce == nonce), None)
        if found is None:
            self.stats.errors["ack for nothing pending"] += 1
            return
        ms = (time.perf_counter() - found.sent) * 1000
        if msg.get("accepted"):
            outcome = "already" if msg.get("already") else "accepted"
            self.acknowledged[found.index] = found.answer
        else:
            outcome = str(msg.get("reason") or "refused")
        self.stats.acks.append(Ack(found.sent - self.t0, ms, outcome, found.resent))
        del self.pending[found.index]

    # -- answering ----------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_at(self, index: int, at: float, payload: Any) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        pending = Pending(secrets.token_hex(8), index, payload)
        self.pending[index] = pending
        await self._send(pending)

    async def _send(self, pending: Pending) -> None:
        """Send (again) on the current connection; without one, the next state after
        the reconnect resends it."""
        ws = self.ws
        if ws is None or not self.connected.is_set():
            pending.epoch = -1  # not sent: the next state after a reconnect sends it
            return
        frame = {
            "type": "answer",
            "id": pending.nonce,
            "index": pending.index,
            "answer": pending.answer,
        }
        pending.sent = time.perf_counter()
        pending.epoch = self.epoch
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))
        if pending.index in self.drop_after_send:
            self.drop_after_send.discard(pending.index)
            self.drop()


# -- the host ----------------------------------------------------------------------------
class LiveHost:
    """The teacher's side: REST control with a bearer token, retried across an instance
    failure (HAProxy may answer 502/503 for the request that was on a dying instance)."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, tries: int = 5) -> Any:
        last = ""
        for attempt in range(tries):
            try:
                r = await self.client.request(
                    method, API + path, json=body, headers=self.headers, timeout=15
                )
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            else:
                if r.status_code < 300:
                    return r.json() if r.content else None
                last = f"{r.status_code} {r.text[:300]}"
                if r.status_code not in (429, 502, 503, 504):
                    raise LiveClientError(f"{method} {path}: {last}")
            await asyncio.sleep(0.3 * (attempt + 1))
        raise LiveClientError(f"{method} {path}: gave up ({last})")

    async def create_game(self, quiz_id: str, **options: Any) -> dict[str, Any]:
        game: dict[str, Any] = await self.call(
            "POST", "/live/games", {"quiz_id": quiz_id, **options}
        )
        return game

    async def view(self, game_id: str) -> dict[str, Any]:
        view: dict[str, Any] = await self.call("GET", f"/live/games/{game_id}")
        return view

    async def control(self, game_id: str, action: str) -> dict[str, Any]:
        view: dict[str, Any] = await self.call("POST", f"/live/games/{game_id}/{action}")
        return view

    async def wait_for(
        self,
        game_id: str,
        ready: Callable[[dict[str, Any]], bool],
        within: float,
        interval: float = 0.25,
    ) -> dict[str, Any]:
        """Poll the host view until ``ready(view)``, for at most ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            view = await self.view(game_id)
            if ready(view):
                return view
            if time.monotonic() > deadline:
                raise LiveClientError(
                    f"game {game_id}: not ready after {within:g} s "
                    f"(phase {view.get('phase')}, index {view.get('index')})"
                )
            await asyncio.sleep(interval)


QuestionHook = Callable[[int, dict[str, Any]], Awaitable[None]]


async def drive_game(
    host: LiveHost,
    game_id: str,
    count: int,
    question_seconds: float,
    *,
    pause_s: float = 1.0,
    on_question: QuestionHook | None = None,
) -> list[dict[str, Any]]:
    """Play the game through as a host: start, then for every question wait until it
    closes (its deadline, or everyone answered), show the leaderboard ``pause_s``, next;
    end after the last. ``on_question(index, view)`` runs (awaited) as each opens.
    Returns the host view of every closed question."""
    closed = []
    view = await host.control(game_id, "start")
    for index in range(count):
        if index:
            view = await host.control(game_id, "next")

        def is_open(v: dict[str, Any], i: int = index) -> bool:
            return bool(v.get("index") == i and v.get("phase") == "question")

        def is_over(v: dict[str, Any], i: int = index) -> bool:
            return bool(v.get("index", -1) >= i and v.get("phase") in ("closed", "ended"))

        if not is_open(view):
            view = await host.wait_for(game_id, is_open, within=10)
        if on_question is not None:
            await on_question(index, view)
        view = await host.wait_for(game_id, is_over, within=question_seconds + 15)
        closed.append(view)
        await asyncio.sleep(pause_s)
    await host.control(game_id, "end")
    return closed


async def run_players(players: list[LivePlayer], connect_rate: float = 200.0) -> None:
    """Run every player (at most ``connect_rate`` new connections per second at the
    start, so the first handshakes do not all land in the same millisecond)."""
    tasks = []
    for k, player in enumerate(players):
        if k and connect_rate > 0 and k % max(1, int(connect_rate / 10)) == 0:
            await asyncio.sleep(0.1)
        tasks.append(asyncio.create_task(player.run()))
    await asyncio.gather(*tasks)
