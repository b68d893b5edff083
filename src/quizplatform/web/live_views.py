"""The host screen's numbers as the templates show them: option shapes and colours, the
answer distribution as bars, the leaderboard and podium (from the host "state" message,
``LiveGameService.host_view``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from quizplatform.runtime.request_context import request_context
from quizplatform.runtime.settings import Settings
from quizplatform.services.live.options import GameOptions

HOST_ACTIONS = frozenset({"start", "next", "pause", "resume", "skip", "end", "kick"})
# Shape and colour go together, so that a colour-blind player can tell the options apart
# by shape (``live.js`` has the same list). Past six options they repeat.
SHAPES = (
    ("triangle", "▲"),
    ("diamond", "◆"),
    ("circle", "●"),
    ("square", "■"),
    ("star", "★"),
    ("hexagon", "⬢"),
)
TRUE_FALSE = ({"id": "true", "text": "True"}, {"id": "false", "text": "False"})
PHASE_TITLES = {
    "lobby": "Waiting for players",
    "question": "Question",
    "paused": "Paused",
    "closed": "Results",
    "ended": "Podium",
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of the distribution chart: an option (or "right"/"wrong") and its count."""

    key: str
    label: str
    shape: str
    symbol: str
    colour: int
    count: int
    percent: int  # of all answers, for the text
    width: int  # 0..100 of the longest bar, for the drawing
    correct: bool


def game_options(question_seconds: int, streak: bool, require_sign_in: bool) -> GameOptions:
    """The service's options from the form (the player cap: the site's setting)."""
    return GameOptions(
        question_seconds=question_seconds, streak=streak, require_sign_in=require_sign_in
    )


def normalize_pin(raw: str) -> str:
    """The PIN as digits only ("123 456" and "123-456" are typed too); at most 6."""
    digits = "".join(c for c in raw if c.isascii() and c.isdigit())
    return digits[:6]


def join_url(request: Request, settings: Settings, view: Mapping[str, Any]) -> str:
    """The absolute join link (QR code, text on the lobby screen): the site's public
    URL, else the address this request came to (https when it came through a trusted
    proxy over TLS)."""
    base = settings.public_url or str(request.base_url)
    if not settings.public_url and request_context(request.scope).tls:
        base = "https://" + base.split("://", 1)[-1]
    base = base.rstrip("/")
    return f"{base}/live/join?pin={view.get('pin', '')}"


