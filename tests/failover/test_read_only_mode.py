"""Read-only mode: the app keeps working through a database failover.

A real PostgreSQL primary and synchronous standby behind a real HAProxy (``rig.py``);
the test takes the leader out of the write backend (what HAProxy does when Patroni's
``/primary`` check fails) and puts it back. Instances run in-process on that rig with
real Redis. Waits are bounded (``eventually``), never timed asserts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from structlog.testing import capture_logs

from quizplatform.db.failover import READ_ONLY_MESSAGE, stop_tracking, track_commits
from quizplatform.web.paths import SESSION_COOKIE
from tests.api.helpers import User
from tests.api.samples import all_types_quiz, by_type
from tests.failover.conftest import Instance, eventually, instance
from tests.failover.rig import FailoverRig, terminate_commit_waiter
from tests.web.helpers import csrf_from


def titled(title: str, **settings: Any) -> dict[str, Any]:
    return {**all_types_quiz(**settings), "title": title}


async def count_quizzes(rig: FailoverRig, title: str) -> int:
    conn = await asyncpg.connect(rig.primary_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM quizzes WHERE title = $1", title))
    finally:
        await conn.close()


async def start_attempt(a: Instance, student: User, quiz_id: str) -> dict[str, Any]:
    r = await a.http.post(f"/api/v1/quizzes/{quiz_id}/attempts", headers=student.headers)
    assert r.status_code in (200, 201), r.text
    attempt: dict[str, Any] = r.json()
    return attempt


def assert_read_only(r: httpx.Response) -> None:
    """503, Retry-After and the contract's envelope with code read_only."""
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == "read_only"
    assert error["message"] == READ_ONLY_MESSAGE
    assert error["request_id"] == r.headers["x-request-id"]
    assert error["details"] == []


async def test_writes_during_a_no_leader_gap_shorter_than_the_wait_all_succeed(
    rig: FailoverRig, tmp_path: Path
) -> None:
    # Six writes per user fit the teacher's requests exactly: one counted per attempt
    # instead of per request would be refused (429).
    limits = {"rate_limit_enabled": True, "rate_limits_per_user": {"write": "6/60"}}
    async with instance(rig, tmp_path, db_leader_wait_seconds=20, **limits) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Gap quiz"))
        attempt = await start_attempt(a, student, quiz["id"])
        questions = by_type(attempt)
        pooled_before = a.services.db.engine.pool.checkedin()  # type: ignore[attr-defined]
        assert pooled_before > 0  # connections to the leader wait in the pool: they get cut

        rig.no_leader()
        requests = [
            a.http.put(
                f"/api/v1/attempts/{attempt['id']}/responses/{questions['true_false']['id']}",
                json={"value": True},
                headers=student.headers,
            ),
            a.http.put(
                f"/api/v1/attempts/{attempt['id']}/responses/{questions['short_answer']['id']}",
                json={"text": "Paris"},
                headers=student.headers,
            ),
            *(
                a.http.post(
                    "/api/v1/quizzes", json=titled(f"Made in the gap {n}"), headers=teacher.headers
                )
                for n in range(3)
            ),
            a.http.patch(
                f"/api/v1/quizzes/{quiz['id']}",
                json={"description": "edited in the gap"},
                headers=teacher.headers,
            ),
        ]
        sent = [asyncio.ensure_future(r) for r in requests]
        await eventually(lambda: a.services.db.leader.read_only, what="read-only mode")
        await asyncio.sleep(1.5)  # the gap: every request above is waiting for a leader
        assert not any(task.done() for task in sent)
        rig.leader_back()
        answers = await asyncio.gather(*sent)

        assert [r.status_code for r in answers] == [200, 200, 201, 201, 201, 200], [
            r.text for r in answers
        ]
        for n in range(3):  # each POST ran to its end once: no duplicate
            assert await count_quizzes(rig, f"Made in the gap {n}") == 1
        r = await a.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
        assert r.status_code == 200, r.text
        results = {x["question_id"]: x for x in r.json()["results"]}
        assert results[questions["true_false"]["id"]]["correct"] is True
        assert results[questions["short_answer"]["id"]]["correct"] is True

        assert a.metric("db_write_retries_total", outcome="recovered") == 6
        # Measured once per request, whatever the attempts: 1 while seeding, 3 in the gap.
        created = {"method": "POST", "route": "/api/v1/quizzes", "status": "201"}
        assert a.metric("http_requests_total", **created) == 4
        assert a.metric("db_write_retries_total", outcome="read_only") == 0
        assert not a.services.db.leader.read_only  # the first commit ended the mode
        assert a.metric("db_read_only") == 0
        assert a.metric("db_read_only_seconds_total") > 1.0


