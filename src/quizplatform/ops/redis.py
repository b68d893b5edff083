"""Redis for a local stack: a master, its replicas and three Sentinels under supervisord.

``RedisHA`` describes the topology of one stack directory: data nodes ``redis-0`` (the
initial master), ``redis-1``… (its replicas) and sentinels ``sentinel-0..2``, every one on
127.0.0.1 at a port the caller chooses, every one a supervisord ``Program`` running in the
foreground, so supervisord restarts whatever dies.

- **Persistence.** Data nodes write an append-only file (``appendonly yes``,
  ``appendfsync everysec``, no RDB snapshots) under their own directory: a restart loses at
  most the last second of writes.
- **Failover.** The sentinels (quorum 2 of 3) mark the master down after
  ``down_after_ms`` without an answer, elect a leader and promote the replica; clients that
  connect through Sentinel (``QUIZ_REDIS_SENTINELS``) follow the new master.
- **Crash restarts.** Data nodes start through ``quizplatform.ops.redis_launcher``, which asks
  the sentinels which role to take before it execs redis-server: a crashed master comes
  back as a replica of the node Sentinel promoted, never as a second master.
- **Sentinel's own files.** A sentinel rewrites its configuration file (current master,
  epochs, known replicas and sentinels). ``write_configs`` writes it only when missing or
  when it describes another topology, and otherwise changes only the tunables.

``RedisServer``/``ensure_redis``/``stop_redis`` (at the end) are the single daemonized,
unpersisted server the stack ran before; they stay until the stack uses ``RedisHA``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from quizplatform.ops.process import (
    OpsError,
    pidfile_process,
    port_open,
    run,
    stop_pid,
    wait_for,
    which,
    write_private,
)
from quizplatform.ops.redis_launcher import (
    NodeSpec,
    SentinelView,
    ask_sentinel,
    conf_quote,
    newest_master,
)
from quizplatform.ops.supervisor import Program, Supervisor

SECRET_UMASK = "077"  # noqa: S105 - a umask, for programs that write secrets
PASSWORD_FILE = "password"  # noqa: S105 - the name of the file that holds it
HOST = "127.0.0.1"
SERVICE = "quiz"
# supervisord starts lower priorities first and stops them last: the data nodes come up
# before the sentinels and go down after them (no failover during a shutdown), and both
# before/after everything that uses Redis.
DATA_NODE_PRIORITY = 20
SENTINEL_PRIORITY = 30
QUERY_TIMEOUT = 0.5
HEALTHY_TIMEOUT = 60.0


@dataclass(frozen=True)
class RedisNode:
    """One data node (redis-server)."""

    name: str
    port: int
    directory: Path

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def spec_file(self) -> Path:
        """The launcher's input (``NodeSpec`` as JSON)."""
        return self.directory / "node.json"


@dataclass(frozen=True)
class SentinelNode:
    """One Redis Sentinel."""

    name: str
    port: int
    directory: Path

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def config_file(self) -> Path:
        """sentinel.conf: written by us once, then kept up to date by the sentinel itself."""
        return self.directory / "sentinel.conf"


class SentinelHealth(TypedDict):
    """One Sentinel in ``RedisHA.status``: whether it answers and names the master."""

    address: str
    ok: bool


class RedisNodeRole(TypedDict):
    """One data node in ``RedisHA.status`` and the role it reports (None: no answer)."""

    name: str
    address: str
    role: str | None


class RedisStatus(TypedDict):
    """``RedisHA.status``: the Redis part of ``quiz stack status --json``."""

    service: str
    master: str | None
    replicas: list[str]
    sentinels: list[SentinelHealth]
    nodes: list[RedisNodeRole]
    problems: list[str]


