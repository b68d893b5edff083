"""The backup scheduler: full backups daily, incremental ones hourly, a verification daily,
as one long-running process under supervisord, with Prometheus metrics on its own port.

The schedule keys off what the repository holds (pgBackRest's sets and our records), not
off the scheduler's memory, so a restarted scheduler neither repeats a backup taken a
minute ago nor forgets one that is due; the metrics are read back the same way, so they
carry the right ages from the first scrape. A failure is logged, counted and retried
later; it never ends the loop.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from quizplatform.ops.backup import (
    KINDS,
    BackupKind,
    BackupRecord,
    BackupRepository,
    BackupSettings,
    PgTarget,
)
from quizplatform.ops.process import OpsError
from quizplatform.ops.supervisor import Program

if TYPE_CHECKING:
    from quizplatform.ops.stack import Stack

log = structlog.get_logger("quizplatform.backup")

MAX_SLEEP = 60.0


@dataclass(frozen=True)
class Schedule:
    """Seconds between full backups, incremental backups and verifications, and how long
    to wait before trying a failed backup again (a failed verification waits for the next
    incremental backup too: verifying the same set again rarely helps)."""

    full_interval: float = 86400.0
    incr_interval: float = 3600.0
    verify_interval: float = 86400.0
    retry_interval: float = 300.0

    @property
    def verify_retry(self) -> float:
        return max(self.retry_interval, self.incr_interval)


@dataclass(frozen=True)
class Facts:
    """What the repository says, as Unix times (None: never)."""

    last_full: float | None
    last_backup: float | None
    last_verify: float | None
    has_backup: bool


def facts_from(records: Sequence[BackupRecord]) -> Facts:
    """The times the schedule keys off, from the complete backups of the repository."""
    complete = [r for r in records if r.complete]
    fulls = [r for r in complete if r.type == "full"]
    verified = [r.verified_at.timestamp() for r in records if r.verified_at is not None]
    return Facts(
        last_full=fulls[-1].finished_at.timestamp() if fulls else None,
        last_backup=complete[-1].finished_at.timestamp() if complete else None,
        last_verify=max(verified) if verified else None,
        has_backup=bool(complete),
    )


def due_backup(schedule: Schedule, facts: Facts, now: float) -> BackupKind | None:
    """The backup to take now: a full one when there is none or the last is a full
    interval old, else an incremental one when the last backup is an incr interval old."""
    if facts.last_full is None or now - facts.last_full >= schedule.full_interval:
        return "full"
    if facts.last_backup is None or now - facts.last_backup >= schedule.incr_interval:
        return "incr"
    return None


def due_verify(schedule: Schedule, facts: Facts, now: float) -> bool:
    """True when there is a backup and no verification succeeded within the interval."""
    if not facts.has_backup:
        return False
    return facts.last_verify is None or now - facts.last_verify >= schedule.verify_interval


def next_wake(schedule: Schedule, facts: Facts, now: float, retry_at: dict[str, float]) -> float:
    """Seconds to sleep: until the next due time or retry, at least 1 and at most 60."""
    due = [
        (facts.last_full or now) + schedule.full_interval,
        (facts.last_backup or now) + schedule.incr_interval,
        *retry_at.values(),
    ]
    if facts.has_backup:
        due.append((facts.last_verify or now) + schedule.verify_interval)
    return max(1.0, min(MAX_SLEEP, min(due) - now))


class BackupMetrics:
    """The scheduler's metrics, in their own registry (docs/operations.md lists them)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.last_success = Gauge(
            "quiz_backup_last_success_timestamp_seconds",
            "Unix time the last complete backup (any type) finished; 0 when there is none",
            registry=r,
        )
        self.last_verify = Gauge(
            "quiz_backup_last_verify_success_timestamp_seconds",
            "Unix time of the last successful verification (restore + checks); 0 when none",
            registry=r,
        )
        self.duration = Gauge(
            "quiz_backup_duration_seconds",
            "Duration of the last complete backup of each type (copy, restore point, archive)",
            ["type"],
            registry=r,
        )
        self.size = Gauge(
            "quiz_backup_size_bytes",
            "Bytes the last complete backup of each type stored in the repository",
            ["type"],
            registry=r,
        )
        self.verify_duration = Gauge(
            "quiz_backup_verify_duration_seconds",
            "Duration of the last successful verification",
            registry=r,
        )
        self.failures = Counter(
            "quiz_backup_failures_total",
            "Backups and verifications that failed, since the scheduler started",
            ["operation"],
            registry=r,
        )
        for operation in ("backup", "verify"):
            self.failures.labels(operation)  # exported as 0 from the start

    def refresh(self, records: Sequence[BackupRecord]) -> None:
        """Set every gauge from the repository's records."""
        complete = [r for r in records if r.complete]
        self.last_success.set(complete[-1].finished_at.timestamp() if complete else 0)
        verified = [(r.verified_at.timestamp(), r) for r in records if r.verified_at]
        if verified:
            when, newest = max(verified, key=lambda pair: pair[0])
            self.last_verify.set(when)
            self.verify_duration.set(newest.verify_seconds or 0)
        else:
            self.last_verify.set(0)
            self.verify_duration.set(0)
        for kind in KINDS:
            of_kind = [r for r in complete if r.type == kind]
            if not of_kind:
                self._forget(kind)
                continue
            last = of_kind[-1]
            seconds = last.duration_seconds
            if seconds is None:
                seconds = (last.finished_at - last.started_at).total_seconds()
            self.duration.labels(kind).set(seconds)
            self.size.labels(kind).set(last.size_bytes)

    def _forget(self, kind: str) -> None:
        for gauge in (self.duration, self.size):
            with contextlib.suppress(KeyError):
                gauge.remove(kind)