async def test_a_gap_longer_than_the_wait_answers_read_only_and_health_says_degraded(
    rig: FailoverRig, tmp_path: Path
) -> None:
    async with instance(rig, tmp_path, db_leader_wait_seconds=1.0) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Long gap quiz"))
        attempt = await start_attempt(a, student, quiz["id"])
        question = by_type(attempt)["true_false"]["id"]
        rig.no_leader()
        try:
            r = await a.http.post(
                "/api/v1/quizzes", json=titled("Never saved"), headers=teacher.headers
            )
            assert_read_only(r)
            assert r.headers["x-quiz-read-only"] == "1"
            r = await a.http.put(
                f"/api/v1/attempts/{attempt['id']}/responses/{question}",
                json={"value": False},
                headers=student.headers,
            )
            assert_read_only(r)
            r = await a.http.post(
                f"/api/v1/quizzes/{quiz['id']}/unpublish", headers=teacher.headers
            )
            assert_read_only(r)
            assert a.metric("db_write_retries_total", outcome="read_only") == 3

            # The instance stays in rotation and says why it is degraded.
            assert a.services.db.leader.read_only
            assert a.metric("db_read_only") == 1
            r = await a.http.get("/health/ready")
            assert r.status_code == 200, r.text
            r = await a.http.get("/health")
            assert r.status_code == 200, r.text
            health = r.json()
            assert health["status"] == "degraded"
            database = health["checks"]["database"]
            assert database["status"] == "degraded"
            assert database["detail"].startswith(
                "no database leader: writes answered read_only for"
            )
            await eventually(lambda: a.metric("db_read_only_seconds_total") >= 1.0, what="seconds")
        finally:
            rig.leader_back()
        # Seen without traffic: the probe finds the leader and ends read-only mode.
        await eventually(lambda: not a.services.db.leader.read_only, what="the probe")
        assert a.metric("db_read_only") == 0
        assert (await a.http.get("/health")).json()["checks"]["database"]["status"] == "ok"
        assert await count_quizzes(rig, "Never saved") == 0
        r = await a.http.get(f"/api/v1/quizzes/{quiz['id']}", headers=teacher.headers)
        assert r.json()["status"] == "published"  # the unpublish did not happen
        r = await a.http.get(f"/api/v1/attempts/{attempt['id']}", headers=student.headers)
        assert question not in r.json()["responses"]


