"""Live-game drills on real processes (two ``quiz serve`` instances on PostgreSQL + Redis),
played by bench/live.py's client with 200 players:

- reconnect: half of the players lose their socket in the middle of a question (closed
  without a WebSocket close, as a network change does); each comes back on the other
  instance, is put back into the current question, answers, and its points count;
  every acknowledged answer is a stored response; every score is exact.

The instance-kill drill needs HAProxy in front (players reconnect through it), so it
runs on the stack drills' stack: tests/e2e/test_stack_drills.py.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import PG_URL, REDIS_URL
from tests.e2e.live_drill import LIVE_DRILL_ENV, bench_module, brief, drill_args, play
from tests.e2e.procs import Instance, quiz, quiz_env

pytestmark = pytest.mark.postgres

READY_TIMEOUT = 90  # a cold start on a busy 2-core machine
MEASURED: dict[str, float] = {}


def _run(statement: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Instance], str]]:
    """Two instances on a fresh database and a Redis prefix of their own (and the
    database URL)."""
    tmp = tmp_path_factory.mktemp("live-drills")
    name = f"qpdrill_{uuid.uuid4().hex[:10]}"
    _run(f'CREATE DATABASE "{name}"')
    database = f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    prefix = f"qpdrill-{uuid.uuid4().hex[:8]}:"
    env = quiz_env(
        tmp,
        QUIZ_DATABASE_URL=database,
        QUIZ_REDIS_URL=REDIS_URL,
        QUIZ_REDIS_PREFIX=prefix,
        QUIZ_SECRET_KEY=secrets.token_urlsafe(32),
        QUIZ_RATE_LIMIT_ENABLED="false",
        **LIVE_DRILL_ENV,
    )
    started: list[Instance] = []
    try:
        quiz(["db", "upgrade"], env, tmp)
        started = [Instance(tmp, env) for _ in range(2)]
        for instance in started:
            instance.wait_ready(READY_TIMEOUT)
        yield started, database
    finally:
        for instance in started:
            instance.stop()
        _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _drop_prefix(prefix)
        if MEASURED:
            print("\nmeasured (live_drills):", MEASURED)


def _drop_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def _target(instances: list[Instance], database: str) -> Any:
    live_run = bench_module("live_run")

    def redis_client() -> Any:
        import redis.asyncio

        return redis.asyncio.Redis.from_url(REDIS_URL)

    return live_run.Target(
        urls=[i.url for i in instances],
        db_url=database,
        redis=redis_client,
        instance_pids=[i.proc.pid for i in instances],
        metrics_urls=lambda: [f"{i.url}/metrics" for i in instances],
    )


def test_players_whose_sockets_drop_mid_question_come_back_and_keep_their_points(
    instances: tuple[list[Instance], str],
) -> None:
    started, database = instances
    # Question 2 (index 1), 1 s in: half of the players lose their socket while the
    # answers of the first 3 s are coming in. Question 3: a quarter lose it right after
    # sending their answer, before its ack (the answer is in or not: they resend it).
    args = drill_args(drop_at=(1, 1.0, 0.5), lose_ack_at=(2, 0.25))
    result = play(_target(started, database), args)
    MEASURED["reconnect_drill_dropped_back_p95_s"] = result["dropped"]["p95_s"]
    MEASURED["reconnect_drill_ack_p99_ms"] = result["p99_ack_ms"]
    MEASURED["reconnect_drill_resent_already"] = result["ack"]["outcomes"].get("already", 0)
    dropped = result["dropped"]
    assert dropped["players"] == 100, brief(result)
    assert dropped["back"] == dropped["outages"] >= 100, brief(result)
    assert result["reconnect"]["outages"] == result["reconnect"]["back"] >= 150, brief(result)
    assert result["ack"]["resent_recorded"] >= 50, brief(result)  # the lost acks came
    assert result["players"] == 200, brief(result)  # every player answered every question
    assert result["lost_answers"] == 0 and result["answers_acknowledged"] == 600, brief(result)
    assert result["scores_exact"] is True, brief(result)
    assert result["answer_points_mismatched"] == 0, brief(result)
    assert result["rank_problems"] == [], brief(result)
    assert result["errors"] == 0, brief(result)
