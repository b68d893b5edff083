"""The live game store (services/live/store*.py) under concurrency: on the in-process store
and on real Redis (QUIZ_TEST_REDIS_URL), where two RedisLiveStores on one prefix act as
two instances of the app."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tests.conftest import REDIS_URL

from quizplatform.db.shared_store import MemoryStore, RedisStore
from quizplatform.domain.live import live_points, streak_bonus
from quizplatform.services.live.store import (
    AnswerOutcome,
    AnswerStatus,
    GameMeta,
    JoinStatus,
    LiveStore,
    create_live_store,
)
from quizplatform.services.live.store_memory import MemoryLiveStore
from quizplatform.services.live.store_redis import RedisLiveStore

T0 = 1_800_000_000_000  # a question's start, Unix ms
LIMIT = 20_000
GRACE = 300

Instances = Callable[[int], LiveStore]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.postgres)])
async def instances(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[int], LiveStore]]:
    """``instances(i)``: the live store of instance ``i`` (memory: one for all)."""
    if request.param == "memory":
        shared = create_live_store(MemoryStore())
        assert isinstance(shared, MemoryLiveStore)
        yield lambda _i: shared
        await shared.close()
        return
    prefix = f"qptest-live-{uuid.uuid4().hex[:10]}:"
    stores = [RedisStore(REDIS_URL, prefix=prefix) for _ in range(2)]
    lives = [create_live_store(s) for s in stores]
    assert all(isinstance(live, RedisLiveStore) for live in lives)
    try:
        yield lambda i: lives[i % 2]
    finally:
        for live in lives:
            await live.close()
        await stores[0].flush()
        for store in stores:
            await store.close()


async def _game(
    live: LiveStore, players: int = 0, *, max_players: int = 2000, streak: bool = True
) -> str:
    game_id = uuid.uuid4().hex
    pin = str(100_000 + uuid.uuid4().int % 900_000)
    assert await live.create_game(game_id, pin, count=5, max_players=max_players, streak=streak)
    for p in range(players):
        assert (await live.join(game_id, f"p{p:04d}", f"Nick {p}", f"nick {p}")).status == "ok"
    return game_id


async def _open(live: LiveStore, game_id: str, index: int = 0, started: int = T0) -> None:
    result = await live.start_question(game_id, index, started_ms=started, limit_ms=LIMIT)
    assert result.applied


async def _answer(
    live: LiveStore,
    game_id: str,
    player: str,
    *,
    index: int = 0,
    fraction: float = 1.0,
    received: int = T0 + 1000,
    keys: tuple[str, ...] = ("a",),
) -> AnswerStatus:
    points = live_points(fraction, received - T0, LIMIT)
    outcome = await live.answer(
        game_id,
        index,
        player,
        {"option_id": keys[0]},
        fraction=fraction,
        points=points,
        received_ms=received,
        elapsed_ms=received - T0,
        grace_ms=GRACE,
        dist_keys=keys,
    )
    return outcome.status


async def test_a_game_is_created_once_per_pin(instances: Instances) -> None:
    live = instances(0)
    game_id = uuid.uuid4().hex
    assert await live.create_game(game_id, "123456", count=3, max_players=10, streak=False)
    assert await instances(1).game_of_pin("123456") == game_id
    assert not await instances(1).create_game(
        "other", "123456", count=3, max_players=10, streak=False
    )
    meta = await instances(1).meta(game_id)
    assert meta is not None
    assert (meta.phase, meta.index, meta.count, meta.version, meta.players) == (
        "lobby",
        -1,
        3,
        1,
        0,
    )
    assert await live.meta("nope") is None and await live.game_of_pin("654321") is None


async def test_one_answer_per_player_under_concurrent_resends(instances: Instances) -> None:
    """200 players answer twice each, all at once, through two instances: each is
    recorded once; the second gets ``already`` with the first's record."""
    game_id = await _game(instances(0), 200)
    await _open(instances(1), game_id)

    async def twice(p: int) -> list[AnswerStatus]:
        first = _answer(instances(p), game_id, f"p{p:04d}", received=T0 + 10 * p, keys=("a",))
        second = _answer(instances(p + 1), game_id, f"p{p:04d}", received=T0 + 5, keys=("b",))
        return list(await asyncio.gather(first, second))

    results = await asyncio.gather(*(twice(p) for p in range(200)))
    assert all(sorted(r) == ["already", "ok"] for r in results)
    live = instances(0)
    assert await live.answered_count(game_id, 0) == 200
    dist = await live.distribution(game_id, 0)
    assert sum(dist.values()) == 200 and set(dist) <= {"a", "b"}
    recorded = await live.answers(game_id, 0)
    assert len(recorded) == 200
    standings = await live.standings(game_id, list(recorded), 0)
    for pid, record in recorded.items():
        assert standings[pid].score == record.points  # first answer: no streak bonus
        assert record.points == live_points(1.0, record.elapsed_ms, LIMIT)
        assert (await live.player(game_id, pid)).score == record.points  # type: ignore[union-attr]