async def test_reads_answer_from_the_replica_while_there_is_no_leader(
    rig: FailoverRig, tmp_path: Path
) -> None:
    # A long read-your-writes window: the users' reads are meant for the primary (they
    # wrote just before), so they show the replica standing in for it.
    async with instance(
        rig, tmp_path, db_leader_wait_seconds=1.0, read_your_writes_seconds=60
    ) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Readable quiz"))
        attempt = await start_attempt(a, student, quiz["id"])
        r = await a.http.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=student.headers)
        assert r.status_code == 200, r.text
        timed = await a.api.quiz(teacher, titled("Timed quiz", time_limit_seconds=1))
        expiring = await start_attempt(a, student, timed["id"])
        await rig.wait_replayed()
        await asyncio.sleep(1.5)  # the timed attempt is past its deadline now
        rig.no_leader()
        try:
            a.services.cache.clear()  # nothing from before: every read reaches a database
            reads = {
                "catalogue": ("/api/v1/quizzes", {}),
                "quiz (anonymous, near-cache fast path)": (f"/api/v1/quizzes/{quiz['id']}", {}),
                "quiz (student)": (f"/api/v1/quizzes/{quiz['id']}", student.headers),
                "quiz (owner)": (f"/api/v1/quizzes/{quiz['id']}", teacher.headers),
                "leaderboard": (f"/api/v1/quizzes/{quiz['id']}/leaderboard", {}),
                "result": (f"/api/v1/attempts/{attempt['id']}", student.headers),
                "me": ("/api/v1/me", student.headers),
                "report": (f"/api/v1/quizzes/{quiz['id']}/report", teacher.headers),
            }
            for what, (path, headers) in reads.items():
                r = await a.http.get(path, headers=headers)
                assert r.status_code == 200, (what, r.text)
            assert r.json()["attempts"] == 1  # the report, from the replica
            assert a.metric("db_route_total", target="replica_no_leader") > 0
            assert a.services.db.leader.read_only

            # A GET that has to write (submit the expired attempt) cannot: read_only.
            r = await a.http.get(f"/api/v1/attempts/{expiring['id']}", headers=student.headers)
            assert_read_only(r)
        finally:
            rig.leader_back()
        r = await a.http.get(f"/api/v1/attempts/{expiring['id']}", headers=student.headers)
        assert r.status_code == 200 and r.json()["status"] == "submitted", r.text


async def test_a_commit_lost_in_flight_answers_commit_unknown_and_is_not_repeated(
    rig: FailoverRig, tmp_path: Path
) -> None:
    async with instance(rig, tmp_path, db_leader_wait_seconds=10) as a:
        teacher = await a.api.user("teacher")
        async with rig.commits_wait_forever() as admin:
            create = asyncio.ensure_future(
                a.http.post("/api/v1/quizzes", json=titled("Lost commit"), headers=teacher.headers)
            )
            await terminate_commit_waiter(admin)
            r = await create
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert "x-quiz-read-only" not in r.headers
        error = r.json()["error"]
        assert error["code"] == "commit_unknown"
        assert "may or may not have been saved" in error["message"]
        assert a.metric("db_write_retries_total", outcome="commit_unknown") == 1
        assert a.metric("db_write_retries_total", outcome="recovered") == 0
        # It had committed on the primary before the connection was cut, exactly once:
        # the server did not run it again.
        assert await count_quizzes(rig, "Lost commit") == 1


async def test_an_autosave_cut_while_committing_runs_again_because_it_is_idempotent(
    rig: FailoverRig, tmp_path: Path
) -> None:
    async with instance(rig, tmp_path, db_leader_wait_seconds=20) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Idempotent save"))
        attempt = await start_attempt(a, student, quiz["id"])
        question = by_type(attempt)["short_answer"]["id"]
        async with rig.commits_wait_forever() as admin:
            save = asyncio.ensure_future(
                a.http.put(
                    f"/api/v1/attempts/{attempt['id']}/responses/{question}",
                    json={"text": "Paris"},
                    headers=student.headers,
                )
            )
            await terminate_commit_waiter(admin)
            # Run again, it waits for the standby too; the block's end lets it commit.
            await eventually(lambda: a.metric("db_errors_total", database="primary") > 0)
        r = await save
        assert r.status_code == 200, r.text
        assert a.metric("db_write_retries_total", outcome="recovered") == 1
        r = await a.http.get(f"/api/v1/attempts/{attempt['id']}", headers=student.headers)
        assert r.json()["responses"][question] == {"text": "Paris"}


