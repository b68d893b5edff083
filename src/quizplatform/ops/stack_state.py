"""A stack's configuration and state: ``StackConfig``, the instances it runs, and the
``stack.json`` file that holds both, changed only under ``stack.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from quizplatform.ops.process import OpsError, write_private

ACTIVE = "app"
CANDIDATE = "candidate"
STACK_UMASK = 0o027


@dataclass
class StackConfig:
    """Everything ``quiz stack up`` can be told; saved in ``stack.json``."""

    env: str = "staging"
    instances: int = 2
    min_instances: int = 2
    max_instances: int = 10
    # The address the public frontends (HTTPS and the HTTP redirect) listen on; every
    # other port of the stack stays on 127.0.0.1.
    bind: str = "127.0.0.1"
    https_port: int = 8443
    http_port: int = 8080
    stats_port: int = 8404
    # HAProxy's database frontends: writes (the Patroni leader) and reads (replicas).
    pg_port: int = 15432
    pg_replica_port: int = 15433
    # The Patroni members: member i's PostgreSQL on pg_member_base_port + i, its REST
    # API on patroni_base_port + i; etcd on etcd_port (peers: etcd_peer_port).
    db_members: int = 2
    pg_member_base_port: int = 15440
    patroni_base_port: int = 15460
    etcd_port: int = 12379
    etcd_peer_port: int = 12380
    db_check_interval_ms: int = 500
    db_max_lag_bytes: int = 16 * 1024 * 1024
    patroni_ttl: int = 20
    patroni_loop_wait: int = 1
    patroni_retry_timeout: int = 5
    # How long a write waits for a new leader before it is answered read_only.
    db_leader_wait_seconds: float = 10.0
    # Redis: the first master on redis_port, its replicas, and the Sentinels that watch it.
    redis_port: int = 16379
    redis_replica_ports: list[int] = field(default_factory=lambda: [16380])
    redis_sentinel_ports: list[int] = field(default_factory=lambda: [16390, 16391, 16392])
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    receiver_port: int = 9095
    autoscaler_port: int = 9096
    worker_port: int = 9097
    instance_base_port: int = 18000
    check_interval_ms: int = 2000
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    alert_group_wait: str = "10s"
    instance_down_for: str = "30s"
    # Patroni's synchronous_mode: a commit is acknowledged once it is on two members.
    sync_replica: bool = True
    cert: str | None = None
    key: str | None = None
    slack_webhook_url: str | None = None
    autoscale: bool = True
    scale_up_cpu: float = 70.0
    scale_down_cpu: float = 30.0
    up_window: float = 300.0
    down_window: float = 900.0
    cooldown: float = 120.0
    autoscale_interval: float = 5.0
    memory_limit_mb: int = 400
    cpu_nice: int = 5
    db_pool_size: int = 5
    # Cluster data lives outside the checkout: the postgres user must reach it.
    data_root: str = ""
    # Backups (ops/backup.py): repository ("" = <data_root>/pgbackrest), schedule in seconds,
    # retention (a recovery window in days; 0 = keep backup_retention_full full backups).
    backup_repo_path: str = ""
    backup_full_interval: float = 86400.0
    backup_incr_interval: float = 3600.0
    backup_verify_interval: float = 86400.0
    backup_retry_interval: float = 300.0
    backup_recovery_window_days: int = 7
    backup_retention_full: int = 2
    backup_metrics_port: int = 9098
    instance_env: dict[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        """HAProxy slots per backend: room for a full second set during a deploy."""
        return 2 * self.max_instances

    def ports(self) -> dict[int, str]:
        """Every port the stack listens on, and what listens there. Raises OpsError when
        two of them would be the same port."""
        named: list[tuple[int, str]] = [
            (getattr(self, name), name)
            for name in (
                "https_port",
                "http_port",
                "stats_port",
                "pg_port",
                "pg_replica_port",
                "etcd_port",
                "etcd_peer_port",
                "redis_port",
                "prometheus_port",
                "alertmanager_port",
                "receiver_port",
                "autoscaler_port",
                "worker_port",
                "backup_metrics_port",
            )
        ]
        for i in range(1, self.db_members + 1):
            named.append((self.pg_member_base_port + i, f"pg_member_base_port + {i} (pg{i})"))
            named.append((self.patroni_base_port + i, f"patroni_base_port + {i} (pg{i})"))
        named += [(p, f"redis_replica_ports[{i}]") for i, p in enumerate(self.redis_replica_ports)]
        named += [
            (p, f"redis_sentinel_ports[{i}]") for i, p in enumerate(self.redis_sentinel_ports)
        ]
        named += [
            (self.instance_base_port + slot, f"instance_base_port + {slot} (slot {slot})")
            for slot in range(1, self.slots + 1)
        ]
        owners: dict[int, str] = {}
        clashes = []
        for port, name in named:
            if not 0 < port < 65536:
                clashes.append(f"{name} = {port} is not a port")
            elif port in owners:
                clashes.append(f"port {port} is both {owners[port]} and {name}")
            else:
                owners[port] = name
        if clashes:
            raise OpsError("the stack's ports clash: " + "; ".join(clashes))
        return owners

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StackConfig:
        """The configuration saved as ``data``; unknown keys (an older or newer stack.json)
        are ignored, missing ones keep their defaults."""
        config = cls()
        known = {f.name for f in fields(cls)}
        for name, value in data.items():
            if name in known:
                setattr(config, name, value)
        return config


@dataclass
class Instance:
    """One serving process in a HAProxy slot."""

    slot: int
    port: int
    release: str
    backend: str = ACTIVE  # which HAProxy backend routes to it

    @property
    def name(self) -> str:
        return f"app-{self.slot}"


@dataclass
class StackState:
    """What ``stack.json`` holds: the configuration and the runtime state."""

    config: StackConfig
    instances: list[Instance] = field(default_factory=list)
    active_release: str | None = None
    previous_release: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "config": asdict(self.config),
                "instances": [asdict(i) for i in self.instances],
                "active_release": self.active_release,
                "previous_release": self.previous_release,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data = json.loads(text)
        return cls(
            config=StackConfig.from_dict(data["config"]),
            instances=[Instance(**i) for i in data.get("instances", [])],
            active_release=data.get("active_release"),
            previous_release=data.get("previous_release"),
        )


class StateFile:
    """``stack.json`` in a stack directory, and the lock that guards changes to it."""

    def __init__(self, directory: Path, config: StackConfig) -> None:
        self.dir = directory
        self.path = directory / "stack.json"
        self.config = config

    @contextlib.contextmanager
    def locked(self) -> Iterator[StackState]:
        """The stack state, locked against other processes; saved when the block ends."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "stack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            try:
                yield state
            finally:
                # 0600: the configuration holds the Slack webhook URL.
                write_private(self.path, state.to_json())

    def read(self) -> StackState:
        """The saved state (or a fresh one for a new directory)."""
        if self.path.exists():
            state = StackState.from_json(self.path.read_text())
            state.config = self.config
            return state
        return StackState(config=self.config)


def saved_config(directory: Path, shown_as: Path) -> StackConfig:
    """The configuration saved in ``directory``; OpsError when it holds no stack."""
    state_file = directory / "stack.json"
    if not state_file.exists():
        raise OpsError(f"no stack in {directory} (run `quiz stack up --dir {shown_as}`)")
    return StackState.from_json(state_file.read_text()).config


def default_data_root(directory: Path) -> str:
    """Where a stack keeps its cluster data unless told: outside the checkout, because the
    postgres user must reach it; one per stack directory."""
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:10]
    return f"/tmp/quiz-stack-{digest}"  # noqa: S108 - see GUIDE §2
