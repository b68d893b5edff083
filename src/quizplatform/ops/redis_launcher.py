"""Start one Redis data node of the stack in the role Sentinel expects, then become it.

supervisord runs ``python -m quizplatform.ops.redis_launcher NODE_JSON`` for every Redis
data node (``ops/redis.py`` writes NODE_JSON). The launcher decides the node's role, writes
the node's ``redis.conf`` and replaces itself with ``redis-server`` (``os.execv``), so
supervisord tracks, signals and restarts redis-server itself under the launcher's PID.

Why not start redis-server directly: supervisord restarts a SIGKILLed master within about a
second, long before Sentinel has noticed it was gone (``down-after-milliseconds``). Back as a
master from its AOF, it would take writes again, and Sentinel would still fail over (it
already counted the node as down) or demote it: every write it took in between is lost, and
its clients would see it flip roles under them. So before starting, the launcher asks the
sentinels which node is the master (the answer with the highest config epoch wins, as in
Sentinel itself):

1. They name another node: start as its replica (a restarted replica, or an old master
   after a failover).
2. They name this node and have talked to it (it crashed under their watch): wait, at most
   ``promotion_wait_seconds`` (3 x down-after + failover-timeout), for them to promote a
   replica, then start as its replica. If no replica is promoted in time (none could take
   over), start as master: its AOF is then the newest data there is.
3. They name this node but have not talked to it since they started (the whole topology is
   starting together): start as master.
4. No sentinel answers: the master recorded in the sentinels' own configuration files
   (Sentinel rewrites its file at every failover, so that is whom they will name once they
   run), the one with the highest config epoch; on the very first start, with no file yet,
   the configured master.

The decision and its reason go to stdout (the node's supervisord log), before Redis's own
lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from quizplatform.ops.process import write_private

SENTINEL_QUERY_TIMEOUT = 0.3
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class NodeSpec:
    """What the launcher needs to know about one data node (saved as JSON)."""

    name: str
    port: int
    directory: str
    configured_master: str  # "127.0.0.1:port" of the initial master (maybe this node)
    sentinels: list[str]  # "127.0.0.1:port" of every sentinel
    sentinel_configs: list[str]  # their configuration files
    service: str
    promotion_wait_seconds: float
    redis_server: str
    password_file: str = ""  # the topology's password (empty: no password)

    @property
    def password(self) -> str | None:
        if not self.password_file:
            return None
        return Path(self.password_file).read_text().strip() or None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def save(self, path: Path) -> None:
        """Write the spec atomically (a launcher may read it at any moment)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> NodeSpec:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class SentinelView:
    """One sentinel's answer about the service's master."""

    master: str  # "ip:port"
    config_epoch: int
    seen: bool  # the sentinel has talked to this master since it started (knows its run id)


@dataclass(frozen=True)
class Decision:
    role: Literal["master", "replica", "wait"]
    master: str | None  # whom to replicate ("replica"), else None
    reason: str


def decide(
    this: str, views: list[SentinelView], recorded_master: str | None, configured_master: str
) -> Decision:
    """The role of node ``this`` given the sentinels' answers (see the module docstring).

    ``recorded_master`` is the master named in the sentinels' configuration files (None
    when there are none yet); it counts only when no sentinel answers.
    """
    if not views:
        master = recorded_master or configured_master
        source = "the sentinels' config files" if recorded_master else "the configured topology"
        if master == this:
            return Decision("master", None, f"no sentinel answers; master per {source}")
        return Decision("replica", master, f"no sentinel answers; master per {source}")
    chosen = newest_master(views)
    if chosen.master != this:
        return Decision("replica", chosen.master, "the sentinels name another master")
    if any(v.seen for v in views if v.master == this and v.config_epoch == chosen.config_epoch):
        return Decision("wait", None, "the sentinels still name this crashed node as master")
    return Decision("master", None, "the sentinels name this node and are just starting")


def newest_master(views: list[SentinelView]) -> SentinelView:
    """The answer with the highest config epoch (the most common one among equals)."""
    top = max(v.config_epoch for v in views)
    newest = [v for v in views if v.config_epoch == top]
    master, _ = Counter(v.master for v in newest).most_common(1)[0]
    return next(v for v in newest if v.master == master)


def query_sentinels(spec: NodeSpec) -> list[SentinelView]:
    """The answer of every sentinel that answers (quickly) about ``spec.service``."""
    views = []
    for address in spec.sentinels:
        host, port = address.rsplit(":", 1)
        view = ask_sentinel(host, int(port), spec.service, SENTINEL_QUERY_TIMEOUT, spec.password)
        if view is not None:
            views.append(view)
    return views


