"""Small process helpers shared by the ops modules: ports, pidfiles, waiting, stopping.

Every server the stack starts is tracked by its PID (pidfile or state file) and stopped
by that PID only: nothing here looks processes up by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class OpsError(RuntimeError):
    """An operation on the environment failed; the message says what and where to look."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> float:
    """Poll ``condition`` until it is true; return the seconds it took or raise OpsError."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        with contextlib.suppress(Exception):
            if condition():
                return time.monotonic() - started
        if time.monotonic() > deadline:
            raise OpsError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int | None) -> bool:
    """True when a process with this PID exists (and is not a zombie of ours)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pidfile(path: Path) -> int | None:
    """The PID in a pidfile (first line, as PostgreSQL writes it), or None."""
    try:
        text = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def pidfile_process(path: Path, program: bytes) -> int | None:
    """The PID in ``path`` when that process is alive and its command line names
    ``program`` (a stale pidfile whose PID was reused gives None)."""
    pid = read_pidfile(path)
    if pid is None or not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return pid  # no /proc here: trust the pidfile
    return pid if program in cmdline else None


def stop_pid(pid: int | None, timeout: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` to one PID and wait for it to exit; SIGKILL after ``timeout``.

    Returns True when the process was running.
    """
    if not pid_alive(pid):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    return True


def run(
    args: Sequence[str | Path],
    *,
    what: str,
    user: str | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to completion (optionally as another user); OpsError with its output."""
    argv = [str(a) for a in args]
    if user is not None and os.geteuid() == 0:
        argv = ["runuser", "-u", user, "--", *argv]
    try:
        done = subprocess.run(  # noqa: S603 - argv built from our own paths
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpsError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-2000:]
        raise OpsError(f"{what} failed (exit {done.returncode}): {output}")
    return done.stdout


def spawn(
    args: Sequence[str | Path],
    *,
    log_file: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a long-running server detached from our session; return its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv built from our own paths
            [str(a) for a in args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def which(name: str, *extra_dirs: str) -> str:
    """The full path of an executable, or OpsError naming the Debian package to install."""
    import shutil

    found = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", "")]))
    if found is None:
        raise OpsError(f"{name} not found: install it (make test installs it when run as root)")
    return found


def write_private(path: Path, text: str | bytes, *, mode: int = 0o600) -> None:
    """Write ``text`` atomically (temp file + rename), created with ``mode`` from the start:
    a file holding a secret is never readable by others, not even for a moment."""
    data = text.encode() if isinstance(text, str) else text
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)  # the umask may have taken bits away; set exactly these
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def restrict_modes(directory: Path) -> None:
    """Take away group write and every permission of others under ``directory``: what
    was copied in (a release's files keep their source's 0644) or written before the
    umask was set. Secret files are 0600 already (``write_private``)."""
    for path in (directory, *directory.rglob("*")):
        if path.is_symlink() or path.is_socket():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o027:
            path.chmod(mode & ~0o027)
