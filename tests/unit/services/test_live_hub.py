"""``LiveHub`` without a server: coalesced pushes (one ``player_views`` per rebuild, not
per event), personalised states, the answer-count throttle, the close ticker, kicks and
shutdown, against fake views and a fake event source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from quizplatform.runtime.metrics import Metrics
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.live import hub as hub_module
from quizplatform.services.live.hub import LiveHub
from quizplatform.services.live.seats import Seat

GAME = "g1"


class FakeViews:
    """The game: a version, a phase, players' scores; counts the calls the hub makes."""

    def __init__(self) -> None:
        self.version = 1
        self.phase = "lobby"
        self.scores: dict[str, int] = {}
        self.kicked: set[str] = set()
        self.results_calls = 0
        self.close_calls = 0
        self.delay = 0.0

    def _common(self) -> dict[str, object]:
        return {"type": "state", "version": self.version, "phase": self.phase, "index": 0}

    async def player_views(
        self, game_id: str, seats: list[Seat]
    ) -> Mapping[str, Mapping[str, object] | None]:
        self.results_calls += 1
        await asyncio.sleep(self.delay)
        return {
            seat.player_id: None
            if seat.player_id in self.kicked
            else {
                **self._common(),
                "you": {"player_id": seat.player_id, "score": self.scores.get(seat.player_id, 0)},
            }
            for seat in seats
        }

    async def host_view(self, game_id: str, host: Principal) -> Mapping[str, object]:
        return {**self._common(), "answers": 0}

    async def close_if_due(self, game_id: str, now_ms: int) -> bool:
        self.close_calls += 1
        return False

    async def current_version(self, game_id: str) -> int | None:
        return self.version


class FakeEvents:
    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[str], Awaitable[None] | None]] = {}
        self.closed: list[str] = []

    async def subscribe(
        self, game_id: str, handler: Callable[[str], Awaitable[None] | None]
    ) -> Subscription:
        self.handlers[game_id] = handler
        return Subscription(self, game_id)

    def publish(self, message: dict[str, object]) -> None:
        result = self.handlers[GAME](json.dumps(message))
        assert result is None


@dataclass
class Subscription:
    events: FakeEvents
    game_id: str

    async def close(self) -> None:
        self.events.closed.append(self.game_id)
        self.events.handlers.pop(self.game_id, None)


@dataclass(eq=False)
class FakeConn:
    game_id: str
    seat: Seat | None = None
    host: Principal | None = None
    messages: list[dict[str, object]] = field(default_factory=list)
    states: list[dict[str, object]] = field(default_factory=list)
    close_code: int | None = None

    def deliver(self, message: dict[str, object]) -> None:
        self.messages.append(message)

    def deliver_state(self, state: dict[str, object]) -> None:
        self.states.append(state)

    async def close(self, code: int) -> None:
        self.close_code = code


def player(pid: str) -> FakeConn:
    return FakeConn(GAME, seat=Seat(GAME, pid, pid.upper()))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def new_hub() -> tuple[LiveHub, FakeViews, FakeEvents]:
    views, events = FakeViews(), FakeEvents()
    return LiveHub(views, events, Metrics("0", "c", "test")), views, events


async def test_a_burst_of_changes_costs_a_rebuild_or_two_not_one_each() -> None:
    hub, views, events = await new_hub()
    conns = [player(f"p{i}") for i in range(3)]
    for conn in conns:
        assert await hub.attach(conn, {"version": 1, "phase": "lobby"})
    await settle()
    views.delay = 0.05  # a rebuild takes a while: the events below arrive during it
    before = views.results_calls
    for version in range(2, 12):
        views.version = version
        views.scores = {"p0": version * 10}
        events.publish({"v": version})
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.3)
    assert 1 <= views.results_calls - before <= 3  # one results_for for all three players
    for conn in conns:
        assert conn.states[-1]["version"] == 11
    assert conns[0].states[-1]["you"] == {"player_id": "p0", "score": 110}
    assert conns[1].states[-1]["you"]["player_id"] == "p1"  # type: ignore[index]
    for conn in conns:
        await hub.detach(conn)
    assert hub.games == {} and events.closed == [GAME]


async def test_answer_counts_reach_hosts_at_most_four_times_a_second() -> None:
    hub, _, events = await new_hub()
    host = FakeConn(GAME, host=Principal("t", Role.TEACHER, "T"))
    await hub.attach(host, {"version": 1, "phase": "question"})
    await settle()
    for count in range(1, 41):
        events.publish({"answers": 0, "count": count})
        await asyncio.sleep(0.01)  # 40 answers in ~0.4 s
    await asyncio.sleep(0.3)
    counts = [m["count"] for m in host.messages if m["type"] == "answers"]
    assert 1 <= len(counts) <= 4 and counts[-1] == 40
    await hub.detach(host)


async def test_the_ticker_closes_open_questions_only_and_kicked_players_are_closed() -> None:
    hub, views, events = await new_hub()
    hub.start()
    ann, bob = player("ann"), player("bob")
    await hub.attach(ann, {"version": 1, "phase": "lobby"})
    await hub.attach(bob, {"version": 1, "phase": "lobby"})
    await asyncio.sleep(0.35)
    assert views.close_calls == 0  # lobby: nothing to close
    views.version, views.phase = 2, "question"
    events.publish({"v": 2})
    await asyncio.sleep(0.35)
    assert views.close_calls >= 2
    views.version = 3
    views.kicked.add("bob")
    events.publish({"v": 3})
    await settle()
    assert {"type": "kicked"} in bob.messages and bob.close_code == 4403
    assert ann.close_code is None and ann.states[-1]["version"] == 3
    await hub.close()
    assert ann.close_code == 1012  # shutdown: reconnect elsewhere
    assert not await hub.attach(player("late"), {"version": 3})


async def test_a_missed_event_notice_or_a_stale_version_rebuilds() -> None:
    hub, views, events = await new_hub()
    ann = player("ann")
    await hub.attach(ann, {"version": 1, "phase": "lobby"})
    await settle()
    pushed = len(ann.states)
    views.version = 5
    result = events.handlers[GAME]("*")  # after a reconnection of the subscriber
    assert result is None
    await settle()
    assert len(ann.states) == pushed + 1 and ann.states[-1]["version"] == 5
    events.publish({"v": 5})  # already pushed: nothing to do
    await settle()
    assert len(ann.states) == pushed + 1
    views.scores = {"ann": 700}  # an answer read in time, recorded after the close
    events.publish({"v": 5, "stale": True})
    await settle()
    assert len(ann.states) == pushed + 2 and ann.states[-1]["you"]["score"] == 700  # type: ignore[index]
    assert hub_module.CLOSE_RESTART == 1012
    await hub.detach(ann)


async def test_a_change_whose_event_was_lost_is_pushed_within_the_recheck() -> None:
    hub, views, _ = await new_hub()
    ann = player("ann")
    await hub.attach(ann, {"version": 1, "phase": "lobby"})
    await asyncio.sleep(hub_module.PUSH_RECHECK_SECONDS * 1.5)
    assert ann.states == []  # nothing changed: no push
    views.version, views.phase = 2, "question"  # changed, but its event never came
    await asyncio.sleep(hub_module.PUSH_RECHECK_SECONDS * 2)
    assert ann.states[-1]["version"] == 2 and ann.states[-1]["phase"] == "question"
    await hub.detach(ann)