async def test_a_join_can_be_undone(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, 2, max_players=2)
    assert (await live.join(game_id, "x", "Extra", "extra")).status == "full"
    assert await instances(1).leave(game_id, "p0001", "nick 1")
    assert not await live.leave(game_id, "p0001", "nick 1")
    meta = await live.meta(game_id)
    assert meta is not None and meta.players == 1 and meta.version == 4
    assert await live.player(game_id, "p0001") is None
    assert [e.player_id for e in await live.board_top(game_id, 5)] == ["p0000"]
    # The seat and the nickname are free again.
    assert (await live.join(game_id, "p0009", "NICK 1", "nick 1")).status == "ok"
    # Another player's nickname is left alone.
    assert await live.leave(game_id, "p0009", "nick 0")
    assert (await live.join(game_id, "p0010", "Nick 0", "nick 0")).status == "taken"


async def test_late_answers_are_refused_on_the_receipt_time(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, 3)
    await _open(live, game_id)
    deadline = T0 + LIMIT
    assert await _answer(live, game_id, "p0000", received=deadline + GRACE) == "ok"
    assert await _answer(live, game_id, "p0001", received=deadline + GRACE + 1) == "late"
    assert await live.answered_count(game_id, 0) == 1


async def test_answers_outside_the_open_question_are_not_open(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, 4)
    assert await _answer(live, game_id, "p0000") == "not_open"  # lobby
    await _open(live, game_id)
    assert await _answer(live, game_id, "p0000", index=1) == "not_open"  # not yet
    assert await _answer(live, game_id, "nobody") == "unknown"
    assert await _answer(live, "no-game", "p0000") == "unknown"
    closing = T0 + 5000
    assert (await live.close_question(game_id, 0, now_ms=closing)).applied
    # Read before the close, scored after it: counts (and says so). Read after: late.
    outcome = await live.answer(
        game_id, 0, "p0001", {"option_id": "a"}, fraction=1.0, points=900,
        received_ms=closing - 1, elapsed_ms=4999, grace_ms=GRACE, dist_keys=("a",),
    )  # fmt: skip
    assert outcome.status == "ok" and outcome.after_close
    assert await _answer(live, game_id, "p0002", received=closing + 1) == "late"
    assert (await live.end(game_id, now_ms=closing + 10)).applied
    assert await _answer(live, game_id, "p0003", received=closing - 1) == "not_open"
    # A resend of a recorded answer is acknowledged as recorded, whatever the phase.
    assert await _answer(live, game_id, "p0001", received=closing - 1) == "already"


