"""A live game over real WebSockets: a `quiz serve` process (uvicorn with the project's
HTTP protocol, runtime/http_protocol.py, upgrading to WebSocket) on 127.0.0.1, two players
and a host on the `websockets` client library; then SIGTERM closes the sockets with 1012
(the players' cue to reconnect elsewhere)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.api.samples import four_question_quiz
from tests.e2e.procs import Instance, quiz, quiz_env

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("live-instance")
    env = quiz_env(tmp, QUIZ_RATE_LIMIT_ENABLED="false", QUIZ_SHUTDOWN_DRAIN_DELAY="0.3")
    quiz(["db", "upgrade"], env, tmp)
    server = Instance(tmp, env)
    try:
        server.wait_ready(timeout=60)
        yield server
    finally:
        server.stop()


def setup_game(url: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A teacher's token, their quiz and a new game of it."""
    with httpx.Client(base_url=url, timeout=10) as http:
        account = {"email": "host@example.org", "password": PASSWORD}
        http.post(
            "/api/v1/auth/register",
            json={**account, "display_name": "Host", "role": "teacher"},
        )
        token = http.post("/api/v1/auth/token", json=account).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        made = http.post("/api/v1/quizzes", json=four_question_quiz(), headers=auth).json()
        http.post(f"/api/v1/quizzes/{made['id']}/publish", headers=auth).raise_for_status()
        r = http.post(
            "/api/v1/live/games", json={"quiz_id": made["id"], "question_seconds": 30}, headers=auth
        )
        assert r.status_code == 201, r.text
        return token, made, r.json()


def join(url: str, pin: str, nickname: str) -> dict[str, Any]:
    r = httpx.post(f"{url}/api/v1/live/join", json={"pin": pin, "nickname": nickname})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def next_of(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next message of type ``kind`` with the fields ``match`` (others skipped)."""
    seen = []
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return dict(message)
            seen.append(message)
    except TimeoutError:
        raise AssertionError(f"no {kind} {match} within 10 s; got {seen}") from None


async def test_a_game_over_real_websockets_then_1012_on_shutdown(instance: Instance) -> None:
    token, made, game = setup_game(instance.url)
    ws_url = instance.url.replace("http://", "ws://") + "/api/v1/live/ws"
    seats = [join(instance.url, game["pin"], name) for name in ("Ann", "Bob")]
    right = next(o["id"] for o in made["questions"][0]["options"] if o["text"] == "4")
    wrong = next(o["id"] for o in made["questions"][0]["options"] if o["text"] == "5")

    async with (
        connect(ws_url) as ann,
        connect(ws_url) as bob,
        connect(ws_url) as host,
    ):
        await ann.send(json.dumps({"type": "hello", "seat": seats[0]["seat"]}))
        await bob.send(json.dumps({"type": "hello", "seat": seats[1]["seat"]}))
        await host.send(json.dumps({"type": "host", "game_id": game["id"], "token": token}))
        assert (await next_of(ann, "state"))["phase"] == "lobby"
        assert (await next_of(bob, "state"))["phase"] == "lobby"
        assert (await next_of(host, "state"))["pin"] == game["pin"]

        auth = {"Authorization": f"Bearer {token}"}
        start = f"{instance.url}/api/v1/live/games/{game['id']}/start"
        r = await asyncio.to_thread(httpx.post, start, headers=auth)
        assert r.status_code == 200, r.text
        for player in (ann, bob):
            assert (await next_of(player, "state", phase="question"))["index"] == 0
        for player, option, nonce in ((ann, right, "a"), (bob, wrong, "b")):
            answer = {"type": "answer", "id": nonce, "index": 0, "answer": {"option_id": option}}
            await player.send(json.dumps(answer))
            ack = await next_of(player, "ack")
            assert ack["id"] == nonce and ack["accepted"] is True, ack
        # Both answered: the question closes at once, and each sees their own result.
        ann_closed = await next_of(ann, "state", phase="closed")
        bob_closed = await next_of(bob, "state", phase="closed")
        assert ann_closed["you"]["score"] > 900 and ann_closed["you"]["last"]["correct"] is True
        assert bob_closed["you"]["score"] == 0 and bob_closed["you"]["rank"] == 2
        await ann.send(json.dumps({"type": "ping"}))
        assert (await next_of(ann, "pong"))["server_ms"] > 0

        # A page of another site cannot open a host socket with the teacher's cookie.
        async with connect(
            ws_url,
            origin="http://evil.example",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"qp_session={token}"},
        ) as hijack:
            await hijack.send(json.dumps({"type": "host", "game_id": game["id"]}))
            with pytest.raises(ConnectionClosed) as refused:
                await asyncio.wait_for(hijack.recv(), 10)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403

        instance.proc.send_signal(signal.SIGTERM)
        for ws in (ann, bob, host):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert instance.proc.wait(timeout=30) == 0
