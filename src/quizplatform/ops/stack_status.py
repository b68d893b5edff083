"""``quiz stack status``: every component and instance of a stack, the database members,
Redis, the backups and the alerts firing, as one JSON report (these TypedDicts)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, NotRequired, TypedDict

import psutil

from quizplatform.ops import haproxy as lb
from quizplatform.ops.backup import BackupRecordJson, summary
from quizplatform.ops.process import OpsError, pid_alive
from quizplatform.ops.redis import RedisStatus
from quizplatform.ops.stack_monitoring import Alert
from quizplatform.ops.stack_state import ACTIVE

if TYPE_CHECKING:
    from quizplatform.ops.stack import Stack

# supervisord's process info of each program, by name.
Programs = Mapping[str, Mapping[str, object]]

# The programs the report lists after etcd, the database members and the Redis nodes.
_PROGRAMS_AFTER_REDIS = (
    "haproxy",
    "alert-receiver",
    "prometheus",
    "alertmanager",
    "worker",
    "backup-scheduler",
    "autoscaler",
)


class ComponentStatus(TypedDict):
    """A supervised program (or supervisord itself)."""

    name: str
    pid: int | None
    state: str


class Usage(TypedDict):
    """An instance's CPU and memory (None when it does not run)."""

    cpu_percent: float | None
    rss_mb: float | None


class InstanceStatus(TypedDict):
    """One instance: its process, HAProxy's view of it, its release and usage."""

    name: str
    pid: int | None
    port: int
    ready: bool
    lb_status: str
    weight: int
    release: str
    pool: str
    cpu_percent: float | None
    rss_mb: float | None


class MemberStatus(TypedDict):
    """One database member as Patroni and supervisord see it."""

    name: str
    role: str
    state: str
    pid: int | None
    patroni_pid: int | None
    lag_bytes: int | None
    timeline: int | None
    port: int
    data_dir: str


class DatabaseStatus(TypedDict):
    """The data tier: leader, members, routing and backups (``quiz db status --json``)."""

    running: bool
    store: str
    leader: str | None
    members: list[MemberStatus]
    read_only: bool
    write_url: str
    read_url: str
    backup_repository: str
    last_backup: BackupRecordJson | None
    last_verify: BackupRecordJson | None
    error: NotRequired[str]


class StackUrls(TypedDict):
    """Where to reach the app and the stack's own pages."""

    app: str
    http_redirect: str
    haproxy_stats: str
    prometheus: str
    alertmanager: str


class StackStatus(TypedDict):
    """``quiz stack status --json``."""

    url: str
    dir: str
    data_root: str
    active_release: str | None
    previous_release: str | None
    components: list[ComponentStatus]
    instances: list[InstanceStatus]
    database: DatabaseStatus
    redis: RedisStatus
    alerts: list[Alert]
    urls: StackUrls


def stack_status(stack: Stack) -> StackStatus:
    """Every component and instance, with health, weight, CPU, RSS, release, alerts."""
    state = stack.read_state()
    supervisord_pid = stack.supervisor.pid()
    components = [
        ComponentStatus(
            name="supervisord",
            pid=supervisord_pid,
            state="running" if pid_alive(supervisord_pid) else "stopped",
        )
    ]
    programs: Programs = (
        {str(p["name"]): p for p in stack.supervisor.all_info()} if supervisord_pid else {}
    )
    for name in (
        "etcd",
        *(m.program for m in stack.db.members),
        *(n.name for n in stack.redis.nodes),
        *(n.name for n in stack.redis.sentinels),
        *_PROGRAMS_AFTER_REDIS,
    ):
        info = programs.get(name) or {}
        components.append(
            {
                "name": name,
                "pid": _pid(info),
                "state": str(info.get("statename", "STOPPED")).lower(),
            }
        )
    servers = {}
    with contextlib.suppress(OpsError):
        servers = {(s.backend, s.name): s for s in stack.haproxy.servers()}
    instances: list[InstanceStatus] = []
    for instance in state.instances:
        pid = _pid(programs.get(instance.name))
        server = servers.get((instance.backend, lb.slot_name(instance.slot)))
        instances.append(
            {
                "name": instance.name,
                "pid": pid,
                "port": instance.port,
                "ready": bool(server and server.up),
                "lb_status": server.status if server else "unknown",
                "weight": server.weight if server else 0,
                "release": instance.release,
                "pool": "stable" if instance.backend == ACTIVE else "candidate",
                **_usage(pid),
            }
        )
    config = stack.config
    return {
        "url": stack.url,
        "dir": str(stack.dir),
        "data_root": config.data_root,
        "active_release": state.active_release,
        "previous_release": state.previous_release,
        "components": components,
        "instances": instances,
        "database": database_status(stack, programs),
        "redis": stack.redis.status(),
        "alerts": stack.current_alerts(),
        "urls": {
            "app": stack.url,
            "http_redirect": f"http://127.0.0.1:{config.http_port}",
            "haproxy_stats": f"http://127.0.0.1:{config.stats_port}/stats",
            "prometheus": f"http://127.0.0.1:{config.prometheus_port}",
            "alertmanager": f"http://127.0.0.1:{config.alertmanager_port}",
        },
    }


def database_status(stack: Stack, programs: Programs | None = None) -> DatabaseStatus:
    """The data tier as ``quiz stack status --json`` shows it: the leader, every
    member (role, state, postmaster and Patroni PIDs, lag, timeline), whether the
    stack is read-only (no leader), and the backups."""
    if programs is None:
        programs = {str(p["name"]): p for p in stack.supervisor.all_info()}
    seen = {m.name: m for m in stack.db.members_status() or []}
    leader = next(
        (m.name for m in seen.values() if m.role == "leader" and m.state == "running"), None
    )
    members: list[MemberStatus] = []
    for member in stack.db.members:
        known = seen.get(member.name)
        members.append(
            {
                "name": member.name,
                "role": known.role if known else "replica",
                "state": known.state if known else "stopped",
                "pid": member.postmaster_pid(),
                "patroni_pid": _pid(programs.get(member.program)),
                "lag_bytes": known.lag_bytes if known else None,
                "timeline": known.timeline if known else None,
                "port": member.pg_port,
                "data_dir": str(member.data_dir),
            }
        )
    return {
        "running": bool(seen),
        "store": "ok" if stack.db.etcd_healthy() else "unreachable",
        "leader": leader,
        "members": members,
        "read_only": leader is None,
        "write_url": f"127.0.0.1:{stack.config.pg_port}",
        "read_url": f"127.0.0.1:{stack.config.pg_replica_port}",
        "backup_repository": str(stack.backups.settings.repo_path),
        **summary(stack.backups),
    }


def _pid(info: Mapping[str, object] | None) -> int | None:
    """A program's PID from supervisord's info (which says 0 when it does not run)."""
    pid = (info or {}).get("pid")
    return pid if isinstance(pid, int) and pid else None


def _usage(pid: int | None) -> Usage:
    if not pid:
        return {"cpu_percent": None, "rss_mb": None}
    try:
        proc = psutil.Process(pid)
        return {
            "cpu_percent": round(proc.cpu_percent(interval=0.1), 1),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
        }
    except psutil.Error:
        return {"cpu_percent": None, "rss_mb": None}
