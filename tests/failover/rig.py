"""A database that fails over on command, for the read-only mode tests.

Production (the lead's stack) puts Patroni-managed PostgreSQL behind HAProxy in TCP mode:
the write address is a frontend whose only healthy server is the leader (Patroni's
``GET /primary`` check), the read address one routed to the replicas. Here the parts are
the same minus Patroni, whose part the test plays through HAProxy's runtime API:

- a real PostgreSQL primary with a synchronous hot standby (``quizplatform.ops.postgres``,
  under a fresh ``/tmp`` directory that the ``postgres`` user can traverse);
- a real HAProxy (``mode tcp``): frontend ``write`` → backend ``write`` with servers
  ``leader`` (the primary) and ``demoted`` (the standby, in maintenance at first);
  frontend ``read`` → backend ``read`` with server ``replica`` (the standby).

``no_leader()`` is what HAProxy does when the leader's check fails (``on-marked-down
shutdown-sessions``): the server leaves the backend and its connections are cut, so new
connections to the write address are closed at once. ``leader_back()`` puts it back.
``demote()`` sends the write address to the standby (writes fail with SQLSTATE 25006).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from quizplatform.db.migrate import upgrade
from quizplatform.ops.postgres import (
    PgCluster,
    ensure_primary,
    ensure_replica,
    pg_bin,
    stop_cluster,
)
from quizplatform.ops.process import OpsError, free_port, port_open, wait_for
from quizplatform.runtime.settings import Settings

HAPROXY = Path("/usr/sbin/haproxy")

_CONFIG = """\
global
    stats socket {socket} level admin
    stats timeout 30s

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h

frontend write
    bind 127.0.0.1:{write_port}
    default_backend write

backend write
    server leader 127.0.0.1:{primary_port}
    server demoted 127.0.0.1:{replica_port} disabled

frontend read
    bind 127.0.0.1:{read_port}
    default_backend read

backend read
    server replica 127.0.0.1:{replica_port}
"""


@dataclass
class FailoverRig:
    directory: Path
    primary: PgCluster
    replica: PgCluster
    write_port: int
    read_port: int
    haproxy: subprocess.Popen[bytes]

    @property
    def write_url(self) -> str:
        """``QUIZ_DATABASE_URL``: the write frontend."""
        return f"postgresql://postgres@127.0.0.1:{self.write_port}/quiz"

    @property
    def read_url(self) -> str:
        """``QUIZ_DATABASE_REPLICA_URLS``: the read frontend."""
        return f"postgresql://postgres@127.0.0.1:{self.read_port}/quiz"

    @property
    def primary_dsn(self) -> str:
        """The primary itself, bypassing HAProxy (for the test's own checks)."""
        return f"postgresql://postgres@127.0.0.1:{self.primary.port}/quiz"

    @property
    def replica_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica.port}/quiz"

    # -- HAProxy's runtime API ------------------------------------------------------------
    def command(self, *commands: str) -> str:
        """Send commands to HAProxy's admin socket (one connection, ``;``-separated)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.directory / "haproxy.sock"))
            sock.sendall(("; ".join(commands) + "\n").encode())
            answer = b"".join(iter(lambda: sock.recv(65536), b""))
        return answer.decode()

    def no_leader(self) -> None:
        """The leader leaves the write backend and its connections are cut."""
        self.command("set server write/leader state maint", "shutdown sessions server write/leader")

    def leader_back(self) -> None:
        self.command("set server write/leader state ready")

    def demote(self) -> None:
        """The write address now reaches the standby: writes fail with 25006."""
        self.no_leader()
        self.command("set server write/demoted state ready")

    def undemote(self, *, cut: bool) -> None:
        """The leader takes the write address back; ``cut=False`` leaves the pooled
        connections to the standby open (HAProxy not noticing yet)."""
        commands = ["set server write/demoted state maint"]
        if cut:
            commands.append("shutdown sessions server write/demoted")
        self.command(*commands, "set server write/leader state ready")

    # -- the servers themselves -----------------------------------------------------------
    async def wait_replayed(self, within: float = 30) -> None:
        """Until the standby has replayed everything the primary has written."""
        primary = await asyncpg.connect(self.primary_dsn)
        replica = await asyncpg.connect(self.replica_dsn)
        try:
            target = await primary.fetchval("SELECT pg_current_wal_lsn()")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within
            while await replica.fetchval("SELECT pg_last_wal_replay_lsn() < $1", target):
                assert loop.time() < deadline, "the standby did not replay in time"
                await asyncio.sleep(0.05)
        finally:
            await primary.close()
            await replica.close()

    @contextlib.asynccontextmanager
    async def commits_wait_forever(self) -> AsyncIterator[asyncpg.Connection]:
        """Commits on the primary wait for a synchronous standby that does not exist,
        until the block ends. Yields an admin connection (outside HAProxy)."""
        admin = await asyncpg.connect(self.primary_dsn)
        try:
            await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (nosuch)'")
            await admin.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(0.3)  # the reload reaches the backends
            yield admin
        finally:
            await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
            await admin.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(0.3)
            # Commits that wait now are released when the standby next reports what it has
            # flushed, which it does on new WAL (or every 10 s): give it some.
            await admin.execute("SELECT pg_logical_emit_message(false, 'rig', 'nudge')")
            await admin.close()


async def terminate_commit_waiter(admin: asyncpg.Connection, within: float = 30) -> int:
    """Wait for an app backend to wait in COMMIT for the synchronous standby, then
    terminate it (its commit is then durable locally, its client never told). Its pid."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
            " AND application_name = 'quizplatform' LIMIT 1"
        )
        if pid is not None:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            return int(pid)
        await asyncio.sleep(0.05)
    raise AssertionError("no commit waited for the standby")


