"""Data-tier drills against a real one-host stack: Patroni (leader + synchronous standby)
with etcd, HAProxy routing by Patroni's REST API, Redis with Sentinel, pgBackRest.

One stack serves the module; the drills run in file order and each leaves the stack with
a leader, a streaming synchronous standby and healthy instances. What they measure (RTO,
RPO, read-only time, durations) is printed and kept in var/measured/data_drills.json.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from playwright.async_api import Browser, expect

from quizplatform.ops.patroni import Member
from quizplatform.ops.postgres import query
from quizplatform.ops.process import pid_alive, wait_for
from quizplatform.ops.stack import Stack
from quizplatform.web.paths import SESSION_COOKIE
from tests.api.samples import by_type, four_question_quiz
from tests.e2e.stack_helpers import (
    Load,
    Seed,
    WriteLoad,
    WriteOutcome,
    cli_json,
    database,
    leader,
    quiz_cli,
    seed,
    stack_for_module,
    wait_settled,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and shutil.which("runuser") is None,
    reason="the stack runs PostgreSQL as the postgres user",
)

MEASURED: dict[str, float] = {}
# An unplanned takeover must accept writes again within this (the target).
RTO_LIMIT_SECONDS = 30.0
# Browser waits: the takeover (~20 s), the leader wait (10 s) and the page's retries (8 s).
BROWSER_WAIT_MS = 90_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from stack_for_module(tmp_path_factory, "data_drills", MEASURED)


@pytest.fixture(scope="module")
def data(stack: Stack) -> Seed:
    return seed(stack)


def catalogue_url(stack: Stack) -> str:
    """A read that needs the database (the catalogue is not in the near cache)."""
    return f"{stack.url}/api/v1/quizzes?per_page=5"


def kill_member(stack: Stack, member: Member, sig: int = signal.SIGKILL) -> list[int]:
    """Send ``sig`` to the member's Patroni and to every process of its PostgreSQL (the
    postmaster first, so it forks nothing new, then each backend, which PostgreSQL puts
    in a process group of its own): its node dying, or freezing with SIGSTOP. Returns the
    PIDs, for ``release``."""
    patroni = stack.supervisor.program_pid(member.program)
    postmaster = member.postmaster_pid()
    assert patroni and postmaster, f"{member.name}: patroni {patroni}, postmaster {postmaster}"
    os.kill(patroni, sig)
    os.kill(postmaster, sig)
    children = [child.pid for child in psutil.Process(postmaster).children(recursive=True)]
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return [patroni, postmaster, *children]


def release(frozen: list[int]) -> None:
    """Kill what ``kill_member`` froze (supervisord then restarts the member)."""
    for pid in frozen:
        for sig in (signal.SIGKILL, signal.SIGCONT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def read_only_seconds(stack: Stack) -> float:
    """The longest time any instance has spent in read-only mode (its
    ``db_read_only_seconds_total``), read from the instances directly."""
    longest = 0.0
    for instance in stack.active_instances():
        text = httpx.get(f"http://127.0.0.1:{instance.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith("db_read_only_seconds_total"):
                longest = max(longest, float(line.rsplit(" ", 1)[1]))
    return longest


def rejected(outcomes: list[WriteOutcome]) -> list[WriteOutcome]:
    return [o for o in outcomes if o.status != 201]


def missing_quizzes(stack: Stack, ids: list[str]) -> list[str]:
    """The acknowledged quizzes the leader does not have (RPO: must be none)."""
    if not ids:
        return []
    listed = ",".join(f"'{i}'" for i in ids)
    found = query(
        leader(stack).cluster(),
        f"SELECT id FROM quizzes WHERE id IN ({listed})",  # noqa: S608 - ids we generated
        database="quiz",
    )
    present = set(found.split())
    return [i for i in ids if i not in present]


def saved_titles(stack: Stack, titles: list[str]) -> set[str]:
    """Which of these quiz titles the leader has."""
    if not titles:
        return set()
    listed = ",".join("'" + t.replace("'", "''") + "'" for t in titles)
    found = query(
        leader(stack).cluster(),
        f"SELECT title FROM quizzes WHERE title IN ({listed})",  # noqa: S608 - ours
        database="quiz",
    )
    return set(found.splitlines())


def check_rejected_writes(stack: Stack, outcomes: list[WriteOutcome], drill: str) -> None:
    """Writes are refused only as documented: ``read_only`` (nothing was saved, which the
    leader confirms) or, for a COMMIT in flight when the leader died, ``commit_unknown``
    (either may be true: counted)."""
    refused = rejected(outcomes)
    assert {(o.status, o.code) for o in refused} <= {(503, "read_only"), (503, "commit_unknown")}, (
        refused[:5]
    )
    read_only = [o.title for o in refused if o.code == "read_only"]
    assert saved_titles(stack, read_only) == set(), "a write answered read_only was saved"
    unknown = [o.title for o in refused if o.code == "commit_unknown"]
    MEASURED[f"{drill}_writes_answered_read_only"] = len(read_only)
    MEASURED[f"{drill}_writes_answered_commit_unknown"] = len(unknown)
    MEASURED[f"{drill}_commit_unknown_that_were_saved"] = len(saved_titles(stack, unknown))


def writes_back_after(outcomes: list[WriteOutcome], since: float) -> float | None:
    """Seconds from ``since`` until writes were accepted again for good: the first
    acknowledged write answered after the last rejected one (None: never)."""
    last_failure = max((o.answered for o in outcomes if o.status != 201), default=since)
    later = [o for o in outcomes if o.status == 201 and o.sent >= since]
    recovered = [o for o in later if o.answered >= last_failure]
    return round(recovered[0].answered - since, 2) if recovered else None


def test_status_reports_the_data_tier(stack: Stack) -> None:
    report = database(stack)
    assert report["read_only"] is False
    members = report["members"]
    assert isinstance(members, list) and len(members) == 2
    assert {m["role"] for m in members} == {"leader", "sync_standby"}
    assert report["leader"] == next(m["name"] for m in members if m["role"] == "leader")
    for member in members:
        assert {"name", "role", "state", "pid", "patroni_pid", "lag_bytes", "timeline"} <= set(
            member
        )
        assert pid_alive(member["pid"]) and pid_alive(member["patroni_pid"])
    full = cli_json(stack, "stack", "status")
    assert full["database"]["leader"] == report["leader"]
    assert {"backup_repository", "last_backup", "last_verify"} <= set(full["database"])


def test_the_app_is_no_superuser_and_every_tcp_connection_needs_a_password(
    stack: Stack,
) -> None:
    member = leader(stack)
    role = query(
        member.cluster(),
        "SELECT rolsuper, (SELECT datdba::regrole::text FROM pg_database WHERE datname = 'quiz')"
        " FROM pg_roles WHERE rolname = 'quiz'",
    )
    assert role.split("\0") == ["f", "quiz"]
    hba = query(member.cluster(), "SELECT DISTINCT type, auth_method FROM pg_hba_file_rules")
    rules = {tuple(line.split("\0")) for line in hba.splitlines()}
    assert ("host", "trust") not in rules and ("host", "scram-sha-256") in rules
    for name in ("superuser", "replication", "rewind", "app"):
        secret = stack.db.secrets_dir / name
        assert secret.stat().st_mode & 0o077 == 0, f"{secret} is readable by others"


def test_switchover_under_load_fails_no_request(stack: Stack, data: Seed) -> None:
    wait_settled(stack)
    before = leader(stack).name
    reads = Load(catalogue_url(stack), seconds=20, token=data.student_token)
    writes = WriteLoad(stack.url, data.teacher_token, seconds=20)
    time.sleep(4)
    started = time.monotonic()
    done = quiz_cli("db", "switchover", "--dir", str(stack.dir))
    MEASURED["switchover_command_s"] = round(time.monotonic() - started, 2)
    writes.end_after_recovery(time.monotonic())
    outcomes = writes.wait()
    result = reads.finish()
    assert done.returncode == 0, done.stdout + done.stderr
    assert leader(stack).name != before
    assert result.requests > 50
    assert result.failed == 0, result.output
    assert len(outcomes) > 50
    assert rejected(outcomes) == [], rejected(outcomes)[:5]
    slowest = max(o.answered - o.sent for o in outcomes)
    MEASURED["switchover_failed_requests"] = result.failed + len(rejected(outcomes))
    MEASURED["switchover_slowest_write_s"] = round(slowest, 2)
    assert missing_quizzes(stack, writes.acknowledged) == []


def test_leader_node_killed_under_load(stack: Stack, data: Seed) -> None:
    """Patroni and PostgreSQL of the leader SIGKILLed together; supervisord restarts the
    member, which hands the leader key to its synchronous standby and rejoins as a
    standby (pg_rewind)."""
    wait_settled(stack)
    victim = leader(stack)
    read_only_before = read_only_seconds(stack)
    reads = Load(catalogue_url(stack), seconds=30, token=data.student_token)
    writes = WriteLoad(stack.url, data.teacher_token, seconds=30)
    time.sleep(5)
    killed_at = time.monotonic()
    kill_member(stack, victim)
    wait_for(
        lambda: (now := stack.db.leader()) is not None and now.name != victim.name,
        RTO_LIMIT_SECONDS,
        "a new leader",
        interval=0.1,
    )
    MEASURED["kill_new_leader_s"] = round(time.monotonic() - killed_at, 2)
    writes.end_after_recovery(killed_at)
    outcomes = writes.wait()
    result = reads.finish()
    rto = writes_back_after(outcomes, killed_at)
    assert rto is not None and rto < RTO_LIMIT_SECONDS, rto
    MEASURED["kill_rto_writes_accepted_s"] = rto
    check_rejected_writes(stack, outcomes, "kill")
    MEASURED["kill_failed_reads"] = result.failed
    MEASURED["kill_read_only_s"] = round(read_only_seconds(stack) - read_only_before, 2)
    assert result.failed == 0, result.output
    lost = missing_quizzes(stack, writes.acknowledged)
    MEASURED["kill_rpo_acknowledged_writes_lost"] = len(lost)
    assert lost == []
    # The old leader is back, as a standby of the new one, on its own.
    wait_for(
        lambda: stack.db.healthy() and leader(stack).name != victim.name,
        90,
        f"{victim.name} to rejoin as a standby",
    )
    MEASURED["kill_old_leader_rejoined_s"] = round(time.monotonic() - killed_at, 2)
    roles = {m["name"]: m["role"] for m in database(stack)["members"]}  # type: ignore[attr-defined]
    assert roles[victim.name] in ("sync_standby", "replica")


def test_leader_node_kept_down_fails_over_when_its_key_expires(stack: Stack, data: Seed) -> None:
    """The harder case: the leader's node stops answering and nothing restarts it
    (frozen with SIGSTOP, which supervisord does not notice). The standby takes over once
    the leader key expires (ttl); afterwards the node is killed, and supervisord's
    restart brings it back as a standby."""
    wait_settled(stack)
    victim = leader(stack)
    read_only_before = read_only_seconds(stack)
    reads = Load(catalogue_url(stack), seconds=45, token=data.student_token)
    writes = WriteLoad(stack.url, data.teacher_token, seconds=45)
    time.sleep(5)
    killed_at = time.monotonic()
    frozen = kill_member(stack, victim, signal.SIGSTOP)
    try:
        wait_for(
            lambda: (now := stack.db.leader()) is not None and now.name != victim.name,
            RTO_LIMIT_SECONDS,
            "a new leader once the old one's key expired",
            interval=0.2,
        )
        MEASURED["kept_down_new_leader_s"] = round(time.monotonic() - killed_at, 2)
        writes.end_after_recovery(killed_at)
        outcomes = writes.wait()
        result = reads.finish()
    finally:
        release(frozen)
    rto = writes_back_after(outcomes, killed_at)
    assert rto is not None and rto < RTO_LIMIT_SECONDS, rto
    MEASURED["kept_down_rto_writes_accepted_s"] = rto
    check_rejected_writes(stack, outcomes, "kept_down")
    MEASURED["kept_down_read_only_s"] = round(read_only_seconds(stack) - read_only_before, 2)
    MEASURED["kept_down_failed_reads"] = result.failed
    assert result.failed == 0, result.output
    lost = missing_quizzes(stack, writes.acknowledged)
    MEASURED["kept_down_rpo_acknowledged_writes_lost"] = len(lost)
    assert lost == []
    wait_for(stack.db.healthy, 120, f"{victim.name} to rejoin as a standby")
    wait_settled(stack)


async def test_a_student_answers_through_a_failover_in_the_browser(
    stack: Stack, data: Seed, browser: Browser
) -> None:
    """The leader's node stops answering while a student answers (the takeover waits for
    its key to expire, ~20 s): saves are held for the stack's leader wait, then answered
    read_only; the page keeps the answers, shows the banner and sends them again; the
    submit waits for them. Every answer is saved and scored."""
    wait_settled(stack)
    api = f"{stack.url}/api/v1"
    teacher = {"Authorization": f"Bearer {data.teacher_token}"}
    student = {"Authorization": f"Bearer {data.student_token}"}
    async with httpx.AsyncClient(base_url=api, verify=False, timeout=60) as client:
        made = await client.post("/quizzes", json=four_question_quiz(), headers=teacher)
        assert made.status_code == 201, made.text
        quiz_id = made.json()["id"]
        published = await client.post(f"/quizzes/{quiz_id}/publish", headers=teacher)
        assert published.status_code == 200, published.text
        started = await client.post(f"/quizzes/{quiz_id}/attempts", headers=student)
        assert started.status_code == 201, started.text
    attempt = started.json()
    q = {kind: question["id"] for kind, question in by_type(attempt).items()}
    options = {o["text"]: o["id"] for o in by_type(attempt)["single_choice"]["options"]}

    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, ignore_https_errors=True
    )
    context.set_default_timeout(BROWSER_WAIT_MS)
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": data.student_token, "url": stack.url}]
    )
    page = await context.new_page()
    banner = page.locator("#save-paused")
    frozen: list[int] = []
    try:
        await page.goto(f"{stack.url}/attempts/{attempt['id']}")
        await page.locator(f"#o-{q['single_choice']}-{options['4']}").check()
        await expect(page.locator(f"#status-{q['single_choice']}")).to_contain_text(
            "Saved at", timeout=BROWSER_WAIT_MS
        )

        victim = leader(stack)
        frozen = kill_member(stack, victim, signal.SIGSTOP)
        frozen_at = time.monotonic()
        await page.locator(f"#tf-{q['true_false']}-true").check()
        await page.locator(f"#a-{q['short_answer']}").fill("Paris")
        await page.locator(f"#a-{q['short_answer']}").press("Tab")
        await page.locator(f"#a-{q['numeric']}").fill("3.14")
        await page.locator(f"#a-{q['numeric']}").press("Tab")
        await expect(banner).to_contain_text("Saving is paused", timeout=BROWSER_WAIT_MS)
        MEASURED["browser_banner_after_s"] = round(time.monotonic() - frozen_at, 2)
        await page.locator("#submit-attempt").click()
        await page.wait_for_url(
            re.compile(r".*/attempts/[0-9a-f]{32}/result.*"), timeout=BROWSER_WAIT_MS
        )
        MEASURED["browser_submitted_after_s"] = round(time.monotonic() - frozen_at, 2)
        assert leader(stack).name != victim.name
    finally:
        release(frozen)
        await context.close()
    async with httpx.AsyncClient(base_url=api, verify=False, timeout=60) as client:
        result = (await client.get(f"/attempts/{attempt['id']}", headers=student)).json()
    assert result["status"] == "submitted"
    assert result["score"] == result["max_score"] == 4, result
    wait_settled(stack)


def test_redis_master_killed_under_load_keeps_every_session(stack: Stack, data: Seed) -> None:
    """Sessions, lockouts and leaderboards live in Redis: its master SIGKILLed under load
    costs no request and no session; Sentinel promotes the replica, and the killed node,
    restarted by supervisord, follows the new master."""
    stack.redis.wait_healthy()
    before = stack.redis.status()
    master = next(n for n in stack.redis.nodes if n.address == before["master"])
    fresh = [seed(stack) for _ in range(3)]  # sessions made just before the kill
    time.sleep(0.5)  # replication is asynchronous: let the replica have them
    reads = Load(
        f"{stack.url}/api/v1/quizzes/{data.quiz_id}/leaderboard",
        seconds=20,
        token=data.student_token,
    )
    time.sleep(4)
    pid = stack.supervisor.program_pid(master.name)
    assert pid
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: stack.redis.status()["master"] not in (None, master.address),
        30,
        "Sentinel to promote a replica",
        interval=0.1,
    )
    MEASURED["redis_kill_new_master_s"] = round(time.monotonic() - killed_at, 2)
    result = reads.result()
    MEASURED["redis_kill_failed_requests"] = result.failed
    assert result.requests > 50
    assert result.failed == 0, result.output
    with httpx.Client(base_url=f"{stack.url}/api/v1", verify=False, timeout=30) as client:
        for made in fresh:
            for token in (made.teacher_token, made.student_token):
                me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200, me.text
    stack.redis.wait_healthy(60)
    MEASURED["redis_kill_old_master_back_as_replica_s"] = round(time.monotonic() - killed_at, 2)
    after = stack.redis.status()
    assert after["master"] != master.address and master.address in after["replicas"]