async def test_a_demoted_server_behind_the_write_address_is_dropped_from_the_pool(
    rig: FailoverRig, tmp_path: Path
) -> None:
    """Writes that reach a demoted server fail with 25006 and are run again; once the
    leader is back, connections still open to the demoted server (HAProxy has not cut
    them) must not be reused: 25006 counts as a disconnect."""
    async with instance(rig, tmp_path, db_leader_wait_seconds=20) as a:
        teacher = await a.api.user("teacher")
        rig.demote()
        try:
            # Fill the pool with connections to the demoted server (reads work there).
            await asyncio.gather(*(a.http.get("/api/v1/quizzes") for _ in range(5)))
            sent = [
                asyncio.ensure_future(
                    a.http.post(
                        "/api/v1/quizzes", json=titled(f"Demoted {n}"), headers=teacher.headers
                    )
                )
                for n in range(3)
            ]
            await eventually(lambda: a.services.db.leader.read_only, what="read-only mode")
        finally:
            rig.undemote(cut=False)
        answers = await asyncio.gather(*sent)
        assert [r.status_code for r in answers] == [201, 201, 201], [r.text for r in answers]
        for n in range(3):
            assert await count_quizzes(rig, f"Demoted {n}") == 1
        for _ in range(5):  # and later writes never meet a connection to the standby
            r = await a.http.post("/api/v1/quizzes", json=titled("After"), headers=teacher.headers)
            assert r.status_code == 201, r.text


BANNER = "Saving is paused for a moment; your answers are kept and sent when it is back."


async def test_web_pages_show_the_banner_and_autosaves_get_a_read_only_answer(
    rig: FailoverRig, tmp_path: Path
) -> None:
    async with instance(rig, tmp_path, db_leader_wait_seconds=1.0) as a:
        teacher = await a.api.user("teacher")
        student = await a.api.user("student")
        quiz = await a.api.quiz(teacher, titled("Web quiz"))
        attempt = await start_attempt(a, student, quiz["id"])
        question = by_type(attempt)["short_answer"]["id"]
        a.http.cookies.set(SESSION_COOKIE, student.headers["Authorization"].split()[1])
        page = await a.http.get(f"/attempts/{attempt['id']}")
        assert page.status_code == 200, page.text
        assert (
            '<p id="save-paused" class="banner wrap" role="status" aria-live="polite"></p>'
            in page.text
        )
        token = csrf_from(page.text)
        form = {"csrf_token": token, "qtype": "short_answer", "text": "Paris"}
        answer_path = f"/attempts/{attempt['id']}/answers/{question}"

        rig.no_leader()
        try:
            r = await a.http.post(answer_path, data=form, headers={"HX-Request": "true"})
            assert r.status_code == 503, r.text
            assert r.headers["x-quiz-read-only"] == "1"  # what app.js looks for
            assert int(r.headers["retry-after"]) >= 1
            r = await a.http.post(answer_path, data=form)  # without JavaScript: a page
            assert r.status_code == 503
            assert r.headers["content-type"].startswith("text/html")
            assert "Saving is paused for a moment" in r.text  # the title
            assert "Nothing was saved; try again in a few seconds." in r.text
            for path in ("/quizzes", f"/quizzes/{quiz['id']}", f"/attempts/{attempt['id']}"):
                r = await a.http.get(path)
                assert r.status_code == 200, (path, r.text)
                assert BANNER in r.text, path
        finally:
            rig.leader_back()
        await eventually(lambda: not a.services.db.leader.read_only, what="the probe")
        r = await a.http.get("/quizzes")
        assert BANNER not in r.text
        r = await a.http.post(answer_path, data=form, headers={"HX-Request": "true"})
        assert r.status_code == 200 and "Saved at" in r.text, r.text


