"""Live games on the web: the teacher starts one from a quiz and hosts it on a projector
(``/live/host/{id}``); players join with the PIN and a nickname (``/live``) and play on
their phone (``/live/play``).

The host screen is rendered here from ``LiveGameService.host_view`` (the host "state"
message), so a refresh rebuilds it; ``static/live.js`` re-fetches its panel when the game's
version changes (told over the WebSocket) and sends the host's buttons with the CSRF
token. The player screen is drawn by ``live.js`` from the personalised "state" messages:
the server only gives the page, the seat token stays in the browser (``localStorage``).
"""

from __future__ import annotations

import io
from typing import Any

import segno
from fastapi import Request
from starlette.responses import Response

from quizplatform.runtime.request_context import request_context
from quizplatform.services.errors import Conflict, Invalid, NotFound, RateLimited, ServiceError
from quizplatform.web.forms import FormErrors, read_form, text_field
from quizplatform.web.live_views import (
    HOST_ACTIONS,
    game_options,
    host_context,
    join_url,
    normalize_pin,
)
from quizplatform.web.pages.teacher import render_teacher_page, require_author
from quizplatform.web.query import parse_positive_int
from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, MaybeUser, Web

router = page_router()
PANEL_HEADER = "x-live-panel"  # live.js asks for the host panel alone (no full page)