class RedisHA:
    """The Redis topology of one stack directory (see the module docstring).

    ``directory`` holds one sub-directory per node (AOF, node.json, redis.conf or
    sentinel.conf); supervisord writes each node's output to ``log_dir/<name>.log``.
    """

    def __init__(
        self,
        directory: Path,
        log_dir: Path,
        *,
        master_port: int,
        replica_ports: Sequence[int],
        sentinel_ports: Sequence[int],
        service: str = SERVICE,
        quorum: int = 2,
        down_after_ms: int = 1500,
        failover_timeout_ms: int = 10_000,
    ) -> None:
        ports = [master_port, *replica_ports, *sentinel_ports]
        if len(set(ports)) != len(ports):
            raise OpsError(f"the Redis ports must all differ: {ports}")
        if not 1 <= quorum <= len(sentinel_ports):
            raise OpsError(f"quorum {quorum} needs between 1 and {len(sentinel_ports)} sentinels")
        if not service.isidentifier():
            raise OpsError(f"the Sentinel service name must be a plain word, not {service!r}")
        self.directory = Path(directory).absolute()
        self.log_dir = Path(log_dir).absolute()
        self.service = service
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.nodes = [
            RedisNode(f"redis-{i}", port, self.directory / f"redis-{i}")
            for i, port in enumerate([master_port, *replica_ports])
        ]
        self.sentinels = [
            SentinelNode(f"sentinel-{i}", port, self.directory / f"sentinel-{i}")
            for i, port in enumerate(sentinel_ports)
        ]
        self.password_file = self.directory / PASSWORD_FILE

    @property
    def password(self) -> str:
        """The password of every node and sentinel: made once (``secrets``, 192 bits) and
        kept in ``password`` (0600). Without one, any local process could write a token
        entry into Redis and be whoever it names."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_private(self.password_file, secrets.token_hex(24) + "\n")
            return self.password_file.read_text().strip()

    # -- what the clients and the launcher are told -----------------------------------
    @property
    def sentinel_addresses(self) -> list[str]:
        """``host:port`` of every sentinel (``QUIZ_REDIS_SENTINELS``)."""
        return [s.address for s in self.sentinels]

    def client_environment(self) -> dict[str, str]:
        """The environment that points an instance (or the worker) at this topology."""
        self.password  # noqa: B018 - made now if missing: the file must exist for clients
        return {
            "QUIZ_REDIS_SENTINELS": json.dumps(self.sentinel_addresses),
            "QUIZ_REDIS_SENTINEL_SERVICE": self.service,
            "QUIZ_REDIS_PASSWORD_FILE": str(self.password_file),
        }

    @property
    def promotion_wait_seconds(self) -> float:
        """How long a restarted master waits for Sentinel to promote a replica."""
        return (3 * self.down_after_ms + self.failover_timeout_ms) / 1000

    def node_spec(self, node: RedisNode) -> NodeSpec:
        return NodeSpec(
            name=node.name,
            port=node.port,
            directory=str(node.directory),
            configured_master=self.nodes[0].address,
            sentinels=self.sentinel_addresses,
            sentinel_configs=[str(s.config_file) for s in self.sentinels],
            service=self.service,
            promotion_wait_seconds=self.promotion_wait_seconds,
            redis_server=which("redis-server"),
            password_file=str(self.password_file),
        )

    # -- configuration ----------------------------------------------------------------
    def write_configs(self) -> None:
        """Write every node's launcher spec, and each sentinel's configuration file when it
        is missing or describes another topology (otherwise only its tunables change)."""
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            self.node_spec(node).save(node.spec_file)
        for sentinel in self.sentinels:
            sentinel.directory.mkdir(parents=True, exist_ok=True)
            self._write_sentinel_config(sentinel)

    def sentinel_config(self, sentinel: SentinelNode) -> str:
        """A fresh sentinel.conf that monitors the configured master."""
        s = self.service
        return "\n".join(
            [
                "# Written by quiz stack when missing. Redis Sentinel rewrites this file itself",
                "# (current master, epochs, known replicas and sentinels): keep it.",
                f"port {sentinel.port}",
                f"bind {HOST}",
                "daemonize no",
                'logfile ""',
                f"dir {conf_quote(str(sentinel.directory))}",
                f"sentinel monitor {s} {HOST} {self.nodes[0].port} {self.quorum}",
                # Clients and the other sentinels must know the password; the sentinel
                # uses it with the data nodes and with the other sentinels.
                f"requirepass {self.password}",
                f"sentinel auth-pass {s} {self.password}",
                f"sentinel sentinel-pass {self.password}",
                f"sentinel down-after-milliseconds {s} {self.down_after_ms}",
                f"sentinel failover-timeout {s} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {s} 1",
                "",
            ]
        )

    def refreshed_sentinel_config(self, sentinel: SentinelNode, current: str) -> str:
        """``current`` with only the tunables (port, quorum, down-after, failover-timeout)
        set to ours; a fresh file when it describes another topology (a master, replica or
        sentinel at an address that is not one of ours)."""
        s = self.service
        monitor = [
            ln.split() for ln in current.splitlines() if ln.startswith(f"sentinel monitor {s} ")
        ]
        if len(monitor) != 1 or len(monitor[0]) != 6 or not self._describes_us(current):
            return self.sentinel_config(sentinel)
        host, port = monitor[0][3], monitor[0][4]
        wanted = {
            "port ": f"port {sentinel.port}",
            f"sentinel monitor {s} ": f"sentinel monitor {s} {host} {port} {self.quorum}",
            f"sentinel down-after-milliseconds {s} ": (
                f"sentinel down-after-milliseconds {s} {self.down_after_ms}"
            ),
            f"sentinel failover-timeout {s} ": (
                f"sentinel failover-timeout {s} {self.failover_timeout_ms}"
            ),
            "requirepass ": f"requirepass {self.password}",
            f"sentinel auth-pass {s} ": f"sentinel auth-pass {s} {self.password}",
            "sentinel sentinel-pass ": f"sentinel sentinel-pass {self.password}",
        }
        lines = current.splitlines()
        for prefix, line in wanted.items():
            at = [i for i, ln in enumerate(lines) if ln.startswith(prefix)]
            if at:
                lines[at[0]] = line
            else:
                lines.append(line)
        return "\n".join(lines) + "\n"

    def _describes_us(self, config: str) -> bool:
        """Whether every node a sentinel.conf names is a node of this topology."""
        data = {n.address for n in self.nodes}
        kinds = {
            "monitor": data,
            "known-replica": data,
            "known-sentinel": set(self.sentinel_addresses),
        }
        for line in config.splitlines():
            words = line.split()
            if len(words) >= 5 and words[0] == "sentinel" and words[2] == self.service:
                allowed = kinds.get(words[1])
                if allowed is not None and f"{words[3]}:{words[4]}" not in allowed:
                    return False
        return True

    def _write_sentinel_config(self, sentinel: SentinelNode) -> None:
        path = sentinel.config_file
        if not path.exists():
            text = self.sentinel_config(sentinel)
        elif _sentinel_answers(sentinel.port, self.service, self.password):
            self._set_running_sentinel(sentinel)
            return  # a running sentinel owns its file: it would overwrite our edits
        else:
            current = path.read_text()
            text = self.refreshed_sentinel_config(sentinel, current)
            if text == current:
                return
        write_private(path, text)  # it holds the password

    def _set_running_sentinel(self, sentinel: SentinelNode) -> None:
        """Apply changed tunables to a running sentinel (it saves them in its file)."""
        wanted = {
            "quorum": self.quorum,
            "down-after-milliseconds": self.down_after_ms,
            "failover-timeout": self.failover_timeout_ms,
        }
        with _client(sentinel.port, self.password) as client:
            state = cast(dict[str, Any], client.sentinel_master(self.service))
            for name, value in wanted.items():
                if int(state.get(name, value)) != value:
                    client.execute_command("SENTINEL", "SET", self.service, name, value)

    # -- supervisord ------------------------------------------------------------------
    def programs(self) -> list[Program]:
        """Write the configurations; the supervisord programs, data nodes first, then
        sentinels (add them in this order: see ``start``)."""
        self.write_configs()
        launcher = [sys.executable, "-m", "quizplatform.ops.redis_launcher"]
        data = [
            Program(
                name=node.name,
                command=[*launcher, str(node.spec_file)],
                directory=node.directory,
                log_file=self.log_dir / f"{node.name}.log",
                priority=DATA_NODE_PRIORITY,
                umask=SECRET_UMASK,  # it rewrites redis.conf, which holds the password
                stop_wait_seconds=15,  # a master waits up to 10 s for its replicas on SIGTERM
            )
            for node in self.nodes
        ]
        sentinels = [
            Program(
                name=sentinel.name,
                command=[which("redis-sentinel"), str(sentinel.config_file)],
                directory=sentinel.directory,
                log_file=self.log_dir / f"{sentinel.name}.log",
                priority=SENTINEL_PRIORITY,
                umask=SECRET_UMASK,  # it rewrites sentinel.conf, which holds the password
                stop_wait_seconds=10,
                # supervisord would start every program of its directory at once when it
                # starts (a full restart); a sentinel that starts before the master's
                # launcher has decided counts the master as down after down-after and fails
                # over to the other node (seen in a fresh-clone make test): ``start`` starts
                # the sentinels once the data nodes have taken their roles.
                autostart=False,
            )
            for sentinel in self.sentinels
        ]
        return data + sentinels

    def start(self, supervisor: Supervisor, timeout: float = HEALTHY_TIMEOUT) -> float:
        """Add the programs to a running supervisord and wait until the topology is
        healthy; the seconds it took. Idempotent (running programs are left alone).

        The data nodes go first and replicate before the sentinels start, so the sentinels'
        first look at the master already lists its replicas (otherwise they learn of them
        only at their next INFO refresh, 10 s later), and no sentinel counts a master as down
        while its launcher is still deciding (the sentinels do not autostart: a restarted
        supervisord starts only the data nodes).
        """
        programs = self.programs()
        data, sentinels = programs[: len(self.nodes)], programs[len(self.nodes) :]
        for program in data:
            supervisor.add(program, wait=False)
        took = self.wait_healthy(timeout, sentinels=False)
        for program in sentinels:
            supervisor.add(program, wait=False)
            supervisor.start(program.name, wait=False)
        return took + self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT, *, sentinels: bool = True) -> float:
        """Seconds until ``problems()`` is empty; OpsError naming what is still wrong."""
        try:
            return wait_for(lambda: not self.problems(sentinels=sentinels), timeout, "Redis")
        except OpsError as exc:
            found = "; ".join(self.problems(sentinels=sentinels)) or "recovered just now"
            raise OpsError(
                f"{exc}: {found} (logs: {self.log_dir}/redis-*.log, sentinel-*.log)"
            ) from exc

    def stop(self, supervisor: Supervisor) -> list[str]:
        """Stop and forget the programs (sentinels first: no failover while stopping)."""
        stopped = []
        for name in [s.name for s in self.sentinels] + [n.name for n in reversed(self.nodes)]:
            if supervisor.state(name) is not None:
                supervisor.remove(name)
                stopped.append(name)
        return stopped

    def purge(self, supervisor: Supervisor | None) -> None:
        """Stop everything (when supervisord runs) and delete every node's data."""
        if supervisor is not None and supervisor.pid() is not None:
            self.stop(supervisor)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- health and status ------------------------------------------------------------
    def problems(self, *, sentinels: bool = True) -> list[str]:
        """What keeps the topology from being healthy (empty when it is): one master, every
        other node its replica with the link up; every sentinel names that master, knows
        the other sentinels and sees every replica."""
        roles = {node.name: _replication(node.port, self.password) for node in self.nodes}
        masters = [n for n in self.nodes if _role(roles[n.name]) == "master"]
        if len(masters) != 1:
            named = ", ".join(n.name for n in masters) or "none"
            return [f"expected one master among the data nodes, found {named}"]
        master = masters[0]
        found = [
            f"{node.name} is not a replica of {master.address} with its link up"
            for node in self.nodes
            if node is not master and not _replicates(roles[node.name], master.address)
        ]
        if sentinels:
            replicas = {n.address for n in self.nodes if n is not master}
            for sentinel in self.sentinels:
                found += self._sentinel_problems(sentinel, master.address, replicas)
        return found

    def _sentinel_problems(
        self, sentinel: SentinelNode, master: str, replicas: set[str]
    ) -> list[str]:
        try:
            with _client(sentinel.port, self.password) as client:
                state = cast(dict[str, Any], client.sentinel_master(self.service))
                seen = cast(list[dict[str, Any]], client.sentinel_slaves(self.service))
        except redis.RedisError as exc:
            return [f"{sentinel.name} does not answer ({type(exc).__name__})"]
        named = f"{state['ip']}:{state['port']}"
        if named != master:
            return [f"{sentinel.name} names {named} as master, not {master}"]
        found = []
        if state.get("is_sdown") or state.get("is_odown"):
            found.append(f"{sentinel.name} sees the master as down")
        others = int(state.get("num-other-sentinels", 0))
        if others != len(self.sentinels) - 1:
            found.append(f"{sentinel.name} knows {others} other sentinels")
        healthy = {
            f"{r['ip']}:{r['port']}"
            for r in seen
            if not r.get("is_sdown") and r.get("master-link-status") == "ok"
        }
        if not replicas <= healthy:
            found.append(f"{sentinel.name} does not see {', '.join(sorted(replicas - healthy))}")
        return found

    def status(self) -> RedisStatus:
        """For ``quiz stack status --json``: the master and replicas as the nodes and the
        sentinels report them, each sentinel's health, and ``problems`` (empty: healthy)."""
        views: list[tuple[SentinelNode, SentinelView | None]] = [
            (s, _sentinel_view(s.port, self.service, self.password)) for s in self.sentinels
        ]
        answers = [v for _, v in views if v is not None]
        roles = {node.address: _replication(node.port, self.password) for node in self.nodes}
        reported = [a for a, info in roles.items() if _role(info) == "master"]
        master = newest_master(answers).master if answers else next(iter(reported), None)
        replicas = [
            node.address
            for node in self.nodes
            if master is not None and _replicates(roles[node.address], master)
        ]
        return {
            "service": self.service,
            "master": master,
            "replicas": replicas,
            "sentinels": [
                {"address": s.address, "ok": v is not None and v.master == master} for s, v in views
            ],
            "nodes": [
                {"name": n.name, "address": n.address, "role": _role(roles[n.address])}
                for n in self.nodes
            ],
            "problems": self.problems(),
        }