async def test_kicked_players_cannot_answer_and_leave_the_board(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, 3)
    assert await instances(1).kick(game_id, "p0001")
    assert not await live.kick(game_id, "p0001")  # once
    assert not await live.kick(game_id, "nobody")
    meta = await live.meta(game_id)
    assert meta is not None and meta.players == 2 and meta.version == 5  # 1 + 3 joins + kick
    await _open(live, game_id)
    assert await _answer(live, game_id, "p0001") == "kicked"
    assert [e.player_id for e in await live.board_top(game_id, 10)] == ["p0002", "p0000"]
    standing = (await live.standings(game_id, ["p0001"], 0))["p0001"]
    assert standing.kicked and standing.rank == 0
    # The nickname stays taken: a kicked player cannot come back under it.
    assert (await live.join(game_id, "again", "Nick 1", "nick 1")).status == "taken"


async def test_scores_and_board_are_exact_after_concurrent_answers(instances: Instances) -> None:
    """Three questions, 120 players answering concurrently (right, partly right or wrong
    by a fixed rule): every score, rank and the top of the board match an independent
    computation (points + streak bonus)."""
    n = 120
    game_id = await _game(instances(0), n)
    expected = {f"p{p:04d}": 0 for p in range(n)}
    streaks = dict.fromkeys(expected, 0)
    for q in range(3):
        start = T0 + q * 100_000
        result = await instances(q).start_question(game_id, q, started_ms=start, limit_ms=LIMIT)
        assert result.applied

        def plan(p: int, q: int = q, start: int = start) -> tuple[float, int]:
            fraction = [1.0, 1.0, 0.5, 0.0][(p + q) % 4] if p % 7 else 1.0
            return fraction, start + (p * 137 + q * 1000) % LIMIT

        async def one(p: int, q: int = q, start: int = start) -> None:
            fraction, received = plan(p)
            outcome = await instances(p).answer(
                game_id,
                q,
                f"p{p:04d}",
                {"option_ids": []},
                fraction=fraction,
                points=live_points(fraction, received - start, LIMIT),
                received_ms=received,
                elapsed_ms=received - start,
                grace_ms=GRACE,
                dist_keys=("right" if fraction == 1 else "wrong",),
            )
            assert outcome.status == "ok"

        await asyncio.gather(*(one(p) for p in range(n)))
        for p in range(n):
            pid, (fraction, received) = f"p{p:04d}", plan(p)
            streaks[pid] = streaks[pid] + 1 if fraction == 1 else 0
            bonus = streak_bonus(streaks[pid]) if fraction == 1 else 0
            expected[pid] += live_points(fraction, received - start, LIMIT) + bonus
        assert (await instances(q).close_question(game_id, q, now_ms=start + LIMIT)).applied
    live = instances(1)
    standings = await live.standings(game_id, list(expected), 2)
    assert {pid: s.score for pid, s in standings.items()} == expected
    assert {pid: s.streak for pid, s in standings.items()} == streaks
    for pid, s in standings.items():
        assert s.rank == 1 + sum(1 for v in expected.values() if v > expected[pid])
        assert s.last is not None and s.last.total == s.last.points + s.last.bonus
    # Asked ten at a time (the Redis store then takes its other path): the same.
    ids = list(expected)
    for k in range(0, n, 10):
        assert await live.standings(game_id, ids[k : k + 10], 2) == {
            pid: standings[pid] for pid in ids[k : k + 10]
        }
    top = await live.board_top(game_id, 10)
    best = sorted(expected.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]
    assert [(e.player_id, e.score) for e in top] == best
    assert top[0].nick == f"Nick {int(best[0][0][1:])}"
    assert (await live.answers(game_id, 0))[best[0][0]].answer == {"option_ids": []}