# -- the teacher: start a game ----------------------------------------------------------
@router.get("/teach/quizzes/{quiz_id}/live")
async def new_game(quiz_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    """The options of a new live game of this quiz (seconds per question, streak bonus,
    sign-in required)."""
    require_author(user)
    snap = await web.services.quizzes.owned(user, quiz_id)
    values = {
        "question_seconds": str(web.settings.live_question_seconds),
        "streak": True,
        "require_sign_in": web.settings.live_require_sign_in,
    }
    context = {"quiz": snap, "values": values, "errors": FormErrors()}
    return await render_teacher_page(request, "pages/live/new.html", context)


@router.post("/teach/quizzes/{quiz_id}/live")
async def create_game(quiz_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    """Create the game, then go to its host screen (the lobby)."""
    require_author(user)
    snap = await web.services.quizzes.owned(user, quiz_id)
    form = await read_form(request)
    values: dict[str, Any] = {
        "question_seconds": text_field(form, "question_seconds", max_chars=6).strip(),
        "streak": bool(text_field(form, "streak", max_chars=5)),
        "require_sign_in": bool(text_field(form, "require_sign_in", max_chars=5)),
    }
    errors = FormErrors()
    seconds = parse_positive_int(values["question_seconds"], 0, maximum=10**6)
    if not 5 <= seconds <= 120:
        errors.add("question_seconds", "Enter a number of seconds from 5 to 120, such as 20.")
    else:
        options = game_options(seconds, values["streak"], values["require_sign_in"])
        try:
            game = await web.services.live.create_game(user, quiz_id, options)
        except (Invalid, Conflict) as exc:
            errors.add(None, _sentence(exc.message))
        else:
            return see_other(request, f"/live/host/{game['id']}")
    context = {"quiz": snap, "values": values, "errors": errors}
    return await render_teacher_page(request, "pages/live/new.html", context, status=422)


# -- the host screen --------------------------------------------------------------------
@router.get("/live/host/{game_id}")
async def host(game_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    """The projector screen: lobby, question, results, podium (whatever the game is at)."""
    view = await web.services.live.host_view(game_id, user)
    context = host_context(game_id, view, join_url(request, web.settings, view))
    if request.headers.get(PANEL_HEADER) == "1":
        return await render(request, "pages/live/host_panel.html", context)
    return await render(request, "pages/live/host.html", context)


@router.get("/live/host/{game_id}/qr.svg")
async def host_qr(game_id: str, request: Request, user: CurrentUser, web: Web) -> Response:
    """The join link as a QR code (black on white, whatever the page's colour scheme)."""
    view = await web.services.live.host_view(game_id, user)
    svg = io.BytesIO()
    segno.make(join_url(request, web.settings, view), error="m").save(
        svg, kind="svg", scale=10, light="#ffffff", dark="#000000", border=4, xmldecl=False
    )
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(svg.getvalue(), media_type="image/svg+xml", headers=headers)


@router.post("/live/host/{game_id}/{action}")
async def control(
    game_id: str, action: str, request: Request, user: CurrentUser, web: Web
) -> Response:
    """A host's button (start, next, pause, resume, skip, end, kick). ``live.js`` gets the
    panel back; a plain form post goes back to the host screen."""
    if action not in HOST_ACTIONS:
        raise NotFound("no such action")
    form = await read_form(request)
    player_id = text_field(form, "player_id", max_chars=64) or None
    problem = ""
    try:
        view = await web.services.live.control(game_id, user, action, player_id)
    except Conflict:
        # Two clicks, or another tab of the host moved the game on first: show it as it is.
        problem = "The game had already moved on; this is where it is now."
        view = await web.services.live.host_view(game_id, user)
    if request.headers.get(PANEL_HEADER) != "1":
        return see_other(request, f"/live/host/{game_id}")
    context = host_context(game_id, view, join_url(request, web.settings, view), problem)
    return await render(request, "pages/live/host_panel.html", context)


# -- players ----------------------------------------------------------------------------
@router.get("/live")
@router.get("/live/join")
async def join_page(request: Request, user: MaybeUser, web: Web) -> Response:
    """The join form (the QR code's link fills in the PIN)."""
    pin = normalize_pin(request.query_params.get("pin", ""))
    values = {"pin": pin, "nickname": ""}
    return await render(request, "pages/live/join.html", {"values": values, "errors": FormErrors()})


@router.post("/live/join")
async def join(request: Request, user: MaybeUser, web: Web) -> Response:
    """Take a seat in the game; the seat token goes to the play page in the URL's
    fragment (never sent to a server, so never in a log), where live.js keeps it."""
    form = await read_form(request)
    values = {
        "pin": normalize_pin(text_field(form, "pin", max_chars=20)),
        "nickname": text_field(form, "nickname", max_chars=100),
    }
    errors = FormErrors()
    if len(values["pin"]) != 6:
        errors.add("pin", "Enter the 6-digit game PIN shown on the screen.")
    if not values["nickname"].strip():
        errors.add("nickname", "Enter a nickname.")
    status, headers = 422, {}
    if not errors:
        ip = request_context(request.scope).client_ip  # behind a trusted proxy: the player's
        try:
            _seat, token = await web.services.live.join(
                values["pin"], values["nickname"], ip=ip, principal=user
            )
        except ServiceError as exc:
            status = exc.status
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            _join_problem(errors, exc)
        else:
            return see_other(request, f"/live/play#seat={token}")
    context = {"values": values, "errors": errors}
    return await render(request, "pages/live/join.html", context, status=status, headers=headers)


def _join_problem(errors: FormErrors, exc: ServiceError) -> None:
    """A refused join as a message beside the field it concerns."""
    reason = getattr(exc, "reason", "")
    if isinstance(exc, NotFound):
        errors.add("pin", "No game has this PIN. Check the number on the screen.")
    elif reason == "taken":
        errors.add("nickname", "Someone in this game already has this nickname. Pick another.")
    elif reason == "ended":
        errors.add("pin", "This game has ended.")
    elif reason == "sign_in_required":
        errors.add(None, "This game is for signed-in players: sign in first, then join.")
    elif reason == "full":
        errors.add(None, "This game is full.")
    elif isinstance(exc, RateLimited):
        errors.add(None, "Too many players are joining at once. Wait a few seconds and try again.")
    elif isinstance(exc, Invalid):
        errors.add("nickname", _sentence(exc.message))
    else:
        errors.add(None, _sentence(exc.message))


@router.get("/live/play")
async def play(request: Request, web: Web) -> Response:
    """The player's screen; live.js fills it from the game's state messages."""
    return await render(request, "pages/live/play.html", {})


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."