def _client(port: int, password: str | None = None) -> redis.Redis:
    """A client for one node or sentinel that fails at once instead of retrying."""
    return redis.Redis(
        host=HOST,
        port=port,
        password=password,
        socket_timeout=QUERY_TIMEOUT,
        socket_connect_timeout=QUERY_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def _replication(port: int, password: str | None = None) -> dict[str, Any] | None:
    """INFO replication of the data node on ``port``; None when it does not answer."""
    try:
        with _client(port, password) as client:
            return cast(dict[str, Any], client.info("replication"))
    except redis.RedisError:
        return None


def _role(info: dict[str, Any] | None) -> str | None:
    return None if info is None else str(info.get("role"))


def _replicates(info: dict[str, Any] | None, master: str) -> bool:
    """Whether INFO replication ``info`` is a replica of ``master`` with its link up."""
    return (
        info is not None
        and info.get("role") == "slave"
        and f"{info.get('master_host')}:{info.get('master_port')}" == master
        and info.get("master_link_status") == "up"
    )


def _sentinel_view(port: int, service: str, password: str | None = None) -> SentinelView | None:
    return ask_sentinel(HOST, port, service, QUERY_TIMEOUT, password)


def _sentinel_answers(port: int, service: str, password: str | None = None) -> bool:
    return _sentinel_view(port, service, password) is not None


# -- the single server of the stack before Sentinel ------------------------------------

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