async def test_background_work_survives_a_failover(rig: FailoverRig, tmp_path: Path) -> None:
    """The attempt sweep and the job runner meet the failover, log it and carry on."""
    async with instance(
        rig,
        tmp_path,
        background=True,
        db_leader_wait_seconds=30,
        embedded_worker=True,
        ai_worker_poll_seconds=0.2,
        attempt_sweep_interval_seconds=0.2,
    ) as a:
        teacher = await a.api.user("teacher")
        sweeps = {"task": "attempt_sweep", "outcome": "failed"}
        rig.no_leader()
        with capture_logs() as logs:
            await eventually(
                lambda: any(x["event"] == "claiming jobs failed: database failover" for x in logs),
                what="the job runner meeting the failover",
            )
        try:
            draft = asyncio.ensure_future(
                a.http.post(
                    "/api/v1/ai/quizzes",
                    json={"topic": "Volcanoes", "num_questions": 2},
                    headers=teacher.headers,
                )
            )
            await eventually(
                lambda: a.metric("background_task_runs_total", **sweeps) >= 3, what="sweeps"
            )
            tasks = [*a.services._tasks, a.services._sweep_task, a.services._runner_task]
            assert all(task is not None and not task.done() for task in tasks)
        finally:
            rig.leader_back()
        r = await draft
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]

        async def succeeded() -> bool:
            r = await a.http.get(f"/api/v1/jobs/{job}", headers=teacher.headers)
            assert r.json()["status"] in ("queued", "running", "succeeded"), r.text
            return bool(r.json()["status"] == "succeeded")

        await eventually(succeeded, within=60, what="the draft job")
        ok = a.metric("background_task_runs_total", task="attempt_sweep", outcome="ok")
        await eventually(
            lambda: a.metric("background_task_runs_total", task="attempt_sweep", outcome="ok") > ok,
            what="a sweep after the failover",
        )


async def test_a_replica_read_whose_connection_is_cut_runs_again(
    rig: FailoverRig, tmp_path: Path
) -> None:
    # HAProxy cuts the read frontend's sessions to a replica it stops routing to (it was
    # promoted, or fell behind): the pooled connections die under the next reads.
    async with instance(rig, tmp_path) as a:
        teacher = await a.api.user("teacher")
        await a.api.quiz(teacher, titled("Catalogued quiz"), publish=True)
        await rig.wait_replayed()
        await asyncio.sleep(1.5)  # past the read-your-writes window: reads use the replica
        for _ in range(3):  # the replica pool holds connections now
            r = await a.http.get("/api/v1/quizzes")
            assert r.status_code == 200, r.text
        before = a.metric("db_route_total", target="replica_read")
        assert before > 0
        rig.command("shutdown sessions server read/replica")
        for _ in range(3):
            r = await a.http.get("/api/v1/quizzes")
            assert r.status_code == 200, r.text
            assert r.json()["total"] >= 1
        assert a.metric("db_route_total", target="replica_read") > before


async def test_a_read_after_the_request_committed_waits_for_the_leader(
    rig: FailoverRig, tmp_path: Path
) -> None:
    # A request that has written cannot be run again; its later reads of the primary
    # (the quiz it just created) wait for a leader where the connection is opened, and
    # longer than the leader wait (here 1 s; the leader is back after 1.5 s): the change
    # is made, only the answer is missing.
    async with instance(rig, tmp_path, db_leader_wait_seconds=1) as a:
        db = a.services.db
        commits, token = track_commits()
        try:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
            assert commits.committed
            db.engine.pool.dispose()  # type: ignore[attr-defined]  # the next read connects
            rig.no_leader()
            loop = asyncio.get_running_loop()
            loop.call_later(1.5, rig.leader_back)
            async with db.read_session(fresh=True) as session:
                assert await session.scalar(text("SELECT NOT pg_is_in_recovery()")) is True
            assert commits.deadline is not None  # it waited
        finally:
            stop_tracking(token)
            rig.leader_back()


async def test_the_quiz_read_after_its_write_survives_a_cut_connection(
    rig: FailoverRig, tmp_path: Path
) -> None:
    # The response to a write reads what was written (QuizService.snapshot) after the
    # commit, when the request can no longer be run again: the read itself runs again.
    async with instance(rig, tmp_path, db_leader_wait_seconds=20) as a:
        teacher = await a.api.user("teacher")
        quiz = await a.api.quiz(teacher, titled("Read after write"))
        commits, token = track_commits()
        try:
            async with a.services.db.session() as session:
                await session.execute(text("SELECT 1"))
            assert commits.committed and not commits.repeatable
            a.services.cache.clear()
            rig.command("shutdown sessions server write/leader")  # the pool's connections die
            snap = await a.services.quizzes.snapshot(quiz["id"])
            assert snap is not None and snap.title == "Read after write"
        finally:
            stop_tracking(token)
