"""bench/locustfile.py against a real `quiz serve` (SQLite), seeded by bench/locust_seed.py:
a short headless run passes with requests on every step of both journeys, an impossible
threshold fails it naming the threshold, and unsafe or unbounded runs are refused before
any request.

locust runs as a subprocess only: importing it here would monkey-patch this process
(gevent) under the rest of the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.procs import Instance, quiz, quiz_env

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
SEED = ROOT / "bench" / "locust_seed.py"
FAST = ["--think-min", "0.05", "--think-max", "0.2"]


@dataclass
class Seeded:
    url: str
    conf: Path
    tmp: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("locust")
    env = quiz_env(tmp)
    quiz(["db", "upgrade"], env, tmp)
    instance = Instance(tmp, env)
    try:
        instance.wait_ready()
        out = tmp / "seed"
        done = subprocess.run(
            [
                sys.executable,
                str(SEED),
                "--host",
                instance.url,
                "--students",
                "3",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield Seeded(instance.url, out / "locust.conf", tmp)
    finally:
        instance.stop()


def locust(seeded: Seeded, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the locustfile headless with the seeded accounts (cwd: a temporary directory, so
    no locust.conf or pyproject.toml of the checkout is read)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--config",
            str(seeded.conf),
            "--headless",
            "--only-summary",
            *args,
        ],
        cwd=seeded.tmp,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def by_name(stdout: str) -> dict[str, dict[str, Any]]:
    """The --json statistics, by "METHOD name"."""
    return {f"{e['method']} {e['name']}": e for e in json.loads(stdout)}


def test_a_short_run_passes_with_both_journeys_measured(seeded: Seeded) -> None:
    started = time.monotonic()
    done = locust(seeded, "-u", "4", "-r", "4", "--run-time", "7s", "--json", *FAST)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    stats = by_name(done.stdout)
    for step in (
        "POST /api/v1/auth/token",
        "GET /api/v1/quizzes",
        "POST /api/v1/quizzes/[id]/attempts",
        "PUT /api/v1/attempts/[id]/responses/[question_id]",
        "POST /api/v1/attempts/[id]/submit",
        "GET /api/v1/attempts/[id]",
        "GET /api/v1/quizzes?mine=true",
        "GET /api/v1/quizzes/[id]/report",
        "GET /api/v1/quizzes/[id]/leaderboard",
    ):
        assert stats[step]["num_requests"] > 0, step
    assert sum(e["num_failures"] for e in stats.values()) == 0
    # 7 questions answered per submitted attempt (the seeded quiz has 7)
    puts = stats["PUT /api/v1/attempts/[id]/responses/[question_id]"]["num_requests"]
    assert puts >= 7 * stats["POST /api/v1/attempts/[id]/submit"]["num_requests"]
    assert "quiz load test passed" in done.stderr
    assert 7 <= took < 25  # bounded by --run-time, plus start-up


def test_an_impossible_threshold_fails_the_run_naming_it(seeded: Seeded) -> None:
    done = locust(seeded, "-u", "2", "-r", "2", "--run-time", "3s", "--max-p95-ms", "0.01", *FAST)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "quiz load test FAILED: p95 response time" in done.stderr
    assert "> --max-p95-ms 0.01" in done.stderr
    failed = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1  # the error rate (0 %) passed


def test_a_host_that_is_not_loopback_is_refused_before_any_request(seeded: Seeded) -> None:
    started = time.monotonic()
    done = locust(seeded, "-u", "1", "--run-time", "5s", "--host", "http://203.0.113.5:8000")
    assert done.returncode == 2
    assert "refusing to load-test http://203.0.113.5:8000" in done.stderr
    assert "--i-own-this-host" in done.stderr
    assert "Ramping" not in done.stderr and time.monotonic() - started < 5


def test_i_own_this_host_lifts_the_refusal(seeded: Seeded) -> None:
    # no users: nothing is sent to the TEST-NET address, and a run without requests fails
    host = ["--host", "http://203.0.113.5:8000", "--i-own-this-host"]
    done = locust(seeded, "-u", "0", "--run-time", "1s", *host)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "refused" not in done.stderr
    assert "no request was made" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "a load test must be bounded: give --run-time"),
        (["--run-time", "31m"], "over the cap of 30 minutes"),
    ],
)
def test_an_unbounded_run_is_refused(seeded: Seeded, args: list[str], message: str) -> None:
    done = locust(seeded, "-u", "1", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Ramping" not in done.stderr


def test_the_web_ui_and_the_master_listen_on_loopback_unless_told(tmp_path: Path) -> None:
    """locust's own defaults are every interface ('' / '*')."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import locustfile; "
        "from locust.argument_parser import parse_options; "
        "o = parse_options(['-f', sys.argv[2], *sys.argv[3:]]); "
        "print(o.web_host, o.master_bind_host)"
    )
    run = [sys.executable, "-c", probe, str(LOCUSTFILE.parent), str(LOCUSTFILE)]

    def binds(*args: str) -> list[str]:
        done = subprocess.run(
            [*run, *args], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.splitlines()[-1].split()  # after locust's deprecation warning

    assert binds() == ["127.0.0.1", "127.0.0.1"]
    assert binds("--web-host", "127.0.0.2") == ["127.0.0.2", "127.0.0.1"]
