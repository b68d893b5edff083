"""Helpers for the stack drills: a stack on free ports, load with wrk, users and a quiz."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from quizplatform.ops.patroni import Member
from quizplatform.ops.process import free_port, port_open
from quizplatform.ops.stack import Stack, StackConfig
from tests.api.samples import all_types_quiz
from tests.e2e.live_drill import LIVE_DRILL_ENV

REPO = Path(__file__).resolve().parents[2]


def quiz_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the ``quiz`` CLI as an operator would (none of the caller's QUIZ_* variables,
    wide enough that Rich tables do not wrap)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "quizplatform.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        cwd=REPO,
    )


def free_port_range(count: int) -> int:
    """A base port such that base+1 .. base+count are all free."""
    for _ in range(200):
        # Below the ephemeral range (32768+), where outgoing connections take ports.
        base = random.randint(20000, 32000)
        if not any(port_open(base + i, timeout=0.05) for i in range(1, count + 1)):
            return base
    raise RuntimeError("no free port range")


def free_port_ranges(*counts: int) -> list[int]:
    """Base ports for several ranges laid end to end in one free block.

    Ranges picked one by one may overlap each other, since none is listening yet when
    the next is picked (CI once drew pg members on 22001-22004 and instances on 21999+).
    """
    cursor = free_port_range(sum(counts))
    bases = []
    for count in counts:
        bases.append(cursor)
        cursor += count
    return bases


# The drills' stacks serve their public frontends here, as a stack facing the internet
# would (`quiz stack up --bind`); everything else stays on 127.0.0.1.
PUBLIC_ADDRESS = "127.0.0.2"


def drill_config(**overrides: Any) -> StackConfig:
    """A stack tuned for drills: fast health checks, scrapes and alerts, free ports."""
    pg_member_base, patroni_base, instance_base = free_port_ranges(4, 4, 20)
    config = StackConfig(
        env="staging",
        instances=2,
        bind=PUBLIC_ADDRESS,
        https_port=free_port(),
        http_port=free_port(),
        stats_port=free_port(),
        pg_port=free_port(),
        pg_replica_port=free_port(),
        pg_member_base_port=pg_member_base,
        patroni_base_port=patroni_base,
        etcd_port=free_port(),
        etcd_peer_port=free_port(),
        redis_port=free_port(),
        redis_replica_ports=[free_port()],
        redis_sentinel_ports=[free_port() for _ in range(3)],
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        receiver_port=free_port(),
        autoscaler_port=free_port(),
        worker_port=free_port(),
        instance_base_port=instance_base,
        check_interval_ms=500,
        scrape_interval="1s",
        evaluation_interval="1s",
        alert_group_wait="1s",
        instance_down_for="0s",
        autoscale=False,
        memory_limit_mb=600,
        instance_env={
            "QUIZ_RATE_LIMIT_ENABLED": "false",
            "QUIZ_DIAGNOSTIC_ROUTES": "true",
            **LIVE_DRILL_ENV,  # the live drill's players join from one address at once
        },
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@contextlib.contextmanager
def running_stack(directory: Path, config: StackConfig) -> Iterator[Stack]:
    """``quiz stack up`` with ``config`` as an operator would run it; down and purged
    (data and backups) afterwards."""
    given = {k: v for k, v in config.__dict__.items() if k not in ("env", "instances")}
    done = quiz_cli(
        "stack",
        "up",
        "--dir",
        str(directory),
        "--no-autoscale",
        "--https-port",
        str(config.https_port),
        "--http-port",
        str(config.http_port),
        "--config-json",
        json.dumps(given),
    )
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        yield Stack(directory)
    finally:
        down = quiz_cli("stack", "down", "--purge", "--dir", str(directory))
        print(down.stdout, down.stderr)
        shutil.rmtree(Stack(directory).config.data_root, ignore_errors=True)


def stack_for_module(
    tmp_path_factory: pytest.TempPathFactory, name: str, measured: dict[str, float]
) -> Iterator[Stack]:
    """The body of a drill module's ``stack`` fixture: a stack on free ports for the whole
    module; what the drills measured is recorded when it ends."""
    directory = tmp_path_factory.mktemp(name) / "stack"
    try:
        with running_stack(directory, drill_config()) as running:
            yield running
    finally:
        record_measurements(name, measured)


def cli_json(stack: Stack, *args: str) -> Any:
    """``quiz <args> --json --dir <stack>``, parsed."""
    done = quiz_cli(*args, "--json", "--dir", str(stack.dir))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def record_measurements(name: str, measured: dict[str, object]) -> None:
    """Print what a drill module measured and keep it in var/measured/<name>.json (the
    numbers the closing notes and docs quote)."""
    if not measured:
        return
    print(f"\nmeasured ({name}):", json.dumps(measured, indent=2))
    target = REPO / "var" / "measured" / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(measured, indent=2) + "\n")


@dataclass
class Seed:
    teacher_token: str
    student_token: str
    quiz_id: str


def seed(stack: Stack) -> Seed:
    """A teacher with a published quiz and a student, created through the front door."""
    with httpx.Client(base_url=stack.url + "/api/v1", verify=False, timeout=10) as c:
        suffix = random.randint(0, 10**9)
        password = "correct horse battery staple 42"
        tokens = []
        for role in ("teacher", "student"):
            email = f"{role}{suffix}@example.org"
            r = c.post(
                "/auth/register",
                json={"email": email, "password": password, "display_name": role, "role": role},
            )
            assert r.status_code == 201, r.text
            r = c.post("/auth/token", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            tokens.append(r.json()["access_token"])
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        r = c.post("/quizzes", json=all_types_quiz(), headers=auth)
        assert r.status_code == 201, r.text
        quiz_id = r.json()["id"]
        r = c.post(f"/quizzes/{quiz_id}/publish", headers=auth)
        assert r.status_code == 200, r.text
    return Seed(tokens[0], tokens[1], quiz_id)


@dataclass
class LoadResult:
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float
    output: str

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


class Load:
    """wrk in the background against one URL, bounded in time."""

    def __init__(
        self,
        url: str,
        *,
        seconds: float,
        connections: int = 8,
        token: str | None = None,
        timeout: str = "5s",
    ) -> None:
        wrk = shutil.which("wrk")
        assert wrk, "wrk is missing: make test installs it (Debian package wrk)"
        args = [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            f"--timeout={timeout}",
            "--latency",
        ]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*args, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def result(self) -> LoadResult:
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, out
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        return LoadResult(
            requests=requests,
            non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
            socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
            seconds=time.monotonic() - self.started,
            output=out,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def finish(self) -> LoadResult:
        """End the load now (SIGINT: wrk stops and prints what it measured so far)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.result()