async def test_streak_bonus_grows_breaks_and_can_be_off(instances: Instances) -> None:
    live = instances(0)
    on, off = await _game(live, 1), await _game(live, 1, streak=False)
    bonuses: dict[str, list[int]] = {on: [], off: []}
    for game_id in (on, off):
        for q, fraction in enumerate([1.0, 1.0, 1.0, 0.5, 1.0]):
            start = T0 + q * 100_000
            assert (await live.start_question(game_id, q, started_ms=start, limit_ms=LIMIT)).applied
            outcome = await live.answer(
                game_id, q, "p0000", {"value": True}, fraction=fraction, points=500,
                received_ms=start, elapsed_ms=0, grace_ms=GRACE, dist_keys=(),
            )  # fmt: skip
            assert outcome.record is not None and not outcome.after_close
            bonuses[game_id].append(outcome.record.bonus)
            assert (await live.close_question(game_id, q, now_ms=start + 1)).applied
    assert bonuses[on] == [0, 100, 200, 0, 0]
    assert bonuses[off] == [0, 0, 0, 0, 0]
    assert (await live.player(on, "p0000")).score == 5 * 500 + 300  # type: ignore[union-attr]


async def test_racing_transitions_apply_once(instances: Instances) -> None:
    """Twenty instances close the same question at once: one closes it. Then twenty
    start the next one: one starts it. The version moves by one each time."""
    game_id = await _game(instances(0), 2)
    await _open(instances(0), game_id)
    before = await instances(1).meta(game_id)
    assert before is not None
    closes = await asyncio.gather(
        *(instances(i).close_question(game_id, 0, now_ms=T0 + 20_000 + i) for i in range(20))
    )
    assert sum(r.applied for r in closes) == 1
    after = await instances(0).meta(game_id)
    assert after is not None and after.phase == "closed" and after.version == before.version + 1
    starts = await asyncio.gather(
        *(
            instances(i).start_question(game_id, 1, started_ms=T0 + 30_000, limit_ms=LIMIT)
            for i in range(20)
        )
    )
    assert sum(r.applied for r in starts) == 1
    meta = await instances(1).meta(game_id)
    assert meta is not None and (meta.phase, meta.index) == ("question", 1)
    assert meta.version == before.version + 2
    # A stale "next" (for an index already passed) and a close of the wrong index fail.
    assert not (await instances(0).start_question(game_id, 1, started_ms=0, limit_ms=1)).applied
    assert not (await instances(0).close_question(game_id, 0, now_ms=T0)).applied
    ends = await asyncio.gather(*(instances(i).end(game_id, now_ms=T0) for i in range(10)))
    assert sum(r.applied for r in ends) == 1
    assert (await instances(0).join(game_id, "late", "Late", "late")).status == "ended"


async def test_pause_keeps_the_remaining_time(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, 1)
    await _open(live, game_id)
    paused = await live.pause(game_id, now_ms=T0 + 15_000)
    assert paused.applied and paused.meta is not None and paused.meta.remaining_ms == 5_000
    assert await _answer(live, game_id, "p0000", received=T0 + 15_001) == "late"
    assert not (await live.pause(game_id, now_ms=T0 + 15_500)).applied
    resumed = await instances(1).resume(game_id, now_ms=T0 + 60_000)
    assert resumed.applied and resumed.meta is not None
    assert (resumed.meta.phase, resumed.meta.deadline_ms) == ("question", T0 + 65_000)
    assert resumed.meta.started_ms == T0 + 45_000 and resumed.meta.closed_ms == 0
    assert await _answer(live, game_id, "p0000", received=T0 + 64_000) == "ok"


async def test_the_player_cap_holds_under_concurrent_joins(instances: Instances) -> None:
    live = instances(0)
    game_id = await _game(live, max_players=50)
    outcomes = await asyncio.gather(
        *(instances(i).join(game_id, f"j{i}", f"Player {i}", f"player {i}") for i in range(200))
    )
    statuses = [o.status for o in outcomes]
    assert statuses.count(JoinStatus.OK) == 50 and statuses.count(JoinStatus.FULL) == 150
    meta = await live.meta(game_id)
    assert meta is not None and meta.players == 50 and meta.version == 51
    assert len(await live.players(game_id)) == 50


