"""The live game's host screen pieces (web/live_views.py) and its templates, without a
server: the distribution bars, the right answer in words, the PIN as typed, each phase's
panel, and the live pages' weight."""

from __future__ import annotations

from typing import Any

import pytest

from quizplatform.web.assets import StaticAssets
from quizplatform.web.live_views import (
    answer_text,
    bars,
    host_context,
    lobby_players,
    normalize_pin,
    options_of,
)
from quizplatform.web.rendering import build_templates

CHOICE = {
    "id": "q1",
    "type": "single_choice",
    "prompt": "Which planet is the largest?",
    "text_format": "plain",
    "options": [{"id": f"o{n}", "text": t} for n, t in enumerate(("Mars", "Jupiter", "Venus"))],
}
BASE = {"version": 4, "index": 0, "count": 2, "players": 3, "pin": "123456"}


def test_every_option_has_a_shape_as_well_as_a_colour() -> None:
    shaped = options_of({**CHOICE, "options": [{"id": str(n), "text": "x"} for n in range(7)]})
    assert [o["symbol"] for o in shaped] == ["▲", "◆", "●", "■", "★", "⬢", "▲"]
    assert [o["colour"] for o in shaped] == [0, 1, 2, 3, 4, 5, 0]
    tf = options_of({"type": "true_false", "prompt": "p"})
    assert [(o["id"], o["text"]) for o in tf] == [("true", "True"), ("false", "False")]


def test_bars_count_each_option_and_mark_the_right_one() -> None:
    drawn = bars(CHOICE, {"o1": 3, "o0": 1}, {"option_ids": ["o1"]})
    assert [(b.label, b.count, b.percent, b.width, b.correct) for b in drawn] == [
        ("Mars", 1, 25, 33, False),
        ("Jupiter", 3, 75, 100, True),
        ("Venus", 0, 0, 0, False),
    ]
    typed = bars({"type": "numeric", "prompt": "n"}, {"wrong": 2}, {"value": 8})
    assert [(b.key, b.count, b.correct) for b in typed] == [("right", 0, True), ("wrong", 2, False)]
    partial = bars({"type": "ordering", "prompt": "o"}, {"partial": 1, "right": 1}, {})
    assert [(b.label, b.count) for b in partial] == [
        ("Right", 1),
        ("Partly right", 1),
        ("Wrong", 0),
    ]
    true_false = bars({"type": "true_false", "prompt": "p"}, {"true": 1}, {"value": True})
    assert [b.correct for b in true_false] == [True, False]
    assert all(b.width == 0 for b in bars(CHOICE, {}, {"option_ids": []}))


@pytest.mark.parametrize(
    ("question", "correct", "words"),
    [
        ({"type": "true_false"}, {"value": False}, "False"),
        ({"type": "true_false"}, {"answer": True}, "True"),
        ({"type": "numeric"}, {"value": 8, "tolerance": 0}, "8"),
        ({"type": "numeric"}, {"values": [{"value": 3.14, "tolerance": 0.01}]}, "3.14 ± 0.01"),
        ({"type": "short_answer"}, {"texts": ["Paris", "paris"]}, "Paris or paris"),
        ({"type": "short_answer"}, {"text": "Paris"}, "Paris"),
        (
            {"type": "ordering", "items": [{"id": "b", "text": "two"}, {"id": "a", "text": "one"}]},
            {"item_ids": ["a", "b"]},
            "one → two",
        ),
        (CHOICE, {"option_ids": ["o1"]}, ""),  # the bars show it
    ],
)
def test_the_right_answer_in_words(question: dict[str, Any], correct: object, words: str) -> None:
    assert answer_text(question, correct) == words


def test_a_pin_is_read_as_typed() -> None:
    assert normalize_pin("123 456") == "123456"
    assert normalize_pin("123-4567") == "123456"
    assert normalize_pin("\uff11\uff12\uff13") == ""  # full-width digits are not ASCII
    assert normalize_pin("") == ""


def test_lobby_players_have_ids_for_the_kick_button() -> None:
    assert lobby_players([{"player_id": "p1", "nickname": "Ada"}, "Bob"]) == [
        {"player_id": "p1", "nickname": "Ada"},
        {"player_id": "", "nickname": "Bob"},
    ]
    assert lobby_players(None) == []


def _panel(view: dict[str, Any]) -> str:
    env = build_templates(StaticAssets())
    context = host_context("g1", view, "https://quiz.example/live/join?pin=123456")
    context.update(csrf_token="t", user=None, notice=None, path="/live/host/g1", read_only=False)
    return env.get_template("pages/live/host_panel.html").render(context)


def test_the_host_panel_of_each_phase() -> None:
    lobby = _panel(
        {**BASE, "phase": "lobby", "lobby_players": [{"player_id": "p9", "nickname": "<Ada>"}]}
    )
    assert "123 456" in lobby and "/live/host/g1/qr.svg" in lobby
    assert 'name="player_id" value="p9"' in lobby and "&lt;Ada&gt;" in lobby
    assert 'id="host-start"' in lobby

    timing = {"server_ms": 10_000, "deadline_ms": 29_500}
    question = _panel({**BASE, **timing, "phase": "question", "question": CHOICE, "answers": 2})
    assert 'id="host-countdown" class="host-countdown">20<' in question
    assert 'id="answer-count">2<' in question and "▲" in question
    assert 'id="host-skip"' in question and 'id="host-next"' in question
    assert 'id="host-start"' not in question

    ordering = {
        "type": "ordering",
        "prompt": "In order",
        "text_format": "plain",
        "items": [{"id": "a", "text": "Venus"}, {"id": "b", "text": "Mars"}],
    }
    shown = _panel({**BASE, **timing, "phase": "question", "question": ordering})
    assert "<li>Venus</li><li>Mars</li>" in shown
    closed_order = {
        **BASE,
        "phase": "closed",
        "question": ordering,
        "correct": {"item_ids": ["b", "a"]},
    }
    assert "Right answer: <strong>Mars → Venus</strong>" in _panel(closed_order)

    paused = _panel({**BASE, "phase": "paused", "question": CHOICE, "remaining_ms": 7_001})
    assert ">8<" in paused and 'id="host-resume"' in paused

    closed = {
        **BASE,
        "phase": "closed",
        "question": CHOICE,
        "distribution": {"o1": 2},
        "correct": {"option_ids": ["o1"]},
        "leaderboard": [{"nickname": "Ada", "score": 950}],
    }
    results = _panel(closed)
    assert 'width="100"' in results and "Ada" in results and 'id="host-next"' in results
    last = _panel({**closed, "index": 1})
    assert 'id="host-next"' not in last and "Show the podium" in last

    board = [{"nickname": n, "score": s} for n, s in (("A", 3), ("B", 2), ("C", 1), ("D", 0))]
    ended = _panel({**BASE, "phase": "ended", "leaderboard": board})
    assert ended.count("podium__place ") == 3 and "host-board" in ended
    assert "host-control" not in ended


def test_live_pages_stay_within_the_javascript_and_css_budget() -> None:
    """Issue 6's budget, JavaScript + CSS per page < 60 KB compressed, with live.js and
    live.css on top of what every page loads."""
    assets = StaticAssets()
    names = ("app.css", "app.js", "htmx.min.js", "live.css", "live.js")
    assert sum(assets.compressed_size(n) for n in names) < 60 * 1024
