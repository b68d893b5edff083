"""Redis for a local stack: one daemonized ``redis-server`` on 127.0.0.1, tracked by pidfile.

No persistence (``--save "" --appendonly no``): Redis holds sessions, caches, rate limits
and leaderboards that the platform can rebuild; PostgreSQL is the source of truth.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path

from quizplatform.ops.process import (
    OpsError,
    pidfile_process,
    port_open,
    run,
    stop_pid,
    wait_for,
    which,
)

START_TIMEOUT = 15.0


@dataclass
class RedisServer:
    """One Redis server: its port and the directory holding its pidfile and log."""

    port: int
    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).absolute()

    @property
    def url(self) -> str:
        """The client URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        """Where redis-server writes its PID."""
        return self.directory / "redis.pid"

    @property
    def log_file(self) -> Path:
        """redis-server's log file."""
        return self.directory / "redis.log"

    def pid(self) -> int | None:
        """The server's PID from the pidfile when that process is alive and is redis."""
        return pidfile_process(self.pidfile, b"redis")

    def running(self) -> bool:
        """True when the server's process is alive."""
        return self.pid() is not None


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server on 127.0.0.1:port answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(server: RedisServer) -> None:
    """Start the server unless it runs already; return once it answers PING. Idempotent."""
    if server.running():
        wait_for(lambda: ping(server.port), START_TIMEOUT, f"Redis on port {server.port}")
        return
    if port_open(server.port):
        raise OpsError(f"cannot start Redis: port {server.port} is already in use")
    server.directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        server.pidfile.unlink()  # stale: its process is gone
    run(
        [
            which("redis-server"),
            "--port",
            str(server.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            server.pidfile,
            "--logfile",
            server.log_file,
            "--dir",
            server.directory,
        ],
        what=f"redis-server on port {server.port}",
        timeout=30,
    )
    try:
        wait_for(
            lambda: server.running() and ping(server.port),
            START_TIMEOUT,
            f"Redis on port {server.port} (see {server.log_file})",
        )
    except OpsError:
        stop_redis(server)
        raise


def stop_redis(server: RedisServer, timeout: float = 10) -> bool:
    """Stop the server by its pidfile PID (SIGTERM, SIGKILL after ``timeout``).

    Returns whether it was running.
    """
    stopped = stop_pid(server.pid(), timeout=timeout)
    with contextlib.suppress(FileNotFoundError):
        server.pidfile.unlink()  # Redis removes it itself unless it had to be killed
    return stopped
