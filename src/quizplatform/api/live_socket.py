"""The live games' WebSocket endpoint, ``/api/v1/live/ws`` (issue 19; the protocol is in
docs/api.md, "Live games").

One endpoint for players and hosts. The client's first frame, within
``HELLO_TIMEOUT_SECONDS``, says who it is: ``{"type": "hello", "seat": <seat token>}``
(a player) or ``{"type": "host", "game_id": ..., "token": <bearer>}`` (a host; a browser
host may leave the token out and be known by its session cookie, accepted only from a
page of this site: a cross-site page could otherwise open the socket with the teacher's
cookie). Then the server sends ``state`` at once and whenever the game changes (the
instance's ``LiveHub``), ``ack`` for each answer, ``answers`` (hosts) and ``pong``.

Each frame's receipt time is stamped before anything else is done with it: the deadline
is judged on it. A frame larger than ``MAX_FRAME_BYTES`` closes the socket with 1009, more
than ``MAX_MESSAGES_PER_SECOND`` a second with 1008. The request middleware does not see
WebSocket scopes; these limits are this endpoint's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson
import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from quizplatform.runtime.metrics import Metrics
from quizplatform.services.errors import NotAuthenticated, NotFound, ServiceError
from quizplatform.services.live.hub import CLOSE_RESTART, Message, now_ms

if TYPE_CHECKING:
    from quizplatform.services.accounts import Principal
    from quizplatform.services.container import Services
    from quizplatform.services.live.seats import Seat

log = structlog.get_logger(__name__)

HELLO_TIMEOUT_SECONDS = 5.0
MAX_FRAME_BYTES = 16 * 1024
MAX_MESSAGES_PER_SECOND = 20
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_UNSUPPORTED = 1003
CLOSE_INTERNAL = 1011
CLOSE_UNAUTHENTICATED = 4401
# Not 4401: on an overloaded instance the upgrade itself can take seconds, and a good
# seat whose hello came late must reconnect, not give up (clients retry this one).
CLOSE_HELLO_TIMEOUT = 4408
CLOSE_FORBIDDEN = 4403
CLOSE_NO_GAME = 4404
SEEN_TTL_SECONDS = 24 * 3600
# How long a closing connection may take to send what is queued (a kicked message).
FLUSH_SECONDS = 1.0


class Refused(Exception):
    """The socket is closed with ``code`` (and ``message`` sent first, if any)."""

    def __init__(self, code: int, message: Message | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


class SocketConnection:
    """One accepted socket as the hub sees it: a queue of messages and the newest state
    not sent yet, written by its own task (a slow client never holds up the hub)."""

    def __init__(
        self, ws: WebSocket, game_id: str, seat: Seat | None, host: Principal | None
    ) -> None:
        self.ws = ws
        self.game_id = game_id
        self.seat = seat
        self.host = host
        self.shown: dict[int, int] = {}  # question index -> when this socket was sent it
        self._queue: deque[Message] = deque()
        self._state: Message | None = None
        self._state_version = -1
        self._wake = asyncio.Event()
        self._close_code: int | None = None
        self.writer = asyncio.create_task(self._write_forever())

    def deliver(self, message: Message) -> None:
        self._queue.append(message)
        self._wake.set()

    def deliver_state(self, state: Message) -> None:
        version = state.get("version")
        if isinstance(version, int):
            if version < self._state_version:
                return  # an older view than one already queued or sent
            self._state_version = version
        self._state = state
        self._wake.set()

    def shown_ms(self, index: int) -> int | None:
        """When this connection was sent question ``index`` (None: it was not)."""
        return self.shown.get(index)

    async def close(self, code: int) -> None:
        """Send what is queued, then close with ``code``."""
        if self._close_code is None:
            self._close_code = code
            self._wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.writer), FLUSH_SECONDS)
        if not self.writer.done():
            self.writer.cancel()
            await _close(self.ws, code)

    async def _write_forever(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    await self._send(self._queue.popleft())
                if self._state is not None:
                    state, self._state = self._state, None
                    await self._send_state(state)
                if self._close_code is not None:
                    await _close(self.ws, self._close_code)
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away; the reader notices too

    async def _send_state(self, state: Message) -> None:
        sent = now_ms()
        index = state.get("index")
        if state.get("phase") == "question" and isinstance(index, int):
            self.shown.setdefault(index, sent)
        await self._send({**state, "type": "state", "server_ms": sent})

    async def _send(self, message: Message) -> None:
        await self.ws.send_text(orjson.dumps(message).decode())


class MessageBudget:
    """A token bucket: ``rate`` messages a second, bursts of up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def live_socket(websocket: WebSocket) -> None:
    """The endpoint (registered by ``api/v1/live.py``)."""
    services: Services = websocket.app.state.services
    hub = services.live_hub
    await websocket.accept()
    budget = MessageBudget(MAX_MESSAGES_PER_SECOND)
    conn: SocketConnection | None = None
    try:
        try:
            hello, _ = await asyncio.wait_for(_read(websocket, budget), HELLO_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Refused(CLOSE_HELLO_TIMEOUT) from None
        conn = await _open(websocket, services, hello)
        view = await _first_state(services, conn)
        conn.deliver_state(view)
        if not await hub.attach(conn, view):
            raise Refused(CLOSE_RESTART)
        while True:
            message, received_ms = await _read(websocket, budget)
            await _handle(services, conn, message, received_ms)
    except Refused as refused:
        if conn is not None:
            if refused.message is not None:
                conn.deliver(refused.message)
            await conn.close(refused.code)
        else:
            if refused.message is not None:
                with contextlib.suppress(Exception):
                    await websocket.send_text(orjson.dumps(refused.message).decode())
            await _close(websocket, refused.code)
    except WebSocketDisconnect:
        pass
    except Exception as exc:  # a store or database failure: the client reconnects, resends
        if not isinstance(exc, OSError):  # OSError: mostly the client gone (nothing to log)
            log.exception("live socket failed")
        if conn is not None:
            await conn.close(CLOSE_INTERNAL)
        else:
            await _close(websocket, CLOSE_INTERNAL)
    finally:
        if conn is not None:
            await hub.detach(conn)
            if not conn.writer.done():
                conn.writer.cancel()


async def _read(websocket: WebSocket, budget: MessageBudget) -> tuple[Message, int]:
    """The next JSON object from the client and when it was received (Unix ms)."""
    event = await websocket.receive()
    received_ms = now_ms()
    if event["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(event.get("code", 1000))
    if not budget.take():
        raise Refused(CLOSE_POLICY)
    text = event.get("text")
    if text is None:
        raise Refused(CLOSE_UNSUPPORTED)
    if len(text) > MAX_FRAME_BYTES or len(text.encode()) > MAX_FRAME_BYTES:
        raise Refused(CLOSE_TOO_BIG)
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict):
        return {"type": "invalid"}, received_ms
    return message, received_ms


async def _open(websocket: WebSocket, services: Services, hello: Message) -> SocketConnection:
    """The connection the first frame names; ``Refused`` with the close code otherwise."""
    live = services.live
    kind = hello.get("type")
    if kind == "hello":
        token = hello.get("seat")
        if not isinstance(token, str) or not token:
            raise Refused(CLOSE_UNAUTHENTICATED)
        try:
            seat = live.seat_from_token(token)
        except NotAuthenticated as exc:
            raise Refused(CLOSE_UNAUTHENTICATED) from exc
        await _count_reconnect(services, seat)
        return SocketConnection(websocket, seat.game_id, seat, None)
    if kind == "host":
        game_id = hello.get("game_id")
        if not isinstance(game_id, str) or not game_id:
            raise Refused(CLOSE_NO_GAME)
        host = await _host_principal(websocket, services, hello.get("token"))
        return SocketConnection(websocket, game_id, None, host)
    raise Refused(CLOSE_UNAUTHENTICATED)


async def _host_principal(websocket: WebSocket, services: Services, token: object) -> Principal:
    """The host named by the frame's bearer token, or by the session cookie of a page of
    this site (the Origin header must be this site's)."""
    if not isinstance(token, str) or not token:
        cookie_name = getattr(websocket.app.state, "session_cookie", None)
        token = websocket.cookies.get(cookie_name) if cookie_name else None
        if not token:
            raise Refused(CLOSE_UNAUTHENTICATED)
        if not same_origin(websocket, services.settings.public_url):
            log.warning("live socket: cross-site cookie refused", origin=_origin(websocket))
            raise Refused(CLOSE_FORBIDDEN)
    principal = await services.accounts.resolve_token(token)
    if principal is None or principal.enrol_only:
        raise Refused(CLOSE_UNAUTHENTICATED)
    return principal


def same_origin(websocket: WebSocket, public_url: str | None) -> bool:
    """Whether the socket was opened by a page of this site: its Origin is the public
    URL's origin, or (no public URL configured) names the host the request was sent to."""
    origin = _origin(websocket)
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    if public_url:
        site = urlsplit(public_url)
        return (parts.scheme, parts.netloc.lower()) == (site.scheme, site.netloc.lower())
    host = websocket.headers.get("host", "").lower()
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host


def _origin(websocket: WebSocket) -> str:
    return websocket.headers.get("origin", "")


async def _count_reconnect(services: Services, seat: Seat) -> None:
    """Count a hello for a seat that has said hello before (on any instance)."""
    key = f"live:seen:{seat.game_id}:{seat.player_id}"
    try:
        first = await services.store.set_nx(key, b"1", SEEN_TTL_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a metric is not worth refusing the player
        log.warning("live reconnect not counted", error=str(exc))
        return
    if not first:
        services.metrics.live_reconnects.inc()


async def _first_state(services: Services, conn: SocketConnection) -> Message:
    """The view the connection starts with; ``Refused`` when it may not have one."""
    try:
        if conn.seat is not None:
            view = await services.live.player_view(conn.seat)
        else:
            assert conn.host is not None
            view = await services.live.host_view(conn.game_id, conn.host)
    except NotAuthenticated as exc:
        raise Refused(CLOSE_UNAUTHENTICATED) from exc
    except NotFound as exc:
        raise Refused(CLOSE_NO_GAME) from exc
    except ServiceError as exc:  # Forbidden: not the host, or a kicked player
        kicked: Message | None = {"type": "kicked"} if conn.seat is not None else None
        raise Refused(CLOSE_FORBIDDEN, kicked) from exc
    return dict(view)


async def _handle(
    services: Services, conn: SocketConnection, message: Message, received_ms: int
) -> None:
    kind = message.get("type")
    if kind == "ping":
        conn.deliver({"type": "pong", "server_ms": now_ms()})
    elif kind == "answer" and conn.seat is not None:
        conn.deliver(await answer(services, conn.seat, message, received_ms, conn))
    else:
        conn.deliver({"type": "error", "message": "unknown or unexpected message type"})


async def answer(
    services: Services,
    seat: Seat,
    message: Message,
    received_ms: int,
    conn: SocketConnection | None = None,
) -> Message:
    """Record one answer (``message``: index, answer, id) and return its ``ack``, counted
    in the metrics. ``conn`` None: the HTTP fallback (speed counts from the question's
    start, not from when this instance showed it)."""
    client_id = message.get("id")
    index = message.get("index")
    ack: Message
    if not isinstance(index, int) or isinstance(index, bool) or "answer" not in message:
        ack = {"accepted": False, "reason": "invalid"}
    else:
        shown = conn.shown_ms(index) if conn is not None else None
        try:
            ack = dict(
                await services.live.answer(
                    seat, index, message["answer"], received_ms=received_ms, shown_ms=shown
                )
            )
        except ServiceError as exc:
            ack = {"accepted": False, "reason": _REASONS.get(exc.status, "invalid")}
    ack = {**ack, "type": "ack", "id": client_id}
    observe_answer(services.metrics, ack, received_ms)
    return ack


_REASONS = {401: "kicked", 403: "kicked", 404: "ended", 409: "not_open", 422: "invalid"}


def observe_answer(metrics: Metrics, ack: Message, received_ms: int) -> None:
    """Count the answer by outcome and time its acknowledgement (receipt to ack)."""
    if ack.get("accepted"):
        outcome = "already" if ack.get("already") else "accepted"
    else:
        outcome = str(ack.get("reason") or "refused")
    metrics.live_answers.labels(outcome).inc()
    metrics.live_ack_latency.observe(max(now_ms() - received_ms, 0) / 1000)


async def _close(websocket: WebSocket, code: int) -> None:
    if websocket.application_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await websocket.close(code)