def options_of(question: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The question's options with their shape, colour and letter (true/false included)."""
    if not question:
        return []
    raw = question.get("options") or []
    if question.get("type") == "true_false" and not raw:
        raw = TRUE_FALSE
    shaped = []
    for n, option in enumerate(raw):
        shape, symbol = SHAPES[n % len(SHAPES)]
        shaped.append(
            {
                "id": str(option.get("id")),
                "text": str(option.get("text", "")),
                "shape": shape,
                "symbol": symbol,
                "colour": n % len(SHAPES),
            }
        )
    return shaped


def correct_keys(correct: object) -> set[str]:
    """Every id or value named in the "correct" part of a closed question's state."""
    found: set[str] = set()
    if isinstance(correct, str):
        found.add(correct)
    elif isinstance(correct, bool):
        found.add("true" if correct else "false")
    elif isinstance(correct, int | float):
        found.add(str(correct))
    elif isinstance(correct, list | tuple):
        for item in correct:
            found |= correct_keys(item)
    elif isinstance(correct, Mapping):
        for value in correct.values():
            found |= correct_keys(value)
    return found


def bars(
    question: Mapping[str, Any] | None, distribution: Mapping[str, int], correct: object
) -> list[Bar]:
    """The distribution chart: one bar per option, or "right", "partial" (when there
    are any) and "wrong" for answers typed in (numeric, short answer) and orderings."""
    right = correct_keys(correct)
    options = options_of(question)
    if options:
        rows = [
            (o["id"], o["text"], o["shape"], o["symbol"], o["colour"], o["id"] in right)
            for o in options
        ]
    else:
        rows = [("right", "Right", "circle", "✓", 3, True)]
        if distribution.get("partial"):
            rows.append(("partial", "Partly right", "diamond", "½", 1, False))
        rows.append(("wrong", "Wrong", "triangle", "✗", 0, False))
    counts = [int(distribution.get(key, 0)) for key, *_ in rows]
    total, longest = sum(counts), max(counts, default=0)
    return [
        Bar(
            key=key,
            label=label,
            shape=shape,
            symbol=symbol,
            colour=colour,
            count=count,
            percent=round(100 * count / total) if total else 0,
            width=round(100 * count / longest) if longest else 0,
            correct=is_right,
        )
        for (key, label, shape, symbol, colour, is_right), count in zip(rows, counts, strict=True)
    ]


def answer_text(question: Mapping[str, Any] | None, correct: object) -> str:
    """The right answer in words, for questions without options to mark (a typed
    number or text, true/false, an order)."""
    if not question or not isinstance(correct, Mapping):
        return ""
    kind = question.get("type")
    if kind == "true_false":
        value = correct.get("value", correct.get("answer"))
        return "" if value is None else ("True" if value else "False")
    if kind == "ordering":
        items = {str(i.get("id")): str(i.get("text", "")) for i in question.get("items") or []}
        return " → ".join(items.get(str(i), "?") for i in correct.get("item_ids") or [])
    if kind == "numeric":
        values = correct.get("values") or ([correct] if "value" in correct else [])
        return " or ".join(_number_text(v) for v in values if isinstance(v, Mapping))
    if kind == "short_answer":
        words = correct.get("texts") or ([correct["text"]] if "text" in correct else [])
        return " or ".join(str(t) for t in words)
    return ""


def _number_text(answer: Mapping[str, Any]) -> str:
    value, tolerance = answer.get("value"), answer.get("tolerance") or 0
    return f"{value} ± {tolerance}" if tolerance else str(value)


def lobby_players(lobby: object) -> list[dict[str, str]]:
    """The lobby's players as ``{"player_id", "nickname"}`` (a bare nickname has no id,
    so it gets no kick button)."""
    players = []
    for entry in lobby if isinstance(lobby, list) else []:
        if isinstance(entry, Mapping):
            nick = str(entry.get("nickname") or entry.get("nick") or "")
            players.append({"player_id": str(entry.get("player_id") or ""), "nickname": nick})
        else:
            players.append({"player_id": "", "nickname": str(entry)})
    return players


def host_context(
    game_id: str, view: Mapping[str, Any], join_link: str, problem: str = ""
) -> dict[str, Any]:
    """What ``host.html`` and ``host_panel.html`` show, from the host "state" message."""
    phase = str(view.get("phase", "lobby"))
    question = view.get("question")
    board = list(view.get("leaderboard") or [])[:10]
    return {
        "game_id": game_id,
        "view": view,
        "phase": phase,
        "phase_title": PHASE_TITLES.get(phase, phase),
        "index": int(view.get("index", -1)),
        "count": int(view.get("count", 0)),
        "question": question,
        "options": options_of(question) if question else [],
        "bars": bars(question, view.get("distribution") or {}, view.get("correct"))
        if phase == "closed"
        else [],
        "leaderboard": board,
        "podium": board[:3],
        "lobby": lobby_players(view.get("lobby_players") or view.get("lobby")),
        "answer_text": answer_text(question, view.get("correct")) if phase == "closed" else "",
        "players": int(view.get("players", 0)),
        "answers": int(view.get("answers", 0)),
        "pin": str(view.get("pin", "")),
        "join_url": join_link,
        "is_last": int(view.get("index", -1)) + 1 >= int(view.get("count", 0)),
        "problem": problem,
        "seconds_left": _seconds_left(view),
    }


def _seconds_left(view: Mapping[str, Any]) -> int:
    """The countdown's first value (live.js ticks it from there)."""
    if view.get("phase") == "paused":
        return max(0, -(-int(view.get("remaining_ms") or 0) // 1000))
    deadline, now = view.get("deadline_ms"), view.get("server_ms")
    if not isinstance(deadline, int) or not isinstance(now, int):
        return 0
    return max(0, -(-(deadline - now) // 1000))
