"""Point-in-time recovery of a whole stack from its pgBackRest repository.

The database is rebuilt, not repaired in place: the instances stop (HAProxy answers 503
meanwhile), every Patroni member stops, the cluster's keys leave etcd, the members' data
directories are moved aside, and the first member is bootstrapped again with Patroni's
custom bootstrap, whose command is ``pgbackrest restore`` to the target (a time or a
backup set; recovery promotes at the target). The other members then join it as
standbys, copied from it, as on a first start. Redis holds sessions, caches and
leaderboards that may describe rows which no longer exist: it is emptied (everyone signs
in again; leaderboards are rebuilt from the database). The instances start again and the
moved-aside directories are deleted once the stack serves.

When a step fails, nothing is deleted: the old data directories stay beside the new ones
(``<name>.before-restore-<time>``) and the error says where.
"""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from quizplatform.ops.patroni import NAMESPACE, SCOPE, Member
from quizplatform.ops.process import OpsError

if TYPE_CHECKING:
    from quizplatform.ops.stack import Stack

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RestoreTarget:
    """Where to recover to: a point in time, or the end of one backup set."""

    to_time: datetime | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if (self.to_time is None) == (self.label is None):
            raise OpsError("restore needs exactly one of --to-time and --set")
        if self.to_time is not None:
            if self.to_time.tzinfo is None:
                raise OpsError("--to-time needs a time zone (e.g. 2026-12-04T15:00:00Z)")
            if self.to_time > datetime.now(UTC):
                raise OpsError(f"--to-time {self.to_time.isoformat()} is in the future")

    def describe(self) -> str:
        if self.to_time is not None:
            return f"the state at {self.to_time.astimezone(UTC).isoformat()}"
        return f"the end of backup set {self.label}"


@dataclass
class RestoreReport:
    """What a restore did and how long each step took (seconds)."""

    target: str
    leader: str = ""
    steps: dict[str, float] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    backup: str | None = None  # the full backup taken afterwards
    backup_error: str | None = None

    @property
    def total_seconds(self) -> float:
        return round(sum(self.steps.values()), 2)


def plan(stack: Stack, target: RestoreTarget) -> list[str]:
    """What ``restore`` would do, in order, as sentences (``quiz backup restore`` without
    ``--yes`` prints them)."""
    first, *rest = stack.db.members
    others = ", ".join(m.name for m in rest)
    joining = (
        f"let {others} join it as {'a standby' if len(rest) == 1 else 'standbys'}, copied from it"
        if rest
        else "(no other member to copy)"
    )
    return [
        f"recover the database to {target.describe()} from {stack.backup_repository_path}",
        "archive the current WAL of the leader, if it answers",
        "stop the instances, the worker, the backup scheduler and the autoscaler (HAProxy "
        "answers 503 until the instances are back)",
        "stop every Patroni member and remove the cluster's keys from etcd",
        "move the members' data directories aside (deleted only once the stack serves)",
        f"bootstrap {first.name} with `pgbackrest restore` (recovery stops at the target and "
        "promotes)",
        joining,
        "empty Redis: every session ends (users sign in again), caches and leaderboards "
        "are rebuilt",
        "start the instances, the worker, the scheduler and the autoscaler again",
        "take a full backup of the restored database (it continues on a new timeline)",
    ]


def restore(stack: Stack, target: RestoreTarget, progress: Progress | None = None) -> RestoreReport:
    """Recover the whole stack to ``target``; see the module docstring."""
    report = RestoreReport(target=target.describe())
    say = progress or (lambda _message: None)
    started = time.monotonic()

    def step(name: str) -> None:
        nonlocal started
        now = time.monotonic()
        report.steps[name] = round(now - started, 2)
        started = now

    if stack.supervisor.pid() is None or not stack.db.etcd_healthy():
        raise OpsError(
            "the stack is not running: a restore needs its supervisord and etcd "
            "(start it with `quiz stack up`, even if the database does not come up)"
        )
    first, *others = stack.db.members
    # Refused here, before anything stops, when no backup can reach the target.
    argv = stack.backups.restore_argv(first.data_dir, to_time=target.to_time, label=target.label)
    say("archiving the current WAL")
    stack.archive_current_wal()
    step("archive_current_wal")
    say("stopping the instances and the worker")
    stack.stop_serving()
    step("stop_serving")
    say("stopping the database members")
    stack.stop_database_members()
    clear_cluster_keys(stack.config.etcd_port)
    step("stop_database")
    suffix = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = move_data_aside(stack.db.members, suffix)
    report.kept = [str(p) for p in aside]
    try:
        say(f"restoring {first.name} from the backup repository")
        stack.start_database_member(first, bootstrap=custom_bootstrap(argv))
        leader = stack.db.wait_leader(timeout=3600)
        report.leader = leader.name
        step("restore_and_recover")
        say("copying the standbys from it")
        stack.db.write_configs()  # the usual configuration again, without the bootstrap
        for member in others:
            stack.start_database_member(member)
        stack.db.wait_healthy(timeout=3600)
        stack.db.ensure_app_database()
        step("standbys")
        say("emptying Redis and starting the instances")
        stack.flush_shared_state()
        stack.resume_serving()
        step("resume_serving")
    except OpsError as exc:
        raise OpsError(
            f"{exc}\nThe data directories from before the restore are kept: "
            f"{', '.join(report.kept)}"
        ) from exc
    for path in aside:
        shutil.rmtree(path, ignore_errors=True)
    report.kept = []
    # The restored database continues on a new timeline: a full backup starts it off.
    say("taking a full backup of the restored database")
    try:
        report.backup = stack.backups.backup(stack.backup_target(), "full").label
    except OpsError as exc:
        report.backup_error = str(exc)
    step("full_backup")
    return report


def custom_bootstrap(argv: list[str]) -> dict[str, Any]:
    """Patroni's ``bootstrap`` section that builds the first member with ``argv`` (a
    ``pgbackrest restore`` into its empty data directory) and keeps the recovery
    settings pgBackRest wrote (restore_command, the target, promote at the end)."""
    import shlex

    return {
        "method": "pgbackrest_restore",
        "pgbackrest_restore": {
            "command": shlex.join(argv),
            "no_params": True,
            "keep_existing_recovery_conf": True,
        },
    }


def clear_cluster_keys(etcd_port: int) -> None:
    """Remove the cluster's keys (leader, members, history, initialize, config) from
    etcd, through its v3 JSON gateway, so the restored member may bootstrap anew."""
    prefix = f"{NAMESPACE.rstrip('/')}/{SCOPE}/".encode()
    range_end = prefix[:-1] + bytes([prefix[-1] + 1])
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{etcd_port}/v3/kv/deleterange",
            json={"key": _b64(prefix), "range_end": _b64(range_end)},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise OpsError(f"etcd on port {etcd_port}: {exc}") from exc
    if answer.status_code != 200:
        raise OpsError(f"etcd refused to delete the cluster's keys: {answer.text.strip()}")


def move_data_aside(members: list[Member], suffix: str) -> list[Path]:
    """Rename each member's data directory to ``<name>.before-restore-<suffix>``."""
    moved = []
    for member in members:
        if member.data_dir.exists():
            target = member.data_dir.with_name(f"{member.name}.before-restore-{suffix}")
            member.data_dir.rename(target)
            moved.append(target)
    return moved


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
