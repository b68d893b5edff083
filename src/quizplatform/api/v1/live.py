"""Live games (issue 19): the host's REST control, joining, the HTTP fallback for players
whose network blocks WebSockets, and the WebSocket endpoint's registration
(``api/live_socket.py``). The protocol is in docs/api.md, "Live games"."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import Field

from quizplatform.api.deps import ClientIP, CurrentUser, MaybeUser, ServicesDep, SettingsDep
from quizplatform.api.live_socket import answer, live_socket
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.schemas.base import WHOLE, Strict
from quizplatform.services.container import Services
from quizplatform.services.errors import Conflict, Invalid
from quizplatform.services.live.hub import now_ms
from quizplatform.services.live.options import GameOptions
from quizplatform.services.live.seats import Seat

router = APIRouter(
    prefix=API_PREFIX,
    tags=["live games"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)
# The long poll of GET /live/state answers within this (proxies time out idle requests).
LONG_POLL_SECONDS = 25.0
SEAT_HEADER = "X-Live-Seat"
Seconds = Annotated[int, Field(ge=5, le=120), WHOLE]
Players = Annotated[int, Field(ge=1, le=100_000), WHOLE]
Index = Annotated[int, Field(ge=0, le=10_000), WHOLE]
ClientId = Annotated[str, Field(max_length=64)]
SeatHeader = Annotated[
    str,
    Header(
        alias=SEAT_HEADER,
        max_length=512,
        description="the seat token POST /live/join returned",
    ),
]


class GameIn(Strict):
    quiz_id: Annotated[str, Field(min_length=1, max_length=64)]
    question_seconds: Seconds | None = None
    streak: bool | None = None
    require_sign_in: bool | None = None
    max_players: Players | None = None


class JoinIn(Strict):
    pin: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    nickname: Annotated[str, Field(min_length=1, max_length=64)]


class KickIn(Strict):
    player_id: Annotated[str, Field(min_length=1, max_length=64)]


class AnswerIn(Strict):
    index: Index
    answer: Annotated[Any, Field(description="the response shape of the question's type")]
    id: ClientId | None = None


router.add_api_websocket_route("/live/ws", live_socket)


@router.post("/live/games", status_code=201, summary="Start a live game from a quiz (its host)")
async def create_game(
    body: GameIn,
    caller: CurrentUser,
    services: ServicesDep,
    settings: SettingsDep,
    request: Request,
) -> Response:
    options = GameOptions(
        question_seconds=body.question_seconds,
        streak=True if body.streak is None else body.streak,
        require_sign_in=body.require_sign_in,
        # The site's cap is configuration: a larger request gets the cap, not a 422.
        max_players=body.max_players and min(body.max_players, settings.live_max_players),
    )
    try:
        game = dict(await services.live.create_game(caller, body.quiz_id, options))
    except Invalid as exc:  # a quiz without a playable question: a conflict with its state
        raise Conflict(exc.message, exc.details) from exc
    path = str(game.pop("join_url_path", f"/live/join?pin={game['pin']}"))
    game["join_url"] = _site(request, settings.public_url) + path
    return json_response(game, 201)


@router.get("/live/games/{id}", summary="The host's view of a game")
async def host_view(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
    view = await services.live.host_view(id, caller)
    services.live_hub.note_state(id, view)
    return json_response({**view, "type": "state", "server_ms": now_ms()})


@router.post("/live/games/{id}/kick", summary="Remove a player from a game (its host)")
async def kick(id: str, body: KickIn, caller: CurrentUser, services: ServicesDep) -> Response:
    view = await services.live.control(id, caller, "kick", body.player_id)
    return json_response({**view, "type": "state", "server_ms": now_ms()})


def _control_route(action: str, summary: str) -> None:
    """``POST /live/games/{id}/<action>``: one route per action (a path parameter would
    also match ``/qr.svg`` and answer 422 where 405 is right)."""

    async def control(id: str, caller: CurrentUser, services: ServicesDep) -> Response:
        view = await services.live.control(id, caller, action)
        return json_response({**view, "type": "state", "server_ms": now_ms()})

    control.__name__ = f"{action}_game"
    router.add_api_route(f"/live/games/{{id}}/{action}", control, methods=["POST"], summary=summary)


for _action, _summary in (
    ("start", "Start a game: its first question opens"),
    ("next", "Close the open question, or open the next one (the end after the last)"),
    ("pause", "Pause the open question (its time stops)"),
    ("resume", "Resume a paused question"),
    ("skip", "Close the open question and open the next one"),
    ("end", "End a game: the podium, and every player's attempt submitted"),
):
    _control_route(_action, _summary)


@router.get(
    "/live/games/{id}/qr.svg",
    summary="The join link as a QR code (SVG), for the host's screen",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "an SVG image"}},
)
async def join_qr(
    id: str, caller: CurrentUser, services: ServicesDep, settings: SettingsDep, request: Request
) -> Response:
    view = await services.live.host_view(id, caller)
    url = _site(request, settings.public_url) + f"/live/join?pin={view['pin']}"
    svg = await asyncio.to_thread(qr_svg, url)
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.post(
    "/live/join",
    status_code=201,
    summary="Join a game with its PIN and a nickname (a player's seat)",
    responses=error_responses(403, 404, 409, 422, 429),
)
async def join(body: JoinIn, services: ServicesDep, caller: MaybeUser, ip: ClientIP) -> Response:
    seat, token = await services.live.join(body.pin, body.nickname, ip=ip, principal=caller)
    return json_response(
        {
            "game_id": seat.game_id,
            "player_id": seat.player_id,
            "nickname": seat.nickname,
            "seat": token,
        },
        201,
    )


@router.get(
    "/live/state",
    summary="A player's state; with after=<version> waits up to 25 s for a change (fallback)",
)
async def player_state(
    services: ServicesDep,
    seat_token: SeatHeader,
    after: Annotated[int | None, Query(ge=-1, le=2**53)] = None,
) -> Response:
    seat = _seat(services, seat_token)
    view = await services.live.player_view(seat)
    if after is not None and _version(view) <= after:
        hub = services.live_hub
        hub.note_state(seat.game_id, view)
        deadline = time.monotonic() + LONG_POLL_SECONDS
        while _version(view) <= after and (left := deadline - time.monotonic()) > 0:
            await hub.wait_change(seat.game_id, after, left)
            view = await services.live.player_view(seat)
    return json_response({**view, "type": "state", "server_ms": now_ms()})


@router.post("/live/answer", summary="Answer the open question (fallback for the WebSocket)")
async def post_answer(body: AnswerIn, services: ServicesDep, seat_token: SeatHeader) -> Response:
    received_ms = now_ms()
    seat = _seat(services, seat_token)
    message = {"index": body.index, "answer": body.answer, "id": body.id}
    return json_response(await answer(services, seat, message, received_ms))


def _seat(services: Services, token: str) -> Seat:
    seat: Seat = services.live.seat_from_token(token)
    return seat


def _version(view: Any) -> int:
    version = view.get("version")
    return version if isinstance(version, int) else -1


def _site(request: Request, public_url: str | None) -> str:
    """This site's origin: the public URL, else the one the request came to."""
    if public_url:
        return public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def qr_svg(url: str) -> bytes:
    """``url`` as a QR code in SVG (server-rendered: no script on the host's page)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=2, title="Join link")
    return out.getvalue()
