"""Process helpers: waiting, PIDs and pidfiles, stopping one PID, running commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quizplatform.ops.process import (
    OpsError,
    free_port,
    pid_alive,
    port_open,
    read_pidfile,
    run,
    spawn,
    stop_pid,
    wait_for,
    which,
)

IGNORE_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever is still running is killed by its PID."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def start(children: list[subprocess.Popen[str]], code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    children.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"  # its signal handlers are in place
    return proc


# --------------------------------------------------------------------------- wait_for


def test_wait_for_returns_the_elapsed_seconds() -> None:
    assert wait_for(lambda: True, 1, "nothing") < 0.05
    ready_at = time.monotonic() + 0.15
    elapsed = wait_for(lambda: time.monotonic() >= ready_at, 2, "a clock", interval=0.01)
    assert 0.14 <= elapsed < 1.0


def test_wait_for_raises_with_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(OpsError, match=r"^timed out after \d+ s waiting for the moon$"):
        wait_for(lambda: False, 0.2, "the moon", interval=0.02)
    assert 0.2 <= time.monotonic() - started < 1.0


def test_wait_for_treats_exceptions_as_not_yet() -> None:
    calls = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not listening yet")
        return True

    wait_for(flaky, 2, "a flaky thing", interval=0.01)
    assert len(calls) == 3
    with pytest.raises(OpsError, match="always broken"):
        wait_for(lambda: 1 / 0 == 0, 0.05, "always broken", interval=0.01)


# --------------------------------------------------------------------------- PIDs


@pytest.mark.parametrize("pid", [None, 0])
def test_pid_alive_without_a_pid(pid: int | None) -> None:
    assert pid_alive(pid) is False


def test_pid_alive_for_ourselves_and_a_reaped_child() -> None:
    assert pid_alive(os.getpid())
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)


def test_pid_alive_reaps_a_zombie_child(children: list[subprocess.Popen[str]]) -> None:
    proc = start(children, "print('ready', flush=True)")
    # The child exits; it stays a zombie until someone waits for it.
    wait_for(lambda: not pid_alive(proc.pid), 5, "the child to exit", interval=0.01)


def test_read_pidfile_postgresql_style(tmp_path: Path) -> None:
    pidfile = tmp_path / "postmaster.pid"
    pidfile.write_text(
        "12345\n/var/lib/postgresql/16/main\n1700000000\n15432\n/tmp\n127.0.0.1\n"
        "  5432001    196608\nready   \n"
    )
    assert read_pidfile(pidfile) == 12345


@pytest.mark.parametrize(
    ("text", "pid"),
    [("4242", 4242), ("  4242  \n", 4242), ("", None), ("abc\n1\n", None), ("-5\n", None)],
)
def test_read_pidfile_contents(tmp_path: Path, text: str, pid: int | None) -> None:
    pidfile = tmp_path / "x.pid"
    pidfile.write_text(text)
    assert read_pidfile(pidfile) == pid


def test_read_pidfile_missing(tmp_path: Path) -> None:
    assert read_pidfile(tmp_path / "none.pid") is None
    assert read_pidfile(tmp_path) is None  # a directory


# --------------------------------------------------------------------------- stop_pid


def test_stop_pid_escalates_to_sigkill(children: list[subprocess.Popen[str]]) -> None:
    proc = start(children, IGNORE_TERM)
    started = time.monotonic()
    assert stop_pid(proc.pid, timeout=0.5) is True
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 3.0  # SIGTERM ignored for the whole timeout, then SIGKILL
    assert not pid_alive(proc.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_stop_pid_graceful(children: list[subprocess.Popen[str]]) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = start(children, code)
    started = time.monotonic()
    assert stop_pid(proc.pid, timeout=10) is True
    assert time.monotonic() - started < 2.0
    assert not pid_alive(proc.pid)


def test_stop_pid_with_another_signal(children: list[subprocess.Popen[str]]) -> None:
    proc = start(children, IGNORE_TERM)
    assert stop_pid(proc.pid, timeout=5, sig=signal.SIGINT) is True
    assert not pid_alive(proc.pid)


@pytest.mark.parametrize("pid", [None, 0])
def test_stop_pid_without_a_process(pid: int | None) -> None:
    assert stop_pid(pid) is False


def test_stop_pid_of_an_exited_child() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert stop_pid(proc.pid, timeout=0.1) is False


# --------------------------------------------------------------------------- run


def test_run_returns_stdout() -> None:
    assert run([sys.executable, "-c", "print('hello')"], what="greeting") == "hello\n"


def test_run_raises_with_stderr_on_failure() -> None:
    code = "import sys; print('noise on stdout'); sys.exit('disk is on fire')"
    with pytest.raises(OpsError, match=r"^burning failed \(exit 1\): disk is on fire$"):
        run([sys.executable, "-c", code], what="burning")


def test_run_falls_back_to_stdout_when_stderr_is_empty() -> None:
    code = "import sys; print('only stdout'); sys.exit(3)"
    with pytest.raises(OpsError, match=r"quiet failed \(exit 3\): only stdout"):
        run([sys.executable, "-c", code], what="quiet")


def test_run_keeps_the_end_of_long_output() -> None:
    code = "import sys; sys.stderr.write('x' * 5000 + 'THE END'); sys.exit(1)"
    with pytest.raises(OpsError) as error:
        run([sys.executable, "-c", code], what="long")
    assert str(error.value).endswith("THE END")
    assert len(str(error.value)) < 2100


def test_run_passes_env_and_cwd(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd(), os.environ['QUIZ_PROBE'])"
    env = {**os.environ, "QUIZ_PROBE": "yes"}
    out = run([sys.executable, "-c", code], what="probe", env=env, cwd=tmp_path)
    assert out.split() == [str(tmp_path), "yes"]


def test_run_missing_program_and_timeout(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="no-such failed"):
        run([tmp_path / "no-such-program"], what="no-such")
    with pytest.raises(OpsError, match=r"sleepy failed: .*timed out"):
        run([sys.executable, "-c", "import time; time.sleep(30)"], what="sleepy", timeout=0.3)


# --------------------------------------------------------------------------- misc


def test_spawn_detaches_and_logs(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "child.log"
    code = "import os; print('session', os.getsid(0) == os.getpid(), flush=True)"
    pid = spawn([sys.executable, "-c", code], log_file=log, cwd=tmp_path)
    try:
        wait_for(lambda: not pid_alive(pid), 5, "the spawned child to exit", interval=0.01)
    finally:
        stop_pid(pid, timeout=1)
    assert log.read_text() == "session True\n"


def test_ports() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert not port_open(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert port_open(server.getsockname()[1])


def test_which(tmp_path: Path) -> None:
    assert which("sh").endswith("/sh")
    tool = tmp_path / "quiz-test-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert which("quiz-test-tool", str(tmp_path)) == str(tool)
    with pytest.raises(OpsError, match="quiz-no-such-tool not found: install it"):
        which("quiz-no-such-tool")
