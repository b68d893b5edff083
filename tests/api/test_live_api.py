"""Live games over HTTP and the WebSocket (``api/v1/live.py``, ``api/live_socket.py``, the
instance's ``LiveHub``), on both backends: a game played by a WebSocket player, a player
on the HTTP fallback and a host; and the sockets' defences (no hello, forged seats,
oversized frames, floods, a cross-site host cookie, a kicked player)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from quizplatform.api import live_socket
from quizplatform.app import create_app
from quizplatform.services.container import Services
from tests.api.helpers import Api, User
from tests.api.samples import four_question_quiz
from tests.api.ws_client import AsgiSocket

SEAT = "X-Live-Seat"


@pytest.fixture
async def app(services: Services) -> FastAPI:
    return create_app(services.settings, services=services)


@pytest.fixture
async def api(app: FastAPI, services: Services) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)


async def new_game(api: Api, **options: Any) -> tuple[User, dict[str, Any], dict[str, Any]]:
    """A teacher, their quiz (owner's view) and a new game of it."""
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, four_question_quiz())
    r = await api.http.post(
        "/api/v1/live/games",
        json={"quiz_id": quiz["id"], "question_seconds": 30, **options},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text
    return teacher, quiz, r.json()


async def join(api: Api, pin: str, nickname: str) -> dict[str, Any]:
    r = await api.http.post("/api/v1/live/join", json={"pin": pin, "nickname": nickname})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def control(api: Api, teacher: User, game_id: str, action: str) -> dict[str, Any]:
    r = await api.http.post(f"/api/v1/live/games/{game_id}/{action}", headers=teacher.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def option_id(quiz: dict[str, Any], index: int, text: str) -> str:
    (found,) = [o["id"] for o in quiz["questions"][index]["options"] if o["text"] == text]
    return str(found)


async def player_socket(app: FastAPI, seat: str) -> AsgiSocket:
    ws = AsgiSocket(app)
    await ws.connect()
    await ws.send_json({"type": "hello", "seat": seat})
    return ws


async def metric(api: Api, name: str, **labels: str) -> float:
    text = (await api.http.get("/metrics")).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


# -- a game ------------------------------------------------------------------------------
async def test_a_game_over_the_websocket_and_the_http_fallback(api: Api, app: FastAPI) -> None:
    accepted_before = await metric(api, "quiz_live_answers_total", outcome="accepted")
    already_before = await metric(api, "quiz_live_answers_total", outcome="already")
    teacher, quiz, game = await new_game(api)
    assert game["join_url"] == f"http://test/live/join?pin={game['pin']}"
    qr = await api.http.get(f"/api/v1/live/games/{game['id']}/qr.svg", headers=teacher.headers)
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in qr.content
    ann = await join(api, game["pin"], "Ann")
    bob = await join(api, game["pin"], "Bob")

    ws = await player_socket(app, ann["seat"])
    host = AsgiSocket(app)
    await host.connect()
    await host.send_json(
        {"type": "host", "game_id": game["id"], "token": teacher.headers["Authorization"][7:]}
    )
    try:
        first = await ws.receive_type("state")
        assert first["phase"] == "lobby" and first["you"]["nickname"] == "Ann"
        assert sorted((await host.receive_type("state"))["lobby"]) == ["Ann", "Bob"]
        assert await metric(api, "quiz_live_players_connected") >= 1

        # Bob is on the fallback: his long poll returns when the host starts the game.
        lobby = (await api.http.get("/api/v1/live/state", headers={SEAT: bob["seat"]})).json()
        poll = asyncio.create_task(
            api.http.get(
                f"/api/v1/live/state?after={lobby['version']}", headers={SEAT: bob["seat"]}
            )
        )
        await asyncio.sleep(0.05)
        assert not poll.done()
        await control(api, teacher, game["id"], "start")
        shown = await ws.receive_type("state", phase="question")
        assert shown["index"] == 0 and shown["answered"] is False
        assert {"prompt", "options"} <= shown["question"].keys()
        assert "correct" not in str(shown["question"])  # never the answer before it closes
        polled = (await asyncio.wait_for(poll, 5)).json()
        assert polled["phase"] == "question" and polled["version"] > lobby["version"]

        right = option_id(quiz, 0, "4")
        answer = {"type": "answer", "id": "a1", "index": 0, "answer": {"option_id": right}}
        await ws.send_json(answer)
        ack = await ws.receive_type("ack")
        assert ack == {"type": "ack", "id": "a1", "accepted": True, "already": False}
        await ws.send_json({**answer, "id": "a2"})  # a resend after a lost ack: counted once
        again = await ws.receive_type("ack")
        assert again["accepted"] is True and again["already"] is True
        assert (await host.receive_type("answers"))["count"] == 1

        wrong = {"index": 0, "answer": {"option_id": option_id(quiz, 0, "5")}, "id": "b1"}
        r = await api.http.post("/api/v1/live/answer", json=wrong, headers={SEAT: bob["seat"]})
        assert r.status_code == 200 and r.json()["accepted"] is True, r.text
        # Everyone answered: the question closes without waiting for its deadline.
        closed = await ws.receive_type("state", phase="closed")
        assert closed["you"]["score"] > 900 and closed["you"]["rank"] == 1
        assert closed["you"]["last"]["correct"] is True
        assert closed["leaderboard"][0]["nickname"] == "Ann"
        assert closed["correct"]
        bob_view = (await api.http.get("/api/v1/live/state", headers={SEAT: bob["seat"]})).json()
        assert bob_view["you"]["score"] == 0 and bob_view["you"]["rank"] == 2

        await control(api, teacher, game["id"], "next")
        assert (await ws.receive_type("state", phase="question"))["index"] == 1
        late = {"type": "answer", "id": "a3", "index": 0, "answer": {"option_id": right}}
        await ws.send_json(late)
        assert (await ws.receive_type("ack"))["reason"] == "not_open"
        await control(api, teacher, game["id"], "end")
        ended = await ws.receive_type("state", phase="ended")
        assert ended["you"]["score"] == closed["you"]["score"]
        assert (await host.receive_type("state", phase="ended"))["leaderboard"]
    finally:
        await ws.disconnect()
        await host.disconnect()
    accepted = await metric(api, "quiz_live_answers_total", outcome="accepted")
    assert accepted - accepted_before == 2
    assert await metric(api, "quiz_live_answers_total", outcome="already") - already_before == 1
    assert await metric(api, "quiz_live_answer_ack_seconds_count") >= 3
    assert api.services.live_hub.games == {}  # the last socket gone: unsubscribed


async def test_a_reconnect_gets_the_current_question_and_is_counted(api: Api, app: FastAPI) -> None:
    teacher, quiz, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    await join(api, game["pin"], "Bob")
    before = await metric(api, "quiz_live_reconnects_total")
    ws = await player_socket(app, ann["seat"])
    await ws.receive_type("state")
    await control(api, teacher, game["id"], "start")
    await ws.receive_type("state", phase="question")
    await ws.disconnect()  # a refresh
    ws = await player_socket(app, ann["seat"])
    try:
        state = await ws.receive_type("state")
        assert state["phase"] == "question" and state["index"] == 0
        await ws.send_json(
            {
                "type": "answer",
                "id": "x",
                "index": 0,
                "answer": {"option_id": option_id(quiz, 0, "4")},
            }
        )
        assert (await ws.receive_type("ack"))["accepted"] is True
    finally:
        await ws.disconnect()
    assert await metric(api, "quiz_live_reconnects_total") - before == 1


# -- defences ------------------------------------------------------------------------------
async def test_a_socket_that_does_not_say_hello_is_closed(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_socket, "HELLO_TIMEOUT_SECONDS", 0.2)
    async with AsgiSocket(app) as ws:
        assert await ws.closed() == 4408


def tampered(seat: str, nickname: str) -> str:
    """The seat's payload with another nickname, the signature kept."""
    payload, signature = seat.split(".")
    game, player, _ = base64.urlsafe_b64decode(payload + "==").decode().split("\n")
    forged = base64.urlsafe_b64encode(f"{game}\n{player}\n{nickname}".encode()).rstrip(b"=")
    return f"{forged.decode()}.{signature}"


async def test_bad_and_tampered_seats_are_refused(api: Api, app: FastAPI) -> None:
    _, _, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    for hello in (
        {"type": "hello", "seat": "not-a-seat"},
        {"type": "hello", "seat": tampered(ann["seat"], "Admin")},
        {"type": "hello"},
        {"type": "something"},
    ):
        async with AsgiSocket(app) as ws:
            await ws.send_json(hello)
            assert await ws.closed() == 4401, hello
    r = await api.http.get("/api/v1/live/state", headers={SEAT: tampered(ann["seat"], "X")})
    assert r.status_code == 401


async def test_oversized_frames_binary_frames_and_floods_close_the_socket(
    api: Api, app: FastAPI
) -> None:
    _, _, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    cases: list[tuple[str, int]] = [("big", 1009), ("binary", 1003), ("flood", 1008)]
    for case, code in cases:
        ws = await player_socket(app, ann["seat"])
        try:
            await ws.receive_type("state")
            if case == "big":
                await ws.send_text('{"type":"ping","pad":"' + "x" * 17_000 + '"}')
            elif case == "binary":
                await ws.send_bytes(b"\x00" * 10)
            else:
                for _ in range(live_socket.MAX_MESSAGES_PER_SECOND + 10):
                    await ws.send_json({"type": "ping"})
            assert await ws.closed() == code, case
        finally:
            await ws.disconnect()
    # Within the limits a socket lives on.
    async with AsgiSocket(app) as ws:
        await ws.send_json({"type": "hello", "seat": ann["seat"]})
        await ws.receive_type("state")
        await ws.send_text('{"type":"ping","pad":"' + "x" * 15_000 + '"}')
        assert (await ws.receive_type("pong"))["server_ms"] > 0


async def test_a_host_cookie_is_accepted_from_this_site_only(api: Api, app: FastAPI) -> None:
    teacher, _, game = await new_game(api)
    token = teacher.headers["Authorization"][7:]
    cookie = ("cookie", f"qp_session={token}")
    hello = {"type": "host", "game_id": game["id"]}
    for origin in ("http://evil.example", "null", "https://test.evil.example"):
        async with AsgiSocket(app, headers=[cookie, ("origin", origin)]) as ws:
            await ws.send_json(hello)
            assert await ws.closed() == 4403, origin
    async with AsgiSocket(app, headers=[cookie]) as ws:  # no Origin: not a browser page
        await ws.send_json(hello)
        assert await ws.closed() == 4403
    async with AsgiSocket(app, headers=[cookie, ("origin", "http://test")]) as ws:
        await ws.send_json(hello)
        assert (await ws.receive_type("state"))["pin"] == game["pin"]


async def test_only_the_host_gets_a_host_socket(api: Api, app: FastAPI) -> None:
    _, _, game = await new_game(api)
    other = await api.user("teacher")
    token = other.headers["Authorization"][7:]
    async with AsgiSocket(app) as ws:
        await ws.send_json({"type": "host", "game_id": game["id"], "token": token})
        assert await ws.closed() == 4403
    async with AsgiSocket(app) as ws:
        await ws.send_json({"type": "host", "game_id": "0" * 32, "token": token})
        assert await ws.closed() == 4404
    async with AsgiSocket(app) as ws:
        await ws.send_json({"type": "host", "game_id": game["id"], "token": "nope"})
        assert await ws.closed() == 4401


async def test_a_kicked_players_socket_is_closed_and_stays_closed(api: Api, app: FastAPI) -> None:
    teacher, _, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    ws = await player_socket(app, ann["seat"])
    try:
        await ws.receive_type("state")
        r = await api.http.post(
            f"/api/v1/live/games/{game['id']}/kick",
            json={"player_id": ann["player_id"]},
            headers=teacher.headers,
        )
        assert r.status_code == 200, r.text
        assert (await ws.receive_type("kicked")) == {"type": "kicked"}
        assert await ws.closed() == 4403
    finally:
        await ws.disconnect()
    ws = await player_socket(app, ann["seat"])
    try:
        assert (await ws.receive()) == {"type": "kicked"}
        assert await ws.closed() == 4403
    finally:
        await ws.disconnect()


async def test_shutdown_closes_sockets_with_1012(
    api: Api, app: FastAPI, services: Services
) -> None:
    _, _, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    ws = await player_socket(app, ann["seat"])
    try:
        await ws.receive_type("state")
        await services.live_hub.close()
        assert await ws.closed() == 1012
    finally:
        services.live_hub.start()
        await ws.disconnect()


async def test_join_errors_map_to_their_statuses(api: Api) -> None:
    teacher, _, game = await new_game(api, max_players=1)
    nobody = {"pin": "000000", "nickname": "Zed"}
    assert (await api.http.post("/api/v1/live/join", json=nobody)).status_code == 404
    await join(api, game["pin"], "Ann")
    full = await api.http.post("/api/v1/live/join", json={"pin": game["pin"], "nickname": "Bob"})
    assert full.status_code == 403, full.text
    r = await api.http.post(f"/api/v1/live/games/{game['id']}/pause", headers=teacher.headers)
    assert r.status_code == 409, r.text
    student = await api.user("student")
    r = await api.http.get(f"/api/v1/live/games/{game['id']}", headers=student.headers)
    assert r.status_code == 403


async def test_a_quiz_without_a_playable_question_is_a_conflict(api: Api) -> None:
    teacher = await api.user("teacher")
    essay = {"title": "Essays", "questions": [{"type": "essay", "prompt": "Discuss"}]}
    made = await api.quiz(teacher, essay)
    r = await api.http.post(
        "/api/v1/live/games", json={"quiz_id": made["id"]}, headers=teacher.headers
    )
    assert r.status_code == 409, r.text
    four = await api.quiz(teacher, four_question_quiz())
    r = await api.http.post(  # above the site's cap: the cap
        "/api/v1/live/games",
        json={"quiz_id": four["id"], "max_players": 99_999},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text


async def test_a_store_failure_closes_the_socket_with_1011_for_a_reconnect(
    api: Api, app: FastAPI, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher, quiz, game = await new_game(api)
    ann = await join(api, game["pin"], "Ann")
    await control(api, teacher, game["id"], "start")

    async def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise ConnectionError("the store is gone")

    monkeypatch.setattr(services.live, "answer", broken)
    ws = await player_socket(app, ann["seat"])
    try:
        await ws.receive_type("state", phase="question")
        right = option_id(quiz, 0, "4")
        await ws.send_json(
            {"type": "answer", "id": "z", "index": 0, "answer": {"option_id": right}}
        )
        assert await ws.closed() == 1011  # not acknowledged: the client resends it
    finally:
        await ws.disconnect()


async def test_a_bot_flood_cannot_fill_the_lobby(
    api: Api, app: FastAPI, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 joins at once from one address, then 100 from as many addresses: the lobby
    takes what the per-address and per-game limits allow, exactly, and the rest are told
    when to come back."""
    teacher, _, game = await new_game(api)
    limits = services.settings.model_copy(
        update={
            "rate_limit_enabled": True,
            "live_join_per_ip_per_minute": 10,
            "live_join_per_game_per_minute": 25,
        }
    )
    monkeypatch.setattr(services.live.limits, "settings", limits)

    async def bot(n: int, ip: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000 + n))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            body = {"pin": game["pin"], "nickname": f"Bot {n}"}
            return await http.post("/api/v1/live/join", json=body)

    one_address = await asyncio.gather(*(bot(n, "203.0.113.77") for n in range(200)))
    codes = [r.status_code for r in one_address]
    assert codes.count(201) == 10 and codes.count(429) == 190, codes
    waits = [int(r.headers["Retry-After"]) for r in one_address if r.status_code == 429]
    assert all(1 <= wait <= 61 for wait in waits)
    many = await asyncio.gather(*(bot(1000 + n, f"198.51.100.{n + 1}") for n in range(100)))
    codes = [r.status_code for r in many]
    assert codes.count(201) == 15 and codes.count(429) == 85, codes
    r = await api.http.get(f"/api/v1/live/games/{game['id']}", headers=teacher.headers)
    assert r.json()["players"] == 25
