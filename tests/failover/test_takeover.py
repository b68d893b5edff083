"""An unplanned takeover: the leader's server dies, the standby is promoted, and the write
address moves to it (what Patroni and HAProxy do), while requests keep coming.

Its own rig (the takeover leaves it without a standby): a real PostgreSQL primary and
standby behind a real HAProxy in TCP mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from quizplatform.ops.postgres import promote, stop_cluster
from tests.failover.conftest import eventually, instance
from tests.failover.rig import FailoverRig, migrated_rig, missing_parts
from tests.failover.test_read_only_mode import start_attempt, titled


@pytest.fixture
def doomed_rig() -> Iterator[FailoverRig]:
    missing = missing_parts()
    if missing:
        pytest.fail(f"{missing}: run scripts/system-deps.sh as root", pytrace=False)
    with migrated_rig() as rig:
        yield rig


async def test_writes_during_a_takeover_land_on_the_new_leader(
    doomed_rig: FailoverRig, tmp_path: Path
) -> None:
    rig = doomed_rig
    async with instance(rig, tmp_path, db_leader_wait_seconds=30) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Takeover quiz"))
        attempt = await start_attempt(a, student, quiz["id"])
        await rig.wait_replayed()
        old_pid = await _backend_pids_through_haproxy(rig)

        # The leader's server dies; HAProxy's check fails and cuts its connections.
        await asyncio.to_thread(stop_cluster, rig.primary, 10)
        rig.no_leader()
        writes = [
            asyncio.ensure_future(
                a.http.post(
                    "/api/v1/quizzes", json=titled(f"Taken over {n}"), headers=teacher.headers
                )
            )
            for n in range(3)
        ]
        writes.append(
            asyncio.ensure_future(
                a.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
            )
        )
        reads = await asyncio.gather(
            a.http.get("/api/v1/quizzes"),
            a.http.get(f"/api/v1/quizzes/{quiz['id']}/leaderboard"),
        )
        assert [r.status_code for r in reads] == [200, 200], [r.text for r in reads]
        await eventually(lambda: a.services.db.leader.read_only, what="read-only mode")

        # Patroni promotes the standby; HAProxy's /primary check now passes on it.
        await asyncio.to_thread(promote, rig.replica)
        rig.command("set server write/demoted state ready")
        answers = await asyncio.gather(*writes)
        assert [r.status_code for r in answers] == [201, 201, 201, 200], [r.text for r in answers]

        new_leader = await asyncpg.connect(rig.replica_dsn)
        try:
            titles = await new_leader.fetch(
                "SELECT title FROM quizzes WHERE title LIKE 'Taken over %' ORDER BY title"
            )
            assert [row["title"] for row in titles] == [f"Taken over {n}" for n in range(3)]
            status = await new_leader.fetchval(
                "SELECT status FROM attempts WHERE id = $1", attempt["id"]
            )
            assert status == "submitted"
        finally:
            await new_leader.close()
        assert old_pid, "the app had connections to the old leader"
        assert not a.services.db.leader.read_only
        assert a.metric("db_write_retries_total", outcome="recovered") == 4


async def _backend_pids_through_haproxy(rig: FailoverRig) -> list[int]:
    conn = await asyncpg.connect(rig.primary_dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'quizplatform'"
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]