class BackupScheduler:
    """Runs due backups and verifications; ``tick`` does one round."""

    def __init__(
        self,
        repository: BackupRepository,
        target: Callable[[], PgTarget],
        schedule: Schedule,
        metrics: BackupMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repository = repository
        self.target = target
        self.schedule = schedule
        self.metrics = metrics
        self.clock = clock
        self.retry_at: dict[str, float] = {}
        self._stanza_checked = False

    def tick(self) -> float:
        """Take the backup and run the verification that are due; refresh the metrics.
        Returns the seconds to sleep before the next round."""
        records = self.refresh()
        if records is None:
            return self.schedule.retry_interval
        now = self.clock()
        facts = facts_from(records)
        kind = due_backup(self.schedule, facts, now)
        if kind is not None and self._may_try("backup", now):
            self._attempt("backup", lambda: self._backup(kind), self.schedule.retry_interval)
            records = self.refresh() or records
            facts = facts_from(records)
        now = self.clock()
        if due_verify(self.schedule, facts, now) and self._may_try("verify", now):
            self._attempt("verify", self._verify, self.schedule.verify_retry)
            records = self.refresh() or records
            facts = facts_from(records)
        return next_wake(self.schedule, facts, self.clock(), self.retry_at)

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        log.info("backup scheduler started", schedule=self.schedule.__dict__)
        while not stop.is_set():
            stop.wait(self.tick())
        log.info("backup scheduler stopped")

    def refresh(self) -> list[BackupRecord] | None:
        """The repository's records (None when it cannot be read); refreshes the metrics."""
        try:
            records = self.repository.list()
        except OpsError as exc:
            log.error("cannot read the backup repository", error=str(exc))
            return None
        self.metrics.refresh(records)
        return records

    def _may_try(self, operation: str, now: float) -> bool:
        return now >= self.retry_at.get(operation, 0.0)

    def _attempt(self, operation: str, action: Callable[[], None], retry_in: float) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - one failed round must not end the loop
            self.metrics.failures.labels(operation).inc()
            self.retry_at[operation] = self.clock() + retry_in
            self._stanza_checked = False
            log.error(f"{operation} failed", error=str(exc), retry_in_seconds=retry_in)
        else:
            self.retry_at.pop(operation, None)

    def _backup(self, kind: BackupKind) -> None:
        target = self.target()
        if not self._stanza_checked:
            self.repository.ensure_stanza(target)
            self._stanza_checked = True
        started = time.monotonic()
        record = self.repository.backup(target, kind)
        log.info(
            "backup done",
            label=record.label,
            type=record.type,
            seconds=round(time.monotonic() - started, 1),
            size_bytes=record.size_bytes,
        )

    def _verify(self) -> None:
        report = self.repository.verify()
        log.info("verify done", label=report.label, seconds=round(report.total_seconds, 1))


def schedule_for(stack: Stack) -> Schedule:
    """The stack's schedule (StackConfig's backup_*_interval fields)."""
    cfg = stack.config
    return Schedule(
        full_interval=cfg.backup_full_interval,
        incr_interval=cfg.backup_incr_interval,
        verify_interval=cfg.backup_verify_interval,
        retry_interval=cfg.backup_retry_interval,
    )


def run_for_stack(stack: Stack, port: int, host: str = "127.0.0.1") -> None:
    """The ``quiz backup scheduler`` process: metrics on ``host:port``, ticks until SIGTERM."""
    repository = BackupRepository(stack.backup_settings())
    serve(repository, stack.backup_target, schedule_for(stack), port, host)


def run_standalone(
    settings: BackupSettings, target: PgTarget, schedule: Schedule, port: int, host: str
) -> None:
    """The scheduler beside one PostgreSQL that is not a stack's (Docker Compose: a
    container sharing the database's data and socket volumes): it writes pgBackRest's
    files first (the passphrase only when none is there), then runs as in a stack."""
    repository = BackupRepository(settings)
    repository.prepare()
    serve(repository, lambda: target, schedule, port, host)


def schedule_from(text: str) -> Schedule:
    """``QUIZ_BACKUP_SCHEDULE``: seconds between full backups, incremental backups and
    verifications, and before a retry, comma-separated (``86400,3600,86400,300``)."""
    try:
        full, incr, verify, retry = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise OpsError(
            f"backup schedule {text!r}: want FULL,INCR,VERIFY,RETRY seconds, "
            "e.g. 86400,3600,86400,300"
        ) from exc
    if min(full, incr, verify, retry) <= 0:
        raise OpsError(f"backup schedule {text!r}: every interval must be positive")
    return Schedule(full, incr, verify, retry)


def serve(
    repository: BackupRepository,
    target: Callable[[], PgTarget],
    schedule: Schedule,
    port: int,
    host: str,
) -> None:
    """Serve the metrics on ``host:port`` and tick until SIGTERM or SIGINT."""
    metrics = BackupMetrics()
    scheduler = BackupScheduler(repository, target, schedule, metrics)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("backup scheduler stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    try:
        scheduler.refresh()  # the metrics are right before the first backup starts
        scheduler.run(stop)
    finally:
        server.shutdown()


def scheduler_program(stack: Stack) -> Program:
    """The supervisord program that runs the scheduler for ``stack`` (for ``stack up``)."""
    cfg = stack.config
    return Program(
        name="backup-scheduler",
        command=[
            sys.executable,
            "-m",
            "quizplatform.cli",
            "backup",
            "scheduler",
            "--dir",
            str(stack.dir),
            "--metrics-port",
            str(cfg.backup_metrics_port),
        ],
        directory=stack.dir,
        # The schedule in the environment: when `stack up` changes it, supervisord sees a
        # changed program and restarts the scheduler, which reads it from stack.json.
        environment={
            "QUIZ_BACKUP_SCHEDULE": ",".join(
                f"{value:g}"
                for value in (
                    cfg.backup_full_interval,
                    cfg.backup_incr_interval,
                    cfg.backup_verify_interval,
                    cfg.backup_retry_interval,
                )
            )
        },
        log_file=stack.log_dir / "backup-scheduler.log",
        priority=650,
        stop_wait_seconds=60,
    )