async def test_nicknames_are_unique_casefolded_under_concurrent_joins(
    instances: Instances,
) -> None:
    live = instances(0)
    game_id = await _game(live)
    spellings = ["Alex", "ALEX", "alex", "aLeX"]
    outcomes = await asyncio.gather(
        *(
            instances(i).join(game_id, f"j{i}", spellings[i % 4], spellings[i % 4].casefold())
            for i in range(100)
        )
    )
    assert [o.status for o in outcomes].count(JoinStatus.OK) == 1
    assert {o.status for o in outcomes} == {JoinStatus.OK, JoinStatus.TAKEN}
    winner = next(f"j{i}" for i, o in enumerate(outcomes) if o.status == "ok")
    # A retried join (same player, same key) is ok and adds nobody.
    again = await live.join(game_id, winner, "Alex", "alex")
    assert again.status == "ok" and again.players == 1


async def test_messages_reach_the_subscribers_of_every_instance(instances: Instances) -> None:
    game_id = await _game(instances(0))
    got: dict[str, list[str]] = {"a": [], "b": []}
    arrived = asyncio.Event()

    def on(name: str) -> Callable[[str], None]:
        def handle(message: str) -> None:
            got[name].append(message)
            if all("v2" in messages for messages in got.values()):
                arrived.set()

        return handle

    sub_a = await instances(0).subscribe(game_id, on("a"))
    sub_b = await instances(1).subscribe(game_id, on("b"))
    other = await instances(1).subscribe("another-game", on("b"))
    await asyncio.sleep(0.2)  # the subscriptions are confirmed
    await instances(1).publish(game_id, "v2")
    async with asyncio.timeout(5):
        await arrived.wait()
    assert got["a"][0] == "*" and got["b"][0] == "*"  # "messages may be missed" first
    await sub_a.close()
    await sub_a.close()  # idempotent
    await instances(0).publish(game_id, "v3")
    await asyncio.sleep(0.3)
    assert "v3" not in got["a"] and "v3" in got["b"]
    await sub_b.close()
    await other.close()


@pytest.fixture
async def redis_live() -> AsyncIterator[RedisLiveStore]:
    store = RedisStore(REDIS_URL, prefix=f"qptest-live-{uuid.uuid4().hex[:10]}:")
    live = create_live_store(store)
    assert isinstance(live, RedisLiveStore)
    try:
        yield live
    finally:
        await live.close()
        await store.flush()
        await store.close()


@pytest.mark.postgres
async def test_a_subscription_survives_a_dropped_connection(redis_live: RedisLiveStore) -> None:
    """The pub/sub connection breaks: redis-py reconnects and resubscribes, the handler
    hears "*" (messages may have been missed) and then the messages again."""
    got: list[str] = []
    heard = asyncio.Event()

    def handle(message: str) -> None:
        got.append(message)
        if message == "after":
            heard.set()

    sub = await redis_live.subscribe("g", handle)
    await asyncio.sleep(0.2)
    pubsub = redis_live._channels._pubsub  # the one pub/sub connection of this instance
    assert pubsub is not None and pubsub.connection is not None
    pubsub.connection._writer.transport.abort()  # type: ignore[union-attr]
    async with asyncio.timeout(5):
        while not heard.is_set():  # published until the resubscribed reader hears it
            await redis_live.publish("g", "after")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.wait(), 0.2)
    assert got[:2] == ["*", "*"] and set(got[2:]) == {"after"}
    await sub.close()