def _cluster(directory: Path, name: str) -> PgCluster:
    return PgCluster(
        name=name,
        data_dir=directory / name / "data",
        port=free_port(),
        socket_dir=directory / "run",
        log_file=directory / "log" / f"{name}.log",
    )


@contextlib.contextmanager
def failover_rig() -> Iterator[FailoverRig]:
    """Start the primary, its standby and HAProxy; stop exactly those at the end."""
    directory = Path(tempfile.mkdtemp(prefix="quiz-failover-"))
    directory.chmod(0o755)
    primary = _cluster(directory, "primary")
    replica = _cluster(directory, "replica")
    haproxy: subprocess.Popen[bytes] | None = None
    try:
        ensure_primary(primary, sync_replica=True)
        ensure_replica(replica, primary)
        write_port, read_port = free_port(), free_port()
        config = directory / "haproxy.cfg"
        config.write_text(
            _CONFIG.format(
                socket=directory / "haproxy.sock",
                write_port=write_port,
                read_port=read_port,
                primary_port=primary.port,
                replica_port=replica.port,
            )
        )
        log = (directory / "haproxy.log").open("wb")
        haproxy = subprocess.Popen(
            [str(HAPROXY), "-f", str(config), "-db"], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_for(
            lambda: port_open(write_port) and port_open(read_port),
            30,
            f"HAProxy to listen (see {directory / 'haproxy.log'})",
        )
        yield FailoverRig(directory, primary, replica, write_port, read_port, haproxy)
    finally:
        if haproxy is not None:
            haproxy.terminate()
            try:
                haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                haproxy.kill()
                haproxy.wait(timeout=10)
        for cluster in (replica, primary):
            with contextlib.suppress(OpsError):
                stop_cluster(cluster)
        shutil.rmtree(directory, ignore_errors=True)


def missing_parts() -> str | None:
    """What the rig needs and this machine lacks (None: nothing)."""
    try:
        pg_bin()
    except OpsError:
        return "PostgreSQL is not installed"
    return None if HAPROXY.exists() else "HAProxy is not installed"


@contextlib.contextmanager
def migrated_rig() -> Iterator[FailoverRig]:
    """``failover_rig`` with the app's schema in database ``quiz``."""
    with failover_rig() as rig:
        upgrade(
            Settings(
                database_url=rig.primary_dsn,
                data_dir=rig.directory / "var",
                config_dir=rig.directory / "no-config",
            )
        )
        yield rig