def make_release_source(tmp: Path, *, patch: str | None = None, marker: str = "") -> Path:
    """A copy of this checkout's app (src/ + config/ + pyproject) to install as a release;
    ``patch`` is Python appended to app.py, the composition root (a deliberately bad release)."""
    root = tmp / f"source-{random.randint(0, 10**9)}"
    shutil.copytree(
        REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(REPO / "config", root / "config")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    app = root / "src" / "quizplatform" / "app.py"
    text = app.read_text() + f"\n# release marker: {marker or random.random()}\n"
    if patch:
        text += "\n" + patch + "\n"
    app.write_text(text)
    return root


# The bad releases wrap the app's router (inside the middleware), so their failures and
# delays are counted by the release's own metrics, as a real bug's would be.

# A release that fails 30 % of quiz reads with 500.
FAILING_RELEASE = """
import random as _random


class _FailingRouter:
    def __init__(self, router):
        self._router = router

    def __getattr__(self, name):
        return getattr(self._router, name)

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        # Fails the quiz reads the load makes (not the deploy's smoke test: the drill is
        # about the canary analysis catching what a smoke test missed).
        if path.startswith("/api/v1/quizzes/") and _random.random() < 0.3:
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"bad release"})
            return
        await self._router(scope, receive, send)


_original_create_app = create_app


def create_app(*args, **kwargs):
    app = _original_create_app(*args, **kwargs)
    app.router = _FailingRouter(app.router)
    return app
"""

# A release that adds 150 ms to every API request.
SLOW_RELEASE = """
import asyncio as _asyncio


class _SlowRouter:
    def __init__(self, router):
        self._router = router

    def __getattr__(self, name):
        return getattr(self._router, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await _asyncio.sleep(0.15)
        await self._router(scope, receive, send)


_original_create_app = create_app


def create_app(*args, **kwargs):
    app = _original_create_app(*args, **kwargs)
    app.router = _SlowRouter(app.router)
    return app
"""


@dataclass
class WriteOutcome:
    """One write the drill made: when it was sent and answered, and how."""

    sent: float  # time.monotonic()
    answered: float
    status: int  # 0: no HTTP answer at all (connection error)
    code: str | None  # the error envelope's code
    quiz_id: str | None  # set when the write was acknowledged (201)
    title: str  # the quiz the write tried to create


class WriteLoad:
    """Writers creating quizzes through the front door, each write recorded, bounded in
    time: what a drill needs to measure when writes stop and start being accepted and
    to check that every acknowledged write survived."""

    def __init__(self, url: str, token: str, *, seconds: float, writers: int = 2) -> None:
        self.url = url + "/api/v1/quizzes"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.deadline = time.monotonic() + seconds
        self.outcomes: list[WriteOutcome] = []
        self.tag = f"drill-{random.randint(0, 10**9)}"
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(writers)
        ]
        for thread in self._threads:
            thread.start()

    def _write(self, writer: int) -> None:
        count = 0
        with httpx.Client(verify=False, timeout=30) as client:
            while time.monotonic() < self.deadline:
                count += 1
                sent = time.monotonic()
                title = f"{self.tag} {writer}-{count}"
                try:
                    answer = client.post(self.url, json={"title": title}, headers=self.headers)
                    status = answer.status_code
                    body = answer.json() if answer.content else {}
                except (httpx.HTTPError, ValueError):
                    status, body = 0, {}
                outcome = WriteOutcome(
                    sent=sent,
                    answered=time.monotonic(),
                    status=status,
                    code=(body.get("error") or {}).get("code") if status != 201 else None,
                    quiz_id=body.get("id") if status == 201 else None,
                    title=title,
                )
                with self._lock:
                    self.outcomes.append(outcome)
                time.sleep(0.02)

    def end_after_recovery(self, since: float, *, extra: float = 5.0) -> None:
        """Shorten the load: it ends ``extra`` s after the first write accepted after
        ``since`` (a drill's fault), or at its deadline if that comes first."""
        while time.monotonic() < self.deadline:
            with self._lock:
                back = [o.answered for o in self.outcomes if o.status == 201 and o.sent > since]
            if back:
                self.deadline = min(self.deadline, min(back) + extra)
                return
            time.sleep(0.05)

    def wait(self) -> list[WriteOutcome]:
        for thread in self._threads:
            thread.join(timeout=max(0.0, self.deadline - time.monotonic()) + 60)
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.sent)

    @property
    def acknowledged(self) -> list[str]:
        with self._lock:
            return [o.quiz_id for o in self.outcomes if o.quiz_id]


def database(stack: Stack) -> dict[str, object]:
    """`quiz db status --json` of the stack."""
    return cli_json(stack, "db", "status")  # type: ignore[no-any-return]


def leader(stack: Stack) -> Member:
    """The database's leader (asserted to exist)."""
    found = stack.db.leader()
    assert found is not None, "no leader"
    return found


def wait_settled(stack: Stack, timeout: float = 120) -> None:
    """Back to normal: a leader, every member streaming, HAProxy routing writes, every
    instance ready."""
    stack.db.wait_healthy(timeout)
    stack._wait_database_routed()
    stack.wait_lb_up(stack.active_instances(), timeout=60)
