"""bench/live_client.py against a stub of the live protocol (a websockets server in this
process): an answer whose ack is lost with the connection is resent after the
reconnect and counted once it is acknowledged as ``already``; a refused seat ends the
player; only loopback URLs are accepted."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _load(name: str) -> ModuleType:
    if name in sys.modules and getattr(sys.modules[name], "__file__", "").startswith(str(BENCH)):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


for _name in ("loopback", "exam_stats", "live_stats"):
    _load(_name)
lc = _load("live_client")


class StubGame:
    """One open question; answers recorded once per player; ``lose_ack`` players lose
    their first connection right after their answer is recorded, before the ack."""

    def __init__(self) -> None:
        self.started_ms = time.time_ns() // 1_000_000
        self.phase = "question"
        self.recorded: dict[str, Any] = {}
        self.lose_ack: set[str] = set()
        self.sockets: dict[str, ServerConnection] = {}
        self.hellos = 0

    def state(self, player: str) -> str:
        return json.dumps(
            {
                "type": "state",
                "version": 1,
                "phase": self.phase,
                "index": 0,
                "count": 1,
                "started_ms": self.started_ms,
                "question": {"prompt": "?", "options": [{"id": "o1", "text": "x"}]},
                "answered": player in self.recorded,
                "you": {"player_id": player, "score": 0, "rank": 1},
            }
        )

    async def handler(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        player = hello["seat"]
        self.hellos += 1
        if player == "bad":
            await ws.close(4401)
            return
        self.sockets[player] = ws
        await ws.send(self.state(player))
        async for raw in ws:
            message = json.loads(raw)
            already = player in self.recorded
            self.recorded.setdefault(player, message["answer"])
            if player in self.lose_ack:
                self.lose_ack.discard(player)
                ws.transport.abort()
                return
            ack = {"type": "ack", "id": message["id"], "accepted": True, "already": already}
            await ws.send(json.dumps(ack))

    async def end(self) -> None:
        self.phase = "ended"
        for player, ws in list(self.sockets.items()):
            await ws.send(self.state(player))


@pytest.fixture
async def game() -> AsyncIterator[tuple[StubGame, Any]]:
    stub = StubGame()
    async with serve(stub.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield stub, lc.Endpoint((f"http://127.0.0.1:{port}",))


def _answer_now(player: Any, state: dict[str, Any]) -> tuple[float, Any]:
    return time.time(), {"option_id": state["question"]["options"][0]["id"]}


async def test_a_lost_ack_is_resent_after_the_reconnect_and_counted(
    game: tuple[StubGame, Any],
) -> None:
    stub, endpoint = game
    stub.lose_ack = {"p1"}
    seats = [{"player_id": p, "nickname": p, "seat": p} for p in ("p1", "p2")]
    players = [lc.LivePlayer(endpoint, s, _answer_now, t0=time.perf_counter()) for s in seats]
    tasks = [asyncio.create_task(p.run()) for p in players]
    for _ in range(200):
        if all(p.acknowledged for p in players):
            break
        await asyncio.sleep(0.02)
    await stub.end()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    lost, fine = players
    assert stub.recorded == {"p1": {"option_id": "o1"}, "p2": {"option_id": "o1"}}
    assert lost.acknowledged == {0: {"option_id": "o1"}} == fine.acknowledged
    assert [(a.outcome, a.resent) for a in lost.stats.acks] == [("already", True)]
    assert [(a.outcome, a.resent) for a in fine.stats.acks] == [("accepted", False)]
    assert len(lost.stats.outages) == 1 and lost.stats.outages[0].back is not None
    assert fine.stats.outages == [] and lost.final is not None and fine.final is not None
    assert stub.hellos == 3


async def test_a_refused_seat_ends_the_player(game: tuple[StubGame, Any]) -> None:
    stub, endpoint = game
    seat = {"player_id": "bad", "nickname": "bad", "seat": "bad"}
    player = lc.LivePlayer(endpoint, seat, _answer_now, t0=time.perf_counter())
    await asyncio.wait_for(player.run(), 5)
    assert player.failed == "closed 4401 (bad seat)" and stub.hellos == 1


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        lc.Endpoint(("https://example.org",))
    endpoint = lc.Endpoint(("https://127.0.0.2:8443", "http://localhost:8000"))
    assert endpoint.ws_url(0) == "wss://127.0.0.2:8443/api/v1/live/ws"
    assert endpoint.ws_url(3) == "ws://localhost:8000/api/v1/live/ws"