def ask_sentinel(
    host: str, port: int, service: str, timeout: float, password: str | None = None
) -> SentinelView | None:
    """One sentinel's view of ``service``'s master; None when it does not answer or does
    not monitor the service."""
    client = redis.Redis(
        host=host,
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        state = cast(dict[str, Any], client.sentinel_master(service))
    except redis.RedisError:
        return None
    finally:
        client.close()
    return SentinelView(
        master=f"{state['ip']}:{state['port']}",
        config_epoch=int(state.get("config-epoch", 0)),
        seen=bool(state.get("runid")),
    )


def recorded_master(config_files: list[str], service: str) -> str | None:
    """The master named in the sentinels' configuration files, highest config epoch first."""
    found: list[tuple[int, str]] = []
    for path in config_files:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        master, epoch = None, 0
        for line in text.splitlines():
            words = line.split()
            if words[:3] == ["sentinel", "monitor", service] and len(words) >= 5:
                master = f"{words[3]}:{words[4]}"
            elif words[:3] == ["sentinel", "config-epoch", service] and len(words) >= 4:
                epoch = int(words[3]) if words[3].isdigit() else 0
        if master is not None:
            found.append((epoch, master))
    return max(found)[1] if found else None


def choose_role(
    spec: NodeSpec,
    *,
    look: Callable[[], Decision] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Decision:
    """Ask the sentinels (and wait for a promotion when this node crashed as master).

    ``look`` makes one decision (default: ask the sentinels and read their files).
    """

    def ask_sentinels() -> Decision:
        return decide(
            spec.address,
            query_sentinels(spec),
            recorded_master(spec.sentinel_configs, spec.service),
            spec.configured_master,
        )

    look = look or ask_sentinels
    deadline = clock() + spec.promotion_wait_seconds
    waited = False
    while True:
        decision = look()
        if decision.role != "wait":
            if waited:
                reason = f"after waiting: {decision.reason}"
                return Decision(decision.role, decision.master, reason)
            return decision
        if not waited:
            _say(spec, f"waiting up to {spec.promotion_wait_seconds:g} s: {decision.reason}")
            waited = True
        if clock() >= deadline:
            return Decision(
                "master",
                None,
                f"no replica was promoted within {spec.promotion_wait_seconds:g} s; "
                "this node's AOF is the newest data",
            )
        sleep(POLL_SECONDS)


def data_node_config(spec: NodeSpec, replicaof: str | None) -> str:
    """The node's redis.conf: persistence, the stack's address, and its role."""
    lines = [
        "# Written by quizplatform.ops.redis_launcher at every start (Sentinel may rewrite",
        "# it while Redis runs; the next start replaces it again).",
        f"port {spec.port}",
        "bind 127.0.0.1",
        "daemonize no",
        'logfile ""',
        f"dir {conf_quote(spec.directory)}",
        # Every write is in the append-only file within a second; no RDB snapshots.
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        # A replica's first full sync starts at once (the default waits 5 s for others).
        "repl-diskless-sync-delay 0",
    ]
    password = spec.password
    if password is not None:
        # Clients need it; a replica uses it with its master (any node may become either).
        lines += [f"requirepass {conf_quote(password)}", f"masterauth {conf_quote(password)}"]
    if replicaof is not None:
        host, port = replicaof.rsplit(":", 1)
        lines.append(f"replicaof {host} {port}")
    return "\n".join(lines) + "\n"


def conf_quote(value: str) -> str:
    """A value quoted for a Redis configuration file."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"a Redis configuration value cannot span lines: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _say(spec: NodeSpec, message: str) -> None:
    print(f"redis_launcher[{spec.name}]: {message}", flush=True)


def main(argv: list[str]) -> None:
    """Decide the role of the node described by ``argv[0]``, then exec redis-server."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m quizplatform.ops.redis_launcher NODE_JSON")
    spec = NodeSpec.load(Path(argv[0]))
    decision = choose_role(spec)
    role = "master" if decision.role == "master" else f"replica of {decision.master}"
    _say(spec, f"starting {spec.address} as {role}: {decision.reason}")
    conf = Path(spec.directory) / "redis.conf"
    write_private(conf, data_node_config(spec, decision.master))  # it holds the password
    os.execv(spec.redis_server, [spec.redis_server, str(conf)])  # noqa: S606 - our own path


if __name__ == "__main__":
    main(sys.argv[1:])
