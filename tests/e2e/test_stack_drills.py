"""Drills against a real one-host stack: HAProxy (TLS), supervisord, PostgreSQL primary +
replica, Redis, Prometheus and Alertmanager, all on 127.0.0.1 and free ports.

One stack serves the whole module (bringing it up costs ~30 s); the drills run in file
order and each leaves the stack as it found it (2 healthy instances of the active
release). Timings the closing note quotes are printed with ``-s`` / in the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quizplatform.ops import alert_receiver
from quizplatform.ops.process import pid_alive, wait_for
from quizplatform.ops.stack import Stack
from tests.e2e.live_drill import bench_module, brief, drill_args, play
from tests.e2e.stack_helpers import (
    FAILING_RELEASE,
    SLOW_RELEASE,
    Load,
    Seed,
    cli_json,
    make_release_source,
    quiz_cli,
    seed,
    stack_for_module,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and shutil.which("runuser") is None,
    reason="the stack runs PostgreSQL as the postgres user",
)

MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from stack_for_module(tmp_path_factory, "stack_drills", MEASURED)


@pytest.fixture(scope="module")
def data(stack: Stack) -> Seed:
    return seed(stack)


def status_json(stack: Stack) -> dict[str, object]:
    return cli_json(stack, "stack", "status")  # type: ignore[no-any-return]


def version_served(stack: Stack) -> str:
    answer = httpx.get(stack.url + "/api/v1/version", verify=False, timeout=5)
    return str(answer.json()["version"])


def quiz_url(stack: Stack, data: Seed) -> str:
    return f"{stack.url}/api/v1/quizzes/{data.quiz_id}"


def test_status_lists_components_and_ready_instances(stack: Stack) -> None:
    report = status_json(stack)
    assert report["url"] == stack.url
    components = {c["name"]: c for c in report["components"]}  # type: ignore[attr-defined]
    for name in (
        "etcd",
        "patroni-pg1",
        "patroni-pg2",
        "redis-0",
        "redis-1",
        "sentinel-0",
        "sentinel-1",
        "sentinel-2",
        "backup-scheduler",
        "supervisord",
        "haproxy",
        "prometheus",
        "alertmanager",
        "alert-receiver",
        "worker",
    ):
        assert components[name]["state"] in ("running", "RUNNING".lower()), components[name]
        assert pid_alive(components[name]["pid"]), name
    instances = report["instances"]
    assert len(instances) == 2  # type: ignore[arg-type]
    for instance in instances:  # type: ignore[attr-defined]
        assert instance["ready"] and instance["weight"] == 100 and instance["pid"]
        assert {"name", "pid", "port", "ready", "weight", "release"} <= instance.keys()
    database = report["database"]
    assert database["leader"] in ("pg1", "pg2") and database["read_only"] is False  # type: ignore[index]
    roles = sorted(m["role"] for m in database["members"])  # type: ignore[index]
    assert roles == ["leader", "sync_standby"], database
    for member in database["members"]:  # type: ignore[index]
        assert pid_alive(member["pid"]) and pid_alive(member["patroni_pid"]), member
        assert member["lag_bytes"] == 0 or member["role"] != "leader"


def test_stack_up_again_is_idempotent(stack: Stack) -> None:
    def pids() -> dict[str, object]:
        report = status_json(stack)
        found = {c["name"]: c["pid"] for c in report["components"]}  # type: ignore[attr-defined]
        found |= {i["name"]: i["pid"] for i in report["instances"]}  # type: ignore[attr-defined]
        return found

    before = pids()
    again = quiz_cli("stack", "up", "--dir", str(stack.dir))
    assert again.returncode == 0, again.stdout + again.stderr
    assert pids() == before
    assert stack.config.https_port == Stack(stack.dir).config.https_port


def test_a_changed_haproxy_config_reloads_under_load_without_failed_requests(
    stack: Stack, data: Seed
) -> None:
    load = Load(quiz_url(stack, data), seconds=8, token=data.teacher_token)
    time.sleep(2)
    changed = json.dumps({"check_interval_ms": stack.config.check_interval_ms + 100})
    again = quiz_cli("stack", "up", "--dir", str(stack.dir), "--config-json", changed)
    result = load.result()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "inter 600ms" in (stack.run_dir / "haproxy.cfg").read_text()
    assert all(i["ready"] for i in status_json(stack)["instances"])  # type: ignore[attr-defined]
    assert result.requests > 100
    assert result.failed == 0, result.output


def test_https_only_with_hsts_and_redirect(stack: Stack) -> None:
    answer = httpx.get(
        stack.url + "/health/ready",
        verify=ssl.create_default_context(cafile=stack.dir / "tls" / "ca.pem"),
    )
    assert answer.status_code == 200
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    plain = httpx.get(f"http://{stack.config.bind}:{stack.config.http_port}/api/v1/version")
    assert plain.status_code == 301
    assert plain.headers["location"] == f"{stack.url}/api/v1/version"


def test_smoke_passes_against_the_stack_with_metrics_on_the_internal_listener(
    stack: Stack,
) -> None:
    # `quiz stack up` ran `quiz smoke setup`: the journey signs in and takes the smoke quiz
    # through the TLS front door; metrics come from an instance's own port, not HAProxy.
    instance = stack.active_instances()[0]
    started = time.monotonic()
    done = quiz_cli(
        "smoke",
        stack.url,
        "--credentials-file",
        str(stack.dir / "secrets" / "smoke-credentials.json"),
        "--ca-file",
        str(stack.dir / "tls" / "ca.pem"),
        "--metrics-url",
        f"http://127.0.0.1:{instance.port}/metrics",
        "--json",
        timeout=60,
    )
    MEASURED["smoke_seconds"] = round(time.monotonic() - started, 2)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert [s["name"] for s in report["steps"]][-2:] == ["sign out", "metrics"]


def test_sigkilled_instance_is_back_within_10_s_without_failed_requests(
    stack: Stack, data: Seed
) -> None:
    victim = stack.active_instances()[0]
    load = Load(quiz_url(stack, data), seconds=12, token=data.teacher_token)
    time.sleep(2)
    pid = stack.supervisor.program_pid(victim.name)
    assert pid
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    restarted = stack.supervisor.wait_restarted(victim.name, pid, timeout=15)
    wait_for(lambda: not _lb_up(stack, victim.slot), 5, "HAProxy to mark it down", interval=0.02)
    stack.wait_lb_up([victim], timeout=15)
    back = time.monotonic() - killed_at
    result = load.result()
    MEASURED["kill_restart_process_s"] = round(restarted, 2)
    MEASURED["kill_to_back_in_rotation_s"] = round(back, 2)
    MEASURED["kill_drill_requests"] = result.requests
    assert back < 10, f"back in rotation after {back:.1f} s"
    assert result.requests > 100
    assert result.failed == 0, result.output


def test_live_game_goes_on_when_an_instance_is_killed_mid_question(stack: Stack) -> None:
    """200 players in a live game through HAProxy; one instance is SIGKILLed 1 s into
    question 2: its players reconnect to the other, the game goes on, no acknowledged
    answer is lost and every score is exact. The drill waits until supervisord has
    restarted the instance and HAProxy routes to it again."""
    target = bench_module("live_run").Target.of_stack(stack.dir)
    result = play(target, drill_args(kill_instance_at_question=2, kill_after=1.0))
    kill = result["kill"]
    MEASURED["live_kill_affected_players"] = kill["affected_players"]
    MEASURED["live_kill_reconnect_p95_s"] = kill["reconnect_p95_s"]
    MEASURED["live_kill_back_after_kill_p95_s"] = kill["back_after_kill_p95_s"]
    MEASURED["live_kill_ack_p99_ms"] = result["p99_ack_ms"]
    assert kill["back_in_rotation_after_s"] > 0, brief(result)
    assert kill["affected_players"] >= 20, brief(result)  # leastconn put players on both
    assert kill["came_back"] == kill["affected_players"], brief(result)
    assert kill["reconnect_p95_s"] < 5, brief(result)
    assert result["players"] == 200, brief(result)  # the game went on for everyone
    assert result["lost_answers"] == 0, brief(result)
    assert result["scores_exact"] is True, brief(result)
    assert result["rank_problems"] == [], brief(result)
    assert len(stack.active_instances()) == 2
    stack.wait_lb_up(stack.active_instances(), timeout=30)


def _lb_up(stack: Stack, slot: int) -> bool:
    server = stack.haproxy.server("app", slot)
    return bool(server and server.up)


def test_instance_down_alert_reaches_the_webhook(stack: Stack) -> None:
    victim = stack.active_instances()[1]
    before = len(alert_receiver.received(stack.alerts_file))

    def scraped_up() -> bool:
        rows = stack.prometheus_query(f'up{{job="quiz",instance_name="{victim.name}"}}')
        return bool(rows) and rows[0]["value"][1] == "1"

    wait_for(scraped_up, 30, "Prometheus to scrape the instance")
    pid = stack.supervisor.program_pid(victim.name)
    assert pid
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # Supervisord restarts it within about a second, faster than a 1 s scrape can be sure
    # to notice; holding its port makes the restarts fail (a crash loop) until we let go.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    wait_for(
        lambda: blocker.bind(("127.0.0.1", victim.port)) is None, 5, "the port", interval=0.005
    )
    blocker.listen()  # a listening socket makes the restarted instance's bind fail

    def hang_up() -> None:  # and every connection to it is closed at once
        with contextlib.suppress(OSError):
            while True:
                blocker.accept()[0].close()

    threading.Thread(target=hang_up, daemon=True).start()

    def instance_down_arrived() -> bool:
        for message in alert_receiver.received(stack.alerts_file)[before:]:
            for alert in message.get("alerts", []):  # type: ignore[attr-defined]
                if alert["labels"]["alertname"] == "InstanceDown":
                    return True
        return False

    took = wait_for(instance_down_arrived, 60, "InstanceDown at the webhook receiver")
    MEASURED["instance_down_alert_after_kill_s"] = round(time.monotonic() - killed_at, 2)
    wait_for(lambda: not _lb_up(stack, victim.slot), 20, "HAProxy to mark it down")
    blocker.shutdown(socket.SHUT_RDWR)
    blocker.close()
    assert took < 60
    stack.wait_instance_ready(victim, timeout=30)
    stack.wait_lb_up([victim], timeout=30)


def test_reads_go_to_the_replica_and_a_user_reads_their_own_write(stack: Stack, data: Seed) -> None:
    api = stack.url + "/api/v1"
    teacher = {"Authorization": f"Bearer {data.teacher_token}"}

    def routed(target: str) -> float:
        rows = stack.prometheus_query(f'sum(db_route_total{{target="{target}"}})')
        return float(rows[0]["value"][1]) if rows else 0.0

    direct_before = _direct_route_counts(stack)
    with httpx.Client(verify=False, timeout=10) as client:
        for _ in range(20):
            assert client.get(f"{api}/quizzes").status_code == 200
        # Read-your-writes: create, then read at once, many times over (any instance).
        for n in range(10):
            made = client.post(f"{api}/quizzes", json={"title": f"fresh {n}"}, headers=teacher)
            assert made.status_code == 201, made.text
            mine = client.get(f"{api}/quizzes/{made.json()['id']}", headers=teacher)
            assert mine.status_code == 200, mine.text
            listed = client.get(f"{api}/quizzes?mine=true&per_page=100", headers=teacher)
            assert made.json()["id"] in {q["id"] for q in listed.json()["items"]}
    after = _direct_route_counts(stack)
    assert after["replica_read"] - direct_before["replica_read"] >= 20
    assert after["primary_write"] > direct_before["primary_write"]
    # The same numbers reach Prometheus, where the dashboards and alerts read them.
    wait_for(lambda: routed("replica_read") > 0, 15, "replica reads in Prometheus")
    # The replica's lag is exported too (the ReplicaLagHigh alert reads it).
    lag = stack.prometheus_query('max(db_replica_lag_seconds{database="replica1"})')
    assert lag and float(lag[0]["value"][1]) < 10


def _direct_route_counts(stack: Stack) -> dict[str, float]:
    totals: dict[str, float] = {
        "replica_read": 0.0,
        "primary_write": 0.0,
        "primary_read": 0.0,
        "replica_fallback": 0.0,
    }
    for instance in stack.active_instances():
        text = httpx.get(f"http://127.0.0.1:{instance.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith("db_route_total{"):
                target = line.split('target="', 1)[1].split('"', 1)[0]
                totals[target] = totals.get(target, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def test_scale_down_under_load_loses_no_request(stack: Stack, data: Seed) -> None:
    stack.scale_to(3, reason="drill")
    assert len(stack.active_instances()) == 3
    load = Load(quiz_url(stack, data), seconds=10, token=data.teacher_token)
    time.sleep(2)
    started = time.monotonic()
    stack.scale_to(2, reason="drill")
    MEASURED["scale_down_drain_s"] = round(time.monotonic() - started, 2)
    result = load.result()
    assert len(stack.active_instances()) == 2
    assert result.requests > 100
    assert result.failed == 0, result.output


def test_blue_green_deploy_under_load_then_rollback(
    stack: Stack, data: Seed, tmp_path: Path
) -> None:
    blue = version_served(stack)
    source = make_release_source(tmp_path, marker="green")
    load = Load(quiz_url(stack, data), seconds=25, token=data.teacher_token)
    done = quiz_cli(
        "deploy", "--strategy", "blue-green", "--from", str(source), "--dir", str(stack.dir)
    )
    result = load.result()
    assert done.returncode == 0, done.stdout + done.stderr
    green = version_served(stack)
    assert green != blue
    assert {i.release for i in stack.active_instances()} == {green}
    assert result.requests > 100
    assert result.failed == 0, result.output

    # Rollback time as users see it: from the command until the old version answers.
    load = Load(quiz_url(stack, data), seconds=8, token=data.teacher_token)
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
    rollback = subprocess.Popen(
        [sys.executable, "-m", "quizplatform.cli", "rollback", "--dir", str(stack.dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    wait_for(lambda: version_served(stack) == blue, 30, "the previous release", interval=0.05)
    MEASURED["rollback_to_old_version_served_s"] = round(time.monotonic() - started, 2)
    output, _ = rollback.communicate(timeout=120)
    MEASURED["rollback_command_s"] = round(time.monotonic() - started, 2)
    result = load.result()
    assert rollback.returncode == 0, output
    assert MEASURED["rollback_to_old_version_served_s"] < 10
    assert result.failed == 0, result.output
    releases = json.loads(quiz_cli("releases", "--json", "--dir", str(stack.dir)).stdout)
    statuses = {r["version"]: r["status"] for r in releases}
    assert statuses[blue] == "active" and statuses[green] == "previous"


def test_canary_of_a_good_release_deploys_without_failed_requests(
    stack: Stack, data: Seed, tmp_path: Path
) -> None:
    stable = version_served(stack)
    source = make_release_source(tmp_path, marker="good canary")
    # Longer than the deploy (about 45 s here): ended by finish() once it is done.
    load = Load(quiz_url(stack, data), seconds=90, connections=8, token=data.teacher_token)
    done = quiz_cli(
        "deploy",
        "--strategy",
        "canary",
        "--from",
        str(source),
        "--dir",
        str(stack.dir),
        "--steps",
        "10,50,100",
        "--step-seconds",
        "6",
        "--check-interval",
        "2",
        "--window",
        "10s",
    )
    time.sleep(2)  # requests to the new release alone
    result = load.finish()
    assert done.returncode == 0, done.stdout + done.stderr
    new = version_served(stack)
    assert new != stable
    assert {i.release for i in stack.active_instances()} == {new}
    assert result.requests > 100
    assert result.failed == 0, result.output
    # Only 10 % and then 50 % of requests reached the canary before the switch.
    assert "canary at 10%" in done.stdout and "canary at 50%" in done.stdout


@pytest.mark.parametrize("bad", ["errors", "latency"])
def test_canary_of_a_bad_release_is_rolled_back(
    stack: Stack, data: Seed, tmp_path: Path, bad: str
) -> None:
    stable = version_served(stack)
    patch = FAILING_RELEASE if bad == "errors" else SLOW_RELEASE
    source = make_release_source(tmp_path, patch=patch, marker=bad)
    load = Load(quiz_url(stack, data), seconds=60, connections=8, token=data.teacher_token)
    started = time.monotonic()
    done = quiz_cli(
        "deploy",
        "--strategy",
        "canary",
        "--from",
        str(source),
        "--dir",
        str(stack.dir),
        "--step-seconds",
        "30",
        "--check-interval",
        "2",
        "--window",
        "10s",
    )
    MEASURED[f"canary_{bad}_abort_s"] = round(time.monotonic() - started, 2)
    load.stop()
    assert done.returncode == 3, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    exposed = re.search(r"the canary took traffic for ([\d.]+) s", done.stdout)
    assert exposed, done.stdout
    MEASURED[f"canary_{bad}_traffic_until_rollback_s"] = float(exposed.group(1))
    assert version_served(stack) == stable
    assert {i.release for i in stack.read_state().instances} == {stable}
    # Stable keeps serving: every request after the rollback succeeds.
    after = Load(quiz_url(stack, data), seconds=3, token=data.teacher_token).result()
    assert after.failed == 0, after.output


def test_autoscaler_scales_up_under_cpu_load_and_back_down(stack: Stack) -> None:
    with stack.locked() as state:
        state.config.up_window = 10
        state.config.down_window = 20
        state.config.cooldown = 5
        state.config.autoscale_interval = 1
        state.config.scale_up_cpu = 50
        state.config.scale_down_cpu = 15
    stack.config = state.config
    stack._start_autoscaler()
    try:
        load = Load(f"{stack.url}/_diag/cpu?ms=20", seconds=60, connections=8)
        try:
            up = wait_for(
                lambda: len(stack.active_instances()) >= 3, 55, "scale-up to 3", interval=0.5
            )
            MEASURED["autoscaler_scale_up_s"] = round(up, 1)
        finally:
            load.stop()
        down = wait_for(
            lambda: len(stack.active_instances()) == 2, 120, "scale-down to 2", interval=0.5
        )
        MEASURED["autoscaler_scale_down_after_load_s"] = round(down, 1)
        decisions = [
            json.loads(line)
            for line in (stack.log_dir / "autoscaler.log").read_text().splitlines()
            if line.startswith("{") and "autoscaler decision" in line
        ]
        actions = [d["action"] for d in decisions if d["action"] != "hold"]
        assert actions[:1] == ["up"] and "down" in actions, actions
        assert all(d["instance"] == "autoscaler" for d in decisions)
    finally:
        stack.supervisor.remove("autoscaler")
        stack.scale_to(2, reason="drill cleanup")


def test_sslyze_mozilla_intermediate(stack: Stack) -> None:
    sslyze = Path(sys.executable).parent / "sslyze"
    done = subprocess.run(
        [
            str(sslyze),
            f"{stack.config.bind}:{stack.config.https_port}",
            "--certinfo_ca_file",
            str(stack.dir / "tls" / "ca.pem"),
            "--mozilla_config=intermediate",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"{stack.config.bind}:{stack.config.https_port}: OK - Compliant." in done.stdout


SECRET_FILES = (
    "stack.json",  # the Slack webhook URL
    "secrets/*",
    "run/candidate.acl",
    "redis/password",
    "redis/*/redis.conf",
    "redis/*/sentinel.conf",
    "tls/*.key",
    "tls/bundle.pem",
    "**/alertmanager.yml",
)


def test_the_stack_faces_the_internet_safely(stack: Stack) -> None:
    """On the public address: HTTPS, but not the operators' endpoints; nothing else of
    the stack listens there; Redis wants its password; files are not world-readable and
    those with secrets are the owner's alone."""
    public = stack.config.bind
    assert public != "127.0.0.1"
    verify = ssl.create_default_context(cafile=stack.dir / "tls" / "ca.pem")
    with httpx.Client(base_url=stack.url, verify=verify, timeout=5) as client:
        assert client.get("/api/v1/version").status_code == 200
        for path in ("/metrics", "/health"):
            assert client.get(path).status_code == 404, path
        refused = client.get("/api/v1/version", headers={"X-Quiz-Pool": "candidate"})
        assert refused.status_code == 200  # the stable pool answered, as for anyone
    for port in (stack.config.stats_port, stack.config.pg_port, stack.config.redis_port):
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((public, port)) != 0, f"port {port} on {public}"
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", stack.config.https_port)) != 0

    import redis

    for port in (stack.config.redis_port, *stack.config.redis_sentinel_ports):
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        with anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.set("qp:tok:forged", b"{}")

    secret = {path for pattern in SECRET_FILES for path in stack.dir.glob(pattern)}
    assert stack.dir / "stack.json" in secret and stack.dir / "redis" / "password" in secret
    loose = []
    for path in stack.dir.rglob("*"):
        if not path.is_file() or path.is_socket():
            continue
        mode = path.stat().st_mode & 0o777
        if (path in secret and mode != 0o600) or mode & 0o007 or mode & 0o022:
            loose.append(f"{path.relative_to(stack.dir)} {oct(mode)}")
    assert not loose, loose


def test_stack_down_stops_exactly_what_it_started(stack: Stack) -> None:
    report = status_json(stack)
    pids = [c["pid"] for c in report["components"] if c["pid"]]  # type: ignore[attr-defined]
    pids += [i["pid"] for i in report["instances"] if i["pid"]]  # type: ignore[attr-defined]
    pids += [m["pid"] for m in report["database"]["members"] if m["pid"]]  # type: ignore[index]
    assert len(pids) >= 14, report
    done = quiz_cli("stack", "down", "--dir", str(stack.dir))
    assert done.returncode == 0, done.stderr
    still = [pid for pid in pids if pid_alive(pid)]
    assert still == []
    again = quiz_cli("stack", "down", "--dir", str(stack.dir))
    assert "nothing was running" in again.stdout
