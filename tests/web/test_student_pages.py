"""Student pages over HTTP: catalogue and search, quiz page, taking a quiz (every
question type, autosave through htmx and plain posts), submit, result, leaderboard."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import httpx

from quizplatform.web.answers import apply_move, parse_number
from tests.api.samples import all_types_quiz, by_type
from tests.web.helpers import PASSWORD, WebClient, csrf_from

HTMX = {"HX-Request": "true"}
_owners = itertools.count()


def _form(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated form fields (checkboxes, ordering items) as httpx wants them."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


async def _teacher_quiz(web: WebClient, body: dict[str, Any]) -> dict[str, Any]:
    """A published quiz made through the API by a new teacher (owner view)."""
    email = f"owner{next(_owners)}@example.org"
    http = web.http
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": "Teach", "role": "teacher"},
    )
    assert r.status_code == 201, r.text
    token = await http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    r = await http.post("/api/v1/quizzes", json=body, headers=headers)
    assert r.status_code == 201, r.text
    quiz_id = r.json()["id"]
    r = await http.post(f"/api/v1/quizzes/{quiz_id}/publish", headers=headers)
    assert r.status_code == 200, r.text
    quiz: dict[str, Any] = r.json()
    return quiz


async def _start(web: WebClient, quiz_id: str) -> tuple[str, str]:
    """Start an attempt from the quiz page; returns (attempt id, take page html)."""
    page = await web.http.get(f"/quizzes/{quiz_id}")
    assert page.status_code == 200
    r = await web.http.post(f"/quizzes/{quiz_id}/start", data={"csrf_token": csrf_from(page.text)})
    assert r.status_code == 303, r.text
    attempt_id = r.headers["location"].rsplit("/", 1)[1]
    take = await web.http.get(r.headers["location"])
    assert take.status_code == 200, take.text
    return attempt_id, take.text


async def test_catalogue_lists_and_searches_published_quizzes(web: WebClient) -> None:
    await _teacher_quiz(web, {**all_types_quiz(), "title": "Astronomy basics"})
    await _teacher_quiz(web, {**all_types_quiz(), "title": "Medieval history"})
    everything = await web.http.get("/quizzes")
    assert "Astronomy basics" in everything.text and "Medieval history" in everything.text
    found = await web.http.get("/quizzes", params={"q": "astronomy"})
    assert "Astronomy basics" in found.text and "Medieval history" not in found.text
    assert "1 quiz found" in found.text
    none = await web.http.get("/quizzes", params={"q": "zzzz"})
    assert "No quiz matches" in none.text


async def test_a_draft_is_not_found_by_students(web: WebClient) -> None:
    r = await web.http.get("/quizzes/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and "Quiz not found." in r.text


async def test_anonymous_visitors_are_asked_to_sign_in_to_start(web: WebClient) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz())
    page = await web.http.get(f"/quizzes/{quiz['id']}")
    assert f'href="/signin?next=/quizzes/{quiz["id"]}"' in page.text
    r = await web.http.post(
        f"/quizzes/{quiz['id']}/start",
        data={"csrf_token": await web.csrf()},
        headers={"Referer": f"http://test/quizzes/{quiz['id']}"},
    )
    # Back to the quiz's page after signing in, not to the form's action.
    assert r.status_code == 303
    assert r.headers["location"] == f"/signin?next=/quizzes/{quiz['id']}"


async def test_take_every_type_with_autosave_then_submit_and_review(web: WebClient) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz(show_correct_answers="after_submit"))
    await web.sign_up(name="Student Sam")
    attempt_id, html = await _start(web, quiz["id"])
    for label in ("Question 1 of 8", "Choose all that apply.", "Choose a match", "Move up"):
        assert label in html
    attempt = (await web.http.get(f"/api/v1/attempts/{attempt_id}", headers=web.bearer())).json()
    key = by_type(quiz)
    shown = by_type(attempt["questions"] and attempt)
    token = csrf_from(html)
    right_by_text = {r["text"]: r["id"] for r in shown["matching"]["rights"]}
    pairs = {p["id"]: p["right"] for p in key["matching"]["pairs"]}
    forms: dict[str, list[tuple[str, str]]] = {
        "single_choice": [
            ("option_id", next(o["id"] for o in key["single_choice"]["options"] if o["correct"]))
        ],
        "multiple_choice": [
            ("option_ids", o["id"]) for o in key["multiple_choice"]["options"] if o["weight"] > 0
        ],
        "true_false": [("value", "true")],
        "short_answer": [("text", " Paris ")],
        "numeric": [("value", "3,15")],  # a decimal comma is fine
        "matching": [
            (f"match.{left['id']}", right_by_text[pairs[left["id"]]])
            for left in shown["matching"]["lefts"]
        ],
        "essay": [("text", "Rayleigh scattering.")],
    }
    for qtype, fields in forms.items():
        qid = key[qtype]["id"]
        r = await web.http.post(
            f"/attempts/{attempt_id}/answers/{qid}",
            data=_form([("csrf_token", token), ("qtype", qtype), *fields]),
            headers=HTMX,
        )
        assert r.status_code == 200, (qtype, r.text)
        assert "Saved at" in r.text, qtype

    # Ordering: move items into the right order one step at a time (the buttons).
    ordering_id = key["ordering"]["id"]
    order = [i["id"] for i in shown["ordering"]["items"]]
    goal = [i["id"] for i in key["ordering"]["items"]]

    async def move(item: str, direction: str) -> list[str]:
        r = await web.http.post(
            f"/attempts/{attempt_id}/answers/{ordering_id}",
            data=_form(
                [
                    ("csrf_token", token),
                    ("qtype", "ordering"),
                    *[("item_ids", i) for i in order],
                    ("move", f"{item}:{direction}"),
                ]
            ),
            headers=HTMX,
        )
        assert r.status_code == 200, r.text
        assert f'id="order-{ordering_id}"' in r.text and 'hx-swap-oob="innerHTML"' in r.text
        return re.findall(r'name="item_ids" value="([0-9a-f]+)"', r.text)

    if order == goal:  # any order may be shown, this one too: move one away and back
        order = await move(goal[0], "down")
    for target_index, item in enumerate(goal):
        while order.index(item) > target_index:
            order = await move(item, "up")
    assert order == goal

    saved = (await web.http.get(f"/api/v1/attempts/{attempt_id}", headers=web.bearer())).json()
    assert saved["responses"][key["numeric"]["id"]] == {"value": 3.15}
    assert saved["responses"][ordering_id] == {"item_ids": goal}

    # The page shows what was saved.
    take = await web.http.get(f"/attempts/{attempt_id}")
    assert 'value="3.15"' in take.text and "Rayleigh scattering." in take.text

    r = await web.http.post(f"/attempts/{attempt_id}/submit", data={"csrf_token": token})
    assert r.status_code == 303
    assert r.headers["location"] == f"/attempts/{attempt_id}/result?notice=submitted"
    result = await web.http.get(r.headers["location"])
    assert "Your answers have been submitted." in result.text
    assert "Waiting for your teacher" in result.text  # the essay
    assert "Correct answer" in result.text and "cat → meow" in result.text
    assert re.search(r'class="score">\s*(\d+)', result.text)
    # Taking the attempt again goes to its result.
    again = await web.http.get(f"/attempts/{attempt_id}")
    assert again.status_code == 303 and again.headers["location"].endswith("/result")

    board = await web.http.get(f"/quizzes/{quiz['id']}/leaderboard")
    assert "Student Sam" in board.text and "(you)" in board.text


async def test_answers_that_do_not_fit_are_explained_and_nothing_is_saved(
    web: WebClient,
) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz())
    await web.sign_up()
    attempt_id, html = await _start(web, quiz["id"])
    key = by_type(quiz)
    token = csrf_from(html)
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{key['numeric']['id']}",
        data={"csrf_token": token, "qtype": "numeric", "value": "three"},
        headers=HTMX,
    )
    assert r.status_code == 422 and "Enter a number" in r.text
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{key['single_choice']['id']}",
        data={"csrf_token": token, "qtype": "single_choice", "option_id": "forged"},
        headers=HTMX,
    )
    assert r.status_code == 422 and "Option_id must be one of" in r.text
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{key['single_choice']['id']}",
        data={"csrf_token": token, "qtype": "single_choice"},
        headers=HTMX,
    )
    assert r.status_code == 200 and "No option chosen yet." in r.text
    saved = (await web.http.get(f"/api/v1/attempts/{attempt_id}", headers=web.bearer())).json()
    assert saved["responses"] == {}


async def test_without_javascript_posts_save_and_move_between_questions(web: WebClient) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz())
    await web.sign_up()
    attempt_id, _ = await _start(web, quiz["id"])
    one = await web.http.get(f"/attempts/{attempt_id}?view=one&q=1")
    assert 'aria-current="step"' in one.text and "Next question" in one.text
    assert "qp_view=one" in one.headers.get("set-cookie", "")
    key = by_type(quiz)
    first = (await web.http.get(f"/api/v1/attempts/{attempt_id}", headers=web.bearer())).json()
    qid = first["questions"][0]["id"]
    qtype = first["questions"][0]["type"]
    assert qtype == "single_choice"
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{qid}",
        data={
            "csrf_token": csrf_from(one.text),
            "qtype": qtype,
            "option_id": key["single_choice"]["options"][1]["id"],
            "position": "1",
            "layout": "one",
            "go": "next",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/attempts/{attempt_id}?view=one&q=2"
    # The choice of layout is remembered.
    second = await web.http.get(f"/attempts/{attempt_id}?q=2")
    assert "Question 2 of 8" in second.text and "Question 1 of 8" not in second.text
    # htmx's "Next" is a full page change too.
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{key['multiple_choice']['id']}",
        data={
            "csrf_token": csrf_from(second.text),
            "qtype": "multiple_choice",
            "position": "2",
            "layout": "one",
            "go": "next",
        },
        headers=HTMX,
    )
    assert r.headers["hx-redirect"] == f"/attempts/{attempt_id}?view=one&q=3"


async def test_an_expired_attempt_is_submitted_on_access_and_saves_are_refused(
    web: WebClient,
) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz(time_limit_seconds=1))
    await web.sign_up()
    attempt_id, html = await _start(web, quiz["id"])
    assert 'id="timer"' in html and "data-deadline=" in html
    await asyncio.sleep(1.2)
    key = by_type(quiz)
    r = await web.http.post(
        f"/attempts/{attempt_id}/answers/{key['true_false']['id']}",
        data={"csrf_token": csrf_from(html), "qtype": "true_false", "value": "true"},
        headers=HTMX,
    )
    assert r.headers["hx-redirect"] == f"/attempts/{attempt_id}/result?notice=time_up"
    result = await web.http.get(r.headers["hx-redirect"])
    assert "Time was up" in result.text and "submitted when the time ran out" in result.text


async def test_another_students_attempt_is_not_found(web: WebClient) -> None:
    quiz = await _teacher_quiz(web, all_types_quiz())
    await web.sign_up()
    attempt_id, _ = await _start(web, quiz["id"])
    other = WebClient(
        httpx.AsyncClient(transport=web.http._transport, base_url="http://test"), web.services
    )
    async with other.http:
        await other.sign_up()
        for path in (f"/attempts/{attempt_id}", f"/attempts/{attempt_id}/result"):
            assert (await other.http.get(path)).status_code == 404


def test_moves_and_numbers() -> None:
    assert apply_move(["a", "b", "c"], "c:up") == (["a", "c", "b"], 2)
    assert apply_move(["a", "b", "c"], "a:up") == (["a", "b", "c"], 1)
    assert apply_move(["a", "b", "c"], "c:down") == (["a", "b", "c"], 3)
    assert apply_move(["a", "b"], "x:up") == (["a", "b"], None)
    assert parse_number(" 3,5 ") == 3.5 and parse_number("1e3") == 1000.0
    assert parse_number("nan") is None and parse_number("inf") is None
