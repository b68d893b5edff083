"""The live game pages through the whole app (SQLite and PostgreSQL + Redis): starting a
game from a quiz, the host screen and its buttons (plain posts and live.js's panel
requests), joining with inline messages for each refusal, the QR code."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.web.helpers import WebClient, csrf_from
from tests.web.teacher_helpers import Teacher, field_error, sign_up_teacher

PANEL = {"X-Live-Panel": "1"}
QUIZ = {
    "title": "Live planets",
    "settings": {},
    "questions": [
        {
            "type": "single_choice",
            "prompt": "Largest planet?",
            "options": [{"text": "Mars"}, {"text": "Jupiter", "correct": True}],
        },
        {"type": "true_false", "prompt": "Saturn has rings.", "answer": True},
    ],
}


@pytest.fixture
async def teacher(web: WebClient) -> Teacher:
    return await sign_up_teacher(web)


async def _quiz(teacher: Teacher, body: dict[str, Any] = QUIZ) -> str:
    r = await teacher.http.post("/api/v1/quizzes", json=body, headers=teacher.web.bearer())
    assert r.status_code == 201, r.text
    quiz_id: str = r.json()["id"]
    return quiz_id


async def _game(teacher: Teacher, quiz_id: str) -> tuple[str, str]:
    """Start a game through the form; (game id, PIN) from the host screen."""
    path = f"/teach/quizzes/{quiz_id}/live"
    r = await teacher.post(path, {"question_seconds": "30", "streak": "on"}, from_page=path)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/live/host/([0-9a-f]+)", r.headers["location"])
    assert match, r.headers["location"]
    page = await teacher.http.get(r.headers["location"])
    assert page.status_code == 200
    pin = re.search(r'class="host-pin">(\d{3}) (\d{3})<', page.text)
    assert pin, page.text
    return match.group(1), pin.group(1) + pin.group(2)


async def _player(web: WebClient) -> httpx.AsyncClient:
    """Another browser (its own cookies) on the same app."""
    return httpx.AsyncClient(transport=web.http._transport, base_url="http://test")


async def _join(client: httpx.AsyncClient, pin: str, nickname: str) -> httpx.Response:
    page = await client.get(f"/live/join?pin={pin}")
    assert page.status_code == 200 and f'value="{pin}"' in page.text
    data = {"csrf_token": csrf_from(page.text), "pin": pin, "nickname": nickname}
    return await client.post("/live/join", data=data)


async def test_a_teacher_opens_a_game_from_the_editor(teacher: Teacher) -> None:
    quiz_id = await _quiz(teacher)
    editor = await teacher.http.get(f"/teach/quizzes/{quiz_id}")
    assert f'href="/teach/quizzes/{quiz_id}/live">Play live<' in editor.text
    game_id, pin = await _game(teacher, quiz_id)
    page = await teacher.http.get(f"/live/host/{game_id}")
    assert "Nobody has joined yet." in page.text and f"/live/join?pin={pin}" in page.text
    qr = await teacher.http.get(f"/live/host/{game_id}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')  # an image of its own
    assert 'fill="#fff"' in qr.text  # white behind the code, in the dark scheme too


async def test_seconds_per_question_out_of_range_are_refused_beside_the_field(
    teacher: Teacher,
) -> None:
    quiz_id = await _quiz(teacher)
    path = f"/teach/quizzes/{quiz_id}/live"
    for value in ("4", "121", "abc", ""):
        r = await teacher.post(path, {"question_seconds": value}, from_page=path)
        assert r.status_code == 422, value
        assert field_error(r.text, "question_seconds") == (
            "Enter a number of seconds from 5 to 120, such as 20."
        )


async def test_a_quiz_with_no_playable_question_is_refused(teacher: Teacher) -> None:
    quiz_id = await _quiz(
        teacher,
        {"title": "Essays", "settings": {}, "questions": [{"type": "essay", "prompt": "p"}]},
    )
    path = f"/teach/quizzes/{quiz_id}/live"
    r = await teacher.post(path, {"question_seconds": "20"}, from_page=path)
    assert r.status_code == 422 and "no question a live game can play" in r.text


async def test_only_the_host_sees_the_host_screen(teacher: Teacher, web: WebClient) -> None:
    game_id, _ = await _game(teacher, await _quiz(teacher))
    async with await _player(web) as other:
        r = await other.get(f"/live/host/{game_id}")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin")
        other_web = WebClient(other, web.services)
        await other_web.sign_up("teacher")
        for path in (f"/live/host/{game_id}", f"/live/host/{game_id}/qr.svg"):
            assert (await other.get(path)).status_code == 403, path
        not_a_quiz = await other.get(f"/teach/quizzes/{game_id}/live")
        assert not_a_quiz.status_code == 404


async def test_joining_refusals_are_said_beside_the_field(teacher: Teacher, web: WebClient) -> None:
    _, pin = await _game(teacher, await _quiz(teacher))
    async with await _player(web) as player:
        wrong_pin = "100000" if pin != "100000" else "100001"
        r = await _join(player, wrong_pin, "Ada")
        assert r.status_code == 404 and field_error(r.text, "pin") == (
            "No game has this PIN. Check the number on the screen."
        )
        r = await _join(player, "12", "Ada")
        assert r.status_code == 422 and "6-digit" in (field_error(r.text, "pin") or "")
        r = await _join(player, pin, "A")
        assert r.status_code == 422 and field_error(r.text, "nickname")
        r = await _join(player, pin, "Ada")
        assert r.status_code == 303
        seat = r.headers["location"].removeprefix("/live/play#seat=")
        assert web.services.live.seat_from_token(seat).nickname == "Ada"
        play = await player.get("/live/play")
        assert play.status_code == 200 and 'id="play-announcer"' in play.text
    async with await _player(web) as second:
        r = await _join(second, pin, "ada")
        assert r.status_code == 409 and "already has this nickname" in (
            field_error(r.text, "nickname") or ""
        )


async def test_host_buttons_work_as_plain_posts_and_as_panel_requests(
    teacher: Teacher, web: WebClient
) -> None:
    game_id, pin = await _game(teacher, await _quiz(teacher))
    async with await _player(web) as player:
        assert (await _join(player, pin, "Grace")).status_code == 303
        assert (await _join(player, pin, "Kicked")).status_code == 303
    host = f"/live/host/{game_id}"
    lobby = await teacher.http.get(host, headers=PANEL)
    assert lobby.text.lstrip().startswith("<div") and "<html" not in lobby.text
    remove = r'value="([0-9a-f]+)">\s*<button[^>]*>Remove<span class="visually-hidden"> Kicked<'
    kicked = re.search(remove, lobby.text)
    assert kicked, lobby.text
    token = csrf_from(lobby.text)
    r = await teacher.http.post(
        f"{host}/kick", data={"csrf_token": token, "player_id": kicked.group(1)}, headers=PANEL
    )
    assert r.status_code == 200 and "Kicked" not in r.text and "Grace" in r.text

    r = await teacher.http.post(f"{host}/start", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == host
    page = await teacher.http.get(host)
    assert "Question 1 of 2" in page.text and 'id="answer-count">0<' in page.text
    # A second "start" (another tab, a double click) shows the game as it is.
    r = await teacher.http.post(f"{host}/start", data={"csrf_token": token}, headers=PANEL)
    assert r.status_code == 200 and "already moved on" in r.text and "Question 1 of 2" in r.text
    r = await teacher.http.post(f"{host}/next", data={"csrf_token": token}, headers=PANEL)
    assert "Question 1 of 2 · results" in r.text and 'id="host-next"' in r.text
    r = await teacher.http.post(f"{host}/end", data={"csrf_token": token}, headers=PANEL)
    assert "Podium" in r.text and "Grace" in r.text
    assert (
        await teacher.http.post(f"{host}/explode", data={"csrf_token": token})
    ).status_code == 404


async def test_a_host_button_without_the_csrf_token_is_refused(teacher: Teacher) -> None:
    game_id, _ = await _game(teacher, await _quiz(teacher))
    r = await teacher.http.post(f"/live/host/{game_id}/start", headers=PANEL)
    assert r.status_code == 403
    page = await teacher.http.get(f"/live/host/{game_id}")
    assert "Waiting for players" in page.text


async def test_too_many_joins_from_one_address_are_told_to_wait(
    teacher: Teacher, web: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The join page counts against the player's address (the one the request
    middleware resolved), and a refusal says to wait, with Retry-After."""
    _, pin = await _game(teacher, await _quiz(teacher))
    limits = web.services.live.limits
    strict = limits.settings.model_copy(
        update={"rate_limit_enabled": True, "live_join_per_ip_per_minute": 2}
    )
    monkeypatch.setattr(limits, "settings", strict)
    async with await _player(web) as bots:
        for n in range(2):
            assert (await _join(bots, pin, f"Bot {n}")).status_code == 303
        r = await _join(bots, pin, "Bot 2")
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert "Wait a few seconds and try again." in r.text


async def test_pause_resume_and_skip_from_the_host_screen(teacher: Teacher, web: WebClient) -> None:
    game_id, pin = await _game(teacher, await _quiz(teacher))
    async with await _player(web) as player:
        assert (await _join(player, pin, "Ada")).status_code == 303
    host = f"/live/host/{game_id}"
    token = csrf_from((await teacher.http.get(host)).text)

    async def press(action: str) -> str:
        r = await teacher.http.post(f"{host}/{action}", data={"csrf_token": token}, headers=PANEL)
        assert r.status_code == 200, r.text
        return r.text

    await press("start")
    paused = await press("pause")
    assert "· <strong>Paused</strong>" in paused and 'id="host-resume"' in paused
    assert 'data-phase="paused"' in paused and 'id="host-pause"' not in paused
    resumed = await press("resume")
    assert 'data-phase="question"' in resumed and "Question 1 of 2" in resumed
    skipped = await press("skip")
    assert "Question 2 of 2" in skipped and 'data-phase="question"' in skipped
    ended = await press("skip")  # past the last question: the podium
    assert 'data-phase="ended"' in ended and "Ada" in ended
