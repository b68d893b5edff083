"""Resource limits on real processes: an instance above its RSS limit drains and exits 0;
within its limits it keeps serving with RLIMIT_AS and nice applied; `quiz worker` runs
the sweep, serves its metrics and exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.procs import Instance, free_port, quiz, quiz_env

MIB = 1024 * 1024


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def _recycles(url: str) -> float | None:
    text = httpx.get(f"{url}/metrics", timeout=2).text
    return _sample(text, "process_recycles_total", reason="memory")


def test_above_the_memory_limit_the_instance_drains_and_exits_0(tmp_path: Path) -> None:
    env = quiz_env(
        tmp_path,
        QUIZ_MEMORY_LIMIT_MB="20",  # a Python web process alone is ~100 MB
        QUIZ_MEMORY_CHECK_INTERVAL_SECONDS="0.2",
        QUIZ_SHUTDOWN_DRAIN_DELAY="2",
    )
    quiz(["db", "upgrade"], env, tmp_path)
    instance = Instance(tmp_path, env)
    try:
        deadline = time.monotonic() + 30
        draining = None
        while draining is None and instance.proc.poll() is None:
            assert time.monotonic() < deadline, "the instance never started draining"
            try:
                ready = httpx.get(f"{instance.url}/health/ready", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if ready.status_code == 503:
                draining = ready.json()
                recycles = _recycles(instance.url)  # still serving during the drain delay
            time.sleep(0.05)
        assert draining == {"status": "unavailable", "reason": "draining"}
        assert recycles == 1
        began = time.monotonic()
        assert instance.proc.wait(timeout=15) == 0
        assert time.monotonic() - began < 5  # the 2 s drain delay, then a clean stop
    finally:
        instance.stop()
    log = (tmp_path / f"instance-{instance.port}.log").read_text()
    assert "memory limit exceeded, recycling" in log
    assert "limit_mb=20" in log and "rss_mb=" in log
    assert "reason=memory_limit" in log  # the drain the watchdog started


def test_within_its_limits_the_instance_serves_with_rlimit_and_nice(tmp_path: Path) -> None:
    env = quiz_env(
        tmp_path,
        QUIZ_MEMORY_LIMIT_MB="2000",
        QUIZ_MEMORY_CHECK_INTERVAL_SECONDS="0.2",
        QUIZ_ADDRESS_SPACE_LIMIT_MB="2048",
        QUIZ_CPU_NICE="5",
        QUIZ_SHUTDOWN_DRAIN_DELAY="0",
    )
    quiz(["db", "upgrade"], env, tmp_path)
    instance = Instance(tmp_path, env)
    try:
        instance.wait_ready()
        process = psutil.Process(instance.proc.pid)
        assert process.nice() == 5
        assert process.rlimit(psutil.RLIMIT_AS)[0] == 2048 * MIB
        for _ in range(10):  # a couple of seconds of watchdog checks and some requests
            assert httpx.get(f"{instance.url}/api/v1/version", timeout=2).status_code == 200
            assert httpx.get(f"{instance.url}/health/ready", timeout=2).status_code == 200
            time.sleep(0.2)
        assert instance.proc.poll() is None
        assert _recycles(instance.url) == 0
        instance.proc.send_signal(signal.SIGTERM)
        assert instance.proc.wait(timeout=15) == 0
    finally:
        instance.stop()
    log = (tmp_path / f"instance-{instance.port}.log").read_text()
    assert "memory limit exceeded" not in log
    assert "resource limits applied" in log


def _worker(tmp: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    with (tmp / "worker.log").open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "quizplatform.cli", "worker", *args],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_worker_sweeps_serves_metrics_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    env = quiz_env(tmp_path)  # instances' setting: QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS=0
    quiz(["db", "upgrade"], env, tmp_path)
    port = free_port()
    proc = _worker(tmp_path, env, "--sweep-interval", "0.2", "--metrics-port", str(port))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"worker exited with {proc.returncode}"
            assert time.monotonic() < deadline, "no successful sweep reported on /metrics"
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            assert metrics.status_code == 200
            runs = "background_task_runs_total"
            if _sample(metrics.text, runs, task="attempt_sweep", outcome="ok"):
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - began < 10
    finally:
        _stop(proc)
    log = (tmp_path / "worker.log").read_text()
    assert "worker started" in log and "worker stopping" in log
    assert "Traceback" not in log