@pytest.mark.postgres
async def test_a_retried_transition_is_reported_applied(redis_live: RedisLiveStore) -> None:
    """The same transition script run twice (a retry after a lost reply) applies once and
    says applied both times; another caller's transition is refused."""
    game_id = await _game(redis_live, 1)
    meta = redis_live._k(game_id, "meta")
    keys = [*redis_live._game_keys(game_id), "pin-unused"]
    args = ["op-1", "lobby", "", "start", T0, 60_000, 0, T0, LIMIT]
    first = await redis_live._transition(keys=keys, args=args)
    retried = await redis_live._transition(keys=keys, args=args)
    other = await redis_live._transition(keys=keys, args=["op-2", *args[1:]])
    assert [first[0], retried[0], other[0]] == [b"1", b"1", b"0"]
    assert int(await redis_live._redis.hget(meta, "version")) == 3  # type: ignore[arg-type]  # 1 + join + start


@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(6))
async def test_memory_and_redis_answer_alike(redis_live: RedisLiveStore, seed: int) -> None:
    """A random run of every operation (joins, kicks, leaves, transitions, answers in and
    out of time, resends) gives the same outcomes and the same final state on both."""
    rng = random.Random(seed)
    memory = MemoryLiveStore()
    game_id = f"diff-{seed}"
    stores: list[LiveStore] = [memory, redis_live]
    now = T0
    seen: set[AnswerStatus] = set()

    async def both(method: str, *args: Any, **kwargs: Any) -> object:
        results = [await getattr(store, method)(*args, **kwargs) for store in stores]
        assert results[0] == results[1]
        return results[0]

    await both("create_game", game_id, "222222", count=6, max_players=12, streak=True)
    for step in range(300):
        now += rng.randint(0, 3000)
        meta = await memory.meta(game_id)
        assert meta is not None
        pid = f"p{rng.randrange(16)}"
        op = rng.random()
        if op < 0.2:
            nick = rng.choice(["Ann", "ANN", "Bob", "Cy", "Di", "Ed", "Flo"]) + str(
                rng.randrange(3)
            )
            await both("join", game_id, pid, nick, nick.casefold())
        elif op < 0.23:
            await both("kick", game_id, pid)
        elif op < 0.25:
            await both("leave", game_id, pid, "ann0")
        elif op < 0.33:
            index = meta.index + rng.choice([1, 1, 1, 0, 2])
            await both("start_question", game_id, index, started_ms=now, limit_ms=LIMIT)
        elif op < 0.38:
            await both("close_question", game_id, meta.index, now_ms=now)
        elif op < 0.41:
            await both("pause", game_id, now_ms=now)
        elif op < 0.44:
            await both("resume", game_id, now_ms=now)
        elif op < 0.45 and step > 250:
            await both("end", game_id, now_ms=now)
        else:
            index = meta.index if rng.random() < 0.9 else meta.index + 1
            received = now - rng.randint(0, 2000) + rng.choice([0, 0, 0, LIMIT])
            fraction = rng.choice([1.0, 1.0, 0.5, 0.0, 1 / 3])
            elapsed = max(received - meta.started_ms, 0)
            points = live_points(fraction, elapsed, LIMIT)
            keys = tuple(rng.sample(["a", "b", "c"], rng.randint(0, 2)))
            outcome = await both(
                "answer",
                game_id,
                index,
                pid,
                {"option_ids": list(keys)},
                fraction=fraction,
                points=points,
                received_ms=received,
                elapsed_ms=elapsed,
                grace_ms=GRACE,
                dist_keys=keys,
            )
            assert isinstance(outcome, AnswerOutcome)
            seen.add(outcome.status)
    meta = await both("meta", game_id)
    assert isinstance(meta, GameMeta)
    await both("board_top", game_id, 20)
    ids = [f"p{i}" for i in range(16)]
    for index in range(meta.index + 1):
        await both("standings", game_id, ids, index)
        await both("distribution", game_id, index)
        await both("answers", game_id, index)
        await both("answered_count", game_id, index)
    players = [sorted(await s.players(game_id), key=lambda p: p.player_id) for s in stores]
    assert players[0] == players[1]
    assert sum(1 for p in players[0] if not p.kicked) == meta.players
    assert {"ok", "already", "late", "not_open", "unknown"} <= seen
