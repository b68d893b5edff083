"""Backups with pgBackRest: an encrypted repository, backups that end with a restore point,
and a verification that restores a backup into a scratch cluster and checks what it finds.

Layout (the defaults, under the stack's ``data_root``; everything owned by ``postgres``)::

    <data_root>/pgbackrest/                the repository (repo1-path): pgBackRest's archive/
                                           and backup/, and our quiz-records/<stanza>/<label>.json
    <data_root>/backup/pgbackrest.conf     written from BackupSettings by every command
    <data_root>/backup/conf.d/repo-cipher.conf   repo1-cipher-pass (0600, generated once)
    <data_root>/backup/log/ lock/ spool/   pgBackRest's own files
    <data_root>/backup/verify-<label>-*/   a verification's scratch cluster (always removed)

pgBackRest runs as ``postgres`` and reaches PostgreSQL over its Unix socket. Which cluster it
backs up (``pg1-path``, ``pg1-port``, ``pg1-socket-path``) is passed per command from a
``PgTarget``, because the leader changes. The passphrase lives only in the include file:
never on a command line (``ps`` shows those) nor in a long-lived process's environment.

Each backup ends with one short write-blocking step: every table of the ``public`` schema is
locked against writers, its rows are counted and a named restore point ``quiz-<label>`` is
created in the same transaction. The counts (and the Alembic revision) go into the record of
that backup; ``verify`` recovers the backup to exactly that point, so the restored database
must show the same counts even though the live database kept being written to.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from quizplatform.db.migrate import code_head_revision
from quizplatform.ops.backup_mark import COUNT_PUBLIC_TABLES, mark_restore_point, psql

# Private helpers of the sibling module, shared on purpose: the same rules for handing
# directories and files to the postgres user apply here.
from quizplatform.ops.postgres import (
    PG_USER,
    PgCluster,
    check_reachable,
    hand_over,
    make_dirs,
    pg_bin,
    postgres_ids,
    prepare_cluster_dirs,
    stop_cluster,
    write_owned,
)
from quizplatform.ops.process import OpsError, free_port, run, which

BackupKind = Literal["full", "diff", "incr"]
KINDS: tuple[BackupKind, ...] = ("full", "diff", "incr")
RESTORE_POINT_PREFIX = "quiz-"
RECORDS_DIR = "quiz-records"
CIPHER_TYPE = "aes-256-cbc"
_ROOT = Path("/")  # working directory for commands run as postgres
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, NUL included
_LABEL = re.compile(r"^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$")

Progress = Callable[[str], None]


class BackupVerifyError(OpsError):
    """A verification found a problem; ``report`` says what was checked and what failed."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        super().__init__(
            f"verification of backup {report.label} failed: " + " ".join(report.problems)
        )


@dataclass(frozen=True)
class PgTarget:
    """The cluster to back up and archive from (the current leader): data directory,
    port and Unix socket directory."""

    data_dir: Path
    port: int
    socket_dir: Path


@dataclass(kw_only=True)
class BackupSettings:
    """Where the repository and pgBackRest's files live, and the retention.

    Retention: pgBackRest keeps WAL only as far back as the oldest backup it keeps (WAL
    without a base backup older than it cannot be replayed), so "7 days of WAL" is really
    "full backups reaching 7 days back". With ``recovery_window_days`` > 0 the repository
    uses ``repo1-retention-full-type=time``: every full backup younger than that many days is
    kept, plus the newest older one, with all WAL from it on, so any moment of the last N
    days can be restored; ``retention_full`` is then not used. With 0 it keeps the newest
    ``retention_full`` full backups (``repo1-retention-full-type=count``) and their WAL.
    Incremental and differential backups expire with the full backup they build on.
    """

    repo_path: Path
    home: Path
    stanza: str = "quiz"
    database: str = "quiz"
    retention_full: int = 2
    recovery_window_days: int = 7
    # Must end in .conf and sit alone (with other .conf files of ours) in its directory:
    # that directory is pgBackRest's --config-include-path.
    cipher_pass_file: Path
    compress_type: str = "zst"
    process_max: int = 1
    archive_timeout: int = 60
    # How long the write-blocking step waits for writers' locks before it gives up.
    lock_timeout_seconds: float = 10.0
    # pg_amcheck --heapallindexed: also checks that every heap tuple has its index entries.
    heapallindexed: bool = True
    # `pgbackrest verify` (checksums of every backup file and WAL segment) before restoring.
    check_repository: bool = True
    backup_timeout: float = 6 * 3600
    restore_timeout: float = 6 * 3600

    @classmethod
    def under(cls, data_root: Path, **overrides: Any) -> BackupSettings:
        """The default layout under a stack's ``data_root`` (see the module docstring)."""
        home = Path(overrides.pop("home", data_root / "backup"))
        values: dict[str, Any] = {
            "repo_path": data_root / "pgbackrest",
            "home": home,
            "cipher_pass_file": home / "conf.d" / "repo-cipher.conf",
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        self.repo_path = Path(self.repo_path).absolute()
        self.home = Path(self.home).absolute()
        self.cipher_pass_file = Path(self.cipher_pass_file).absolute()
        if self.cipher_pass_file.suffix != ".conf":
            raise OpsError(
                f"cipher_pass_file {self.cipher_pass_file} must end in .conf "
                "(pgBackRest reads the *.conf files of its include directory)"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.stanza):
            raise OpsError(f"stanza {self.stanza!r}: letters, digits, - and _ only")
        if self.recovery_window_days < 0 or self.retention_full < 1:
            raise OpsError("retention: recovery_window_days >= 0 and retention_full >= 1")

    @property
    def config_file(self) -> Path:
        return self.home / "pgbackrest.conf"

    @property
    def include_dir(self) -> Path:
        return self.cipher_pass_file.parent

    @property
    def records_dir(self) -> Path:
        return self.repo_path / RECORDS_DIR / self.stanza


@dataclass(frozen=True)
class BackupRecord:
    """One backup set as ``quiz backup list --json`` prints it.

    ``size_bytes`` is what the set stored in the repository (compressed and encrypted; for
    an incremental backup only what changed since its prior backup); ``database_size_bytes``
    is the size of the cluster it restores. ``started_at``/``finished_at`` are pgBackRest's
    (the copy); ``duration_seconds`` is the whole ``backup()`` including the restore point and
    the wait for its WAL to be archived. ``restore_point`` is None for a set that did not
    complete that step (taken outside ``backup()``, or whose marking failed): such a set is
    never used as "the last backup" and cannot be verified.
    """

    label: str
    type: str
    started_at: datetime
    finished_at: datetime
    size_bytes: int
    database_size_bytes: int
    wal_start: str
    wal_stop: str
    prior: str | None
    restore_point: str | None
    duration_seconds: float | None
    verified_at: datetime | None
    verify_seconds: float | None

    @property
    def complete(self) -> bool:
        return self.restore_point is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON form (RFC 3339 UTC times)."""
        return {
            "label": self.label,
            "type": self.type,
            "started_at": _rfc3339(self.started_at),
            "finished_at": _rfc3339(self.finished_at),
            "size_bytes": self.size_bytes,
            "database_size_bytes": self.database_size_bytes,
            "wal_start": self.wal_start,
            "wal_stop": self.wal_stop,
            "prior": self.prior,
            "restore_point": self.restore_point,
            "duration_seconds": self.duration_seconds,
            "verified_at": _rfc3339(self.verified_at) if self.verified_at else None,
            "verify_seconds": self.verify_seconds,
        }


@dataclass
class TableCheck:
    """Rows of one table: recorded at backup time, found in the restored database."""

    table: str
    expected: int | None
    found: int | None

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class VerifyReport:
    """What a verification did, how long each step took, and what it found."""

    label: str
    restore_point: str
    steps: list[tuple[str, float]] = field(default_factory=list)
    tables: list[TableCheck] = field(default_factory=list)
    schema_recorded: str | None = None
    schema_found: str | None = None
    schema_head: str | None = None
    amcheck: str = ""
    problems: list[str] = field(default_factory=list)
    scratch_dir: str = ""
    scratch_removed: bool = False
    total_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "restore_point": self.restore_point,
            "ok": self.ok,
            "problems": self.problems,
            "steps": [{"step": name, "seconds": round(sec, 3)} for name, sec in self.steps],
            "tables": [
                {"table": t.table, "expected": t.expected, "found": t.found} for t in self.tables
            ],
            "schema": {
                "recorded": self.schema_recorded,
                "found": self.schema_found,
                "head": self.schema_head,
            },
            "amcheck": self.amcheck,
            "scratch_dir": self.scratch_dir,
            "scratch_removed": self.scratch_removed,
            "total_seconds": round(self.total_seconds, 3),
        }


class _StepFailed(Exception):
    """A verification step failed; the message is the sentence for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the tools printed


class BackupRepository:
    """A pgBackRest repository for one stanza, driven as the postgres user."""

    def __init__(self, settings: BackupSettings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ configuration --
    def archive_settings(self, member: PgTarget) -> dict[str, str]:
        """The PostgreSQL settings (unquoted values) that archive ``member``'s WAL here."""
        return {
            "archive_mode": "on",
            "archive_command": self.archive_command(member),
            "wal_level": "replica",
        }

    def archive_command(self, member: PgTarget) -> str:
        """The ``archive_command`` every member's PostgreSQL must have (``%p`` is the WAL
        file, relative to the member's data directory)."""
        argv = [
            self._binary(),
            *self._config_options(),
            f"--stanza={self.settings.stanza}",
            f"--pg1-path={member.data_dir}",
            "archive-push",
        ]
        return " ".join(shlex.quote(a) for a in argv) + " %p"

    def prepare(self) -> None:
        """Create the directories (postgres, 0750), the passphrase file (once, 0600) and
        ``pgbackrest.conf``. Idempotent; refuses to invent a new passphrase for a repository
        that already holds backups."""
        try:
            self._prepare()
        except PermissionError as exc:
            raise OpsError(
                f"cannot prepare the backup files ({exc}): run as root or as postgres"
            ) from exc

    def _prepare(self) -> None:
        s = self.settings
        ids = postgres_ids()
        for directory in (s.home, s.repo_path, s.include_dir):
            make_dirs(directory.parent)
        for directory, mode in (
            (s.home, 0o750),
            (s.repo_path, 0o750),
            (s.home / "log", 0o750),
            (s.home / "lock", 0o750),
            (s.home / "spool", 0o750),
            (s.include_dir, 0o700),
        ):
            directory.mkdir(mode=mode, exist_ok=True)
            hand_over(directory, mode, ids)
        if ids is not None:
            for directory in (s.home, s.repo_path, s.include_dir):
                check_reachable(directory, ids)
        if not s.cipher_pass_file.exists():
            if (s.repo_path / "backup" / s.stanza / "backup.info").exists():
                raise OpsError(
                    f"the repository {s.repo_path} is encrypted but its passphrase file "
                    f"{s.cipher_pass_file} is missing: put back the copy you keep elsewhere "
                    "(a new passphrase cannot read the existing backups)"
                )
            passphrase = secrets.token_urlsafe(48)
            write_owned(s.cipher_pass_file, f"[global]\nrepo1-cipher-pass={passphrase}\n")
        write_owned(s.config_file, self.config_text())

    def config_text(self) -> str:
        """The ``pgbackrest.conf`` this repository runs with (no passphrase in it)."""
        s = self.settings
        if s.recovery_window_days > 0:
            retention = {
                "repo1-retention-full-type": "time",
                "repo1-retention-full": str(s.recovery_window_days),
            }
        else:
            retention = {
                "repo1-retention-full-type": "count",
                "repo1-retention-full": str(s.retention_full),
            }
        options = {
            "repo1-path": str(s.repo_path),
            "repo1-cipher-type": CIPHER_TYPE,
            **retention,
            "log-path": str(s.home / "log"),
            "lock-path": str(s.home / "lock"),
            "spool-path": str(s.home / "spool"),
            "start-fast": "y",
            "compress-type": s.compress_type,
            "process-max": str(s.process_max),
            "archive-timeout": str(s.archive_timeout),
            "log-level-console": "warn",
            "log-level-file": "info",
        }
        body = "".join(f"{key}={value}\n" for key, value in options.items())
        return (
            "# Written by quizplatform.ops.backup from the stack's settings: do not edit.\n"
            f"# The passphrase is in {s.cipher_pass_file}; pg1-* options come per command.\n"
            f"[global]\n{body}"
        )

    def has_stanza(self) -> bool:
        """Whether the repository holds this stanza already."""
        return (self.settings.repo_path / "backup" / self.settings.stanza / "backup.info").exists()

    def ensure_stanza(self, target: PgTarget) -> None:
        """Create the stanza when missing (idempotent) and check that WAL archiving from
        ``target`` reaches the repository."""
        self.prepare()
        self._pgbackrest(
            "stanza-create", *self._pg_options(target), what="pgBackRest stanza-create"
        )
        self._pgbackrest(
            "check",
            *self._pg_options(target),
            what="pgBackRest check (WAL archiving into the repository)",
            timeout=self.settings.archive_timeout + 60,
        )

    # ------------------------------------------------------------------ backup ---------
    def backup(
        self, target: PgTarget, kind: BackupKind = "full", progress: Progress | None = None
    ) -> BackupRecord:
        """Take a backup of ``target``, then mark it with its restore point and wait until
        that point is archived. On failure nothing is recorded (the set is expired when
        pgBackRest allows) and OpsError carries pgBackRest's or PostgreSQL's message."""
        if kind not in KINDS:
            raise OpsError(f"backup type must be one of {', '.join(KINDS)}, not {kind!r}")
        step = progress or _quiet
        self.prepare()
        if not self.has_stanza():
            step("creating the stanza")
            self.ensure_stanza(target)
        with self._exclusive("backup"):
            before = {item["label"] for item in self._info_sets()}
            started = time.monotonic()
            step(f"pgBackRest {kind} backup of {target.data_dir}")
            self._pgbackrest(
                "backup",
                f"--type={kind}",
                *self._pg_options(target),
                what=f"pgBackRest {kind} backup",
                timeout=self.settings.backup_timeout,
            )
            new = [item for item in self._info_sets() if item["label"] not in before]
            if not new:
                raise OpsError("pgBackRest reported a backup but the repository lists no new set")
            label = str(new[-1]["label"])
            try:
                step(f"restore point {RESTORE_POINT_PREFIX}{label} (writes wait briefly)")
                mark = self._mark(target, label)
                step("waiting for the restore point's WAL to be archived")
                self.archive_current_segment(target)
            except OpsError as exc:
                raise OpsError(self._discard(label, exc)) from exc
            mark["duration_seconds"] = round(time.monotonic() - started, 3)
            self._write_record(label, mark)
            self._prune_records()
        return self._record(label)

    def _mark(self, target: PgTarget, label: str) -> dict[str, Any]:
        """The restore point with writers blocked for a moment, and the rows at it."""
        mark = mark_restore_point(
            target.socket_dir,
            target.port,
            database=self.settings.database,
            name=RESTORE_POINT_PREFIX + label,
            lock_timeout=self.settings.lock_timeout_seconds,
            work_dir=self.settings.home,
        )
        return {
            "label": label,
            "restore_point": mark.restore_point,
            "restore_point_lsn": mark.lsn,
            "restore_point_at": _rfc3339(datetime.now(UTC)),
            "tables": mark.tables,
            "alembic_version": mark.alembic_version,
            "write_block_seconds": mark.write_block_seconds,
            "verified_at": None,
            "verify_seconds": None,
        }

    def archive_current_segment(self, target: PgTarget) -> None:
        """Switch WAL and wait until the segment holding the restore point is archived."""
        segment = psql(
            target.socket_dir,
            target.port,
            ["SELECT pg_walfile_name(pg_switch_wal())"],
            what="pg_switch_wal",
        ).strip()
        deadline = time.monotonic() + self.settings.archive_timeout
        while True:
            archived, failed, failed_at = psql(
                target.socket_dir,
                target.port,
                [
                    "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, ''),"
                    " coalesce(last_failed_time::text, '') FROM pg_stat_archiver"
                ],
                what="pg_stat_archiver",
            ).split("\0")
            if archived >= segment:
                return
            if time.monotonic() > deadline:
                failure = f"; the last failure was {failed} at {failed_at}" if failed else ""
                raise OpsError(
                    f"WAL segment {segment} was not archived within "
                    f"{self.settings.archive_timeout} s (last archived: {archived or 'none'})"
                    f"{failure}: see the PostgreSQL log and {self.settings.home / 'log'}"
                )
            time.sleep(0.1)

    def _discard(self, label: str, cause: OpsError) -> str:
        """Expire a set whose marking failed; the sentence to raise."""
        try:
            self._pgbackrest(
                "expire",
                f"--set={label}",
                # Ad hoc expiry with retention at its maximum, as pgBackRest's help
                # advises, so that nothing but this set goes.
                "--repo1-retention-full-type=count",
                "--repo1-retention-full=9999999",
                what=f"pgBackRest expire of {label}",
            )
        except OpsError as exc:
            return (
                f"backup {label} was taken but its restore point step failed ({cause}); "
                f"removing the set also failed ({exc}), so it stays in the repository "
                "without a record: it is listed as incomplete and never verified"
            )
        return (
            f"backup {label} was taken but its restore point step failed, "
            f"so the set was removed again: {cause}"
        )

    # ------------------------------------------------------------------ list -----------
    def list(self) -> list[BackupRecord]:
        """Every backup set in the repository, oldest first, joined with our records."""
        if not (self.settings.repo_path / "backup" / self.settings.stanza).exists():
            return []
        self.prepare()
        records = self._read_records()
        result = [_record_from(item, records.get(str(item["label"]))) for item in self._info_sets()]
        return sorted(result, key=lambda r: (r.finished_at, r.label))

    def last_backup(self) -> BackupRecord | None:
        """The newest complete backup (any type), or None."""
        complete = [r for r in self.list() if r.complete]
        return complete[-1] if complete else None

    def last_verify(self) -> BackupRecord | None:
        """The backup whose verification succeeded last, or None."""
        verified = [r for r in self.list() if r.verified_at is not None]
        return max(verified, key=lambda r: r.verified_at or _EPOCH) if verified else None

    # ------------------------------------------------------------------ verify ---------
    def verify(self, label: str | None = None, progress: Progress | None = None) -> VerifyReport:
        """Restore a backup (the newest complete one when ``label`` is None) into a scratch
        cluster, recover it to its restore point, run pg_amcheck and the app's checks, and
        remove the scratch cluster whatever happens. Returns the report when everything
        passed (and records ``verified_at``); raises BackupVerifyError otherwise."""
        step = progress or _quiet
        record = self._pick(label)
        expected = self._read_records().get(record.label, {})
        report = VerifyReport(label=record.label, restore_point=record.restore_point or "")
        started = time.monotonic()
        with self._exclusive("verify"):
            scratch = self._scratch_cluster(record.label)
            report.scratch_dir = str(scratch.data_dir.parent)
            try:
                self._verify_steps(record, expected, scratch, report, step)
            finally:
                step("removing the scratch cluster")
                if report.problems:
                    self._keep_log(scratch, report)
                report.scratch_removed = _remove_scratch(scratch)
            report.total_seconds = time.monotonic() - started
            if not report.scratch_removed:
                report.problems.append(
                    f"the scratch cluster in {report.scratch_dir} could not be removed"
                )
            if report.problems:
                raise BackupVerifyError(report)
            self._update_record(
                record.label,
                verified_at=_rfc3339(datetime.now(UTC)),
                verify_seconds=round(report.total_seconds, 3),
            )
        return report

    def _keep_log(self, scratch: PgCluster, report: VerifyReport) -> None:
        """Keep a failed verification's server log (the scratch cluster goes)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.settings.home / "log" / f"verify-{report.label}-{stamp}.postgres.log"
        with contextlib.suppress(OSError):
            shutil.copyfile(scratch.log_file, kept)
            hand_over(kept, 0o640, postgres_ids())
            report.problems = [p.replace(str(scratch.log_file), str(kept)) for p in report.problems]

    def _verify_steps(
        self,
        record: BackupRecord,
        expected: dict[str, Any],
        scratch: PgCluster,
        report: VerifyReport,
        step: Progress,
    ) -> None:
        def timed(name: str, action: Callable[[], None]) -> None:
            step(name)
            began = time.monotonic()
            try:
                action()
            except OpsError as exc:  # a tool failed in a way the step did not foresee
                raise _StepFailed(f"{name}: {exc}") from exc
            finally:
                report.steps.append((name, time.monotonic() - began))

        if self.settings.check_repository:
            try:
                timed("checking the repository (pgbackrest verify)", self._check_repository)
            except _StepFailed as exc:
                report.problems.append(str(exc))
        try:
            timed(f"restoring {record.label}", lambda: self._restore_into(scratch, record))
            timed(f"recovering to {record.restore_point}", lambda: self._recover(scratch, record))
        except _StepFailed as exc:
            report.problems.append(str(exc))
            return
        for name, check in (
            ("pg_amcheck", lambda: self._amcheck(scratch, report)),
            (
                "schema and row counts",
                lambda: _app_checks(scratch, self.settings.database, expected, report),
            ),
        ):
            try:
                timed(name, check)
            except _StepFailed as exc:
                report.problems.append(str(exc))

    def _check_repository(self) -> None:
        out = self._pgbackrest(
            "verify",
            "--output=text",
            what="pgBackRest verify",
            timeout=self.settings.restore_timeout,
        )
        if "status: error" in out:
            details = " ".join(
                line.strip()
                for line in out.splitlines()
                if re.search(r"(invalid|missing): [1-9]|other: [1-9]|status: error", line)
            )
            raise _StepFailed(
                "pgbackrest verify found damaged or missing files in the repository "
                f"{self.settings.repo_path} ({details}; details in "
                f"{self.settings.home / 'log'}/{self.settings.stanza}-verify.log)."
            )

    def _restore_into(self, scratch: PgCluster, record: BackupRecord) -> None:
        try:
            self._pgbackrest(
                "restore",
                f"--pg1-path={scratch.data_dir}",
                f"--set={record.label}",
                "--type=name",
                f"--target={record.restore_point}",
                "--target-action=promote",
                what=f"pgBackRest restore of {record.label}",
                timeout=self.settings.restore_timeout,
            )
        except OpsError as exc:
            raise _StepFailed(
                f"backup {record.label} cannot be restored from the repository: {exc}. "
                "A file of this backup is damaged or missing; do not count on this backup."
            ) from exc

    def _recover(self, scratch: PgCluster, record: BackupRecord) -> None:
        try:
            start_restored(
                scratch,
                what=f"backup {record.label} to its restore point {record.restore_point}",
                timeout=self.settings.restore_timeout,
            )
        except OpsError as exc:
            raise _StepFailed(str(exc)) from exc

    def _amcheck(self, scratch: PgCluster, report: VerifyReport) -> None:
        argv = [
            str(pg_bin() / "pg_amcheck"),
            "-h",
            str(scratch.socket_dir),
            "-p",
            str(scratch.port),
            "-U",
            PG_USER,
            "--all",
            "--install-missing",
        ]
        if self.settings.heapallindexed:
            argv.append("--heapallindexed")
        code, out = _run_capture(argv, timeout=self.settings.restore_timeout)
        if code != 0:
            lines = [line for line in out.splitlines() if line.strip()]
            report.amcheck = "\n".join(lines[:20])
            raise _StepFailed(
                f"pg_amcheck found corruption in the restored backup {report.label} "
                f"(exit {code}): {' / '.join(lines[:3])}. The backup, or the database it was "
                "taken from, holds damaged tables or indexes."
            )
        checked = (
            "tables and indexes, with --heapallindexed"
            if self.settings.heapallindexed
            else ("tables and indexes")
        )
        report.amcheck = f"no corruption ({checked}, all databases)"

    # ------------------------------------------------------------------ restore --------
    def restore_argv(
        self,
        data_dir: Path,
        *,
        to_time: datetime | None = None,
        label: str | None = None,
    ) -> builtins.list[str]:
        """The ``pgbackrest restore`` command (run it as postgres) that fills the EMPTY
        ``data_dir`` for a point-in-time recovery, ending with a promotion:

        - ``to_time``: recover to that moment (time zone required), from ``label`` or else
          from the newest complete backup that finished before it;
        - ``label`` alone: recover to that backup's restore point (what ``verify`` checks);
        - neither: recover to the end of the archived WAL, from the newest backup.
        """
        options = [f"--pg1-path={Path(data_dir).absolute()}"]
        if to_time is not None:
            if to_time.tzinfo is None:
                raise OpsError("the target time needs a time zone, e.g. 2026-01-31T12:00:00Z")
            if to_time > datetime.now(UTC):
                raise OpsError(f"the target time {_rfc3339(to_time)} is in the future")
            chosen = self._pick(label) if label else self._newest_before(to_time)
            target = to_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            options += [
                f"--set={chosen.label}",
                "--type=time",
                f"--target={target}",
                "--target-action=promote",
            ]
        elif label is not None:
            chosen = self._pick(label)
            options += [
                f"--set={chosen.label}",
                "--type=name",
                f"--target={chosen.restore_point}",
                "--target-action=promote",
            ]
        else:
            options.append("--type=default")
        return [
            self._binary(),
            *self._config_options(),
            f"--stanza={self.settings.stanza}",
            *options,
            "restore",
        ]

    def _newest_before(self, moment: datetime) -> BackupRecord:
        candidates = [r for r in self.list() if r.complete and r.finished_at < moment]
        if not candidates:
            raise OpsError(
                f"no backup finished before {_rfc3339(moment)}: the repository cannot "
                "recover to that time"
            )
        return candidates[-1]

    # ------------------------------------------------------------------ helpers --------
    def _pick(self, label: str | None) -> BackupRecord:
        records = self.list()
        if label is None:
            complete = [r for r in records if r.complete]
            if not complete:
                raise OpsError(
                    "the repository holds no complete backup yet (run `quiz backup create`)"
                )
            return complete[-1]
        for record in records:
            if record.label == label:
                if not record.complete:
                    raise OpsError(
                        f"backup {label} has no restore point (its backup did not finish "
                        "the marking step): it cannot be verified; take a new backup"
                    )
                return record
        known = ", ".join(r.label for r in records) or "none"
        raise OpsError(f"no backup {label!r} in the repository (there are: {known})")

    def _record(self, label: str) -> BackupRecord:
        for record in self.list():
            if record.label == label:
                return record
        raise OpsError(f"backup {label} disappeared from the repository")

    def _binary(self) -> str:
        return which("pgbackrest", "/usr/bin")

    def _config_options(self) -> builtins.list[str]:
        s = self.settings
        return [f"--config={s.config_file}", f"--config-include-path={s.include_dir}"]

    @staticmethod
    def _pg_options(target: PgTarget) -> builtins.list[str]:
        return [
            f"--pg1-path={target.data_dir}",
            f"--pg1-port={target.port}",
            f"--pg1-socket-path={target.socket_dir}",
        ]

    def _pgbackrest(self, command: str, *options: str, what: str, timeout: float = 600) -> str:
        argv = [
            self._binary(),
            *self._config_options(),
            f"--stanza={self.settings.stanza}",
            *options,
            command,
        ]
        return run(argv, what=what, user=PG_USER, cwd=_ROOT, timeout=timeout)

    def _info_sets(self) -> builtins.list[dict[str, Any]]:
        out = self._pgbackrest("info", "--output=json", what="pgBackRest info", timeout=120)
        try:
            stanzas = json.loads(out)
        except ValueError as exc:
            raise OpsError(f"pgBackRest info printed no JSON: {out[:200]}") from exc
        for stanza in stanzas:
            if stanza.get("name") == self.settings.stanza:
                status = stanza.get("status", {})
                if status.get("code") not in (0, 1, 2):  # ok, missing stanza, no backup
                    raise OpsError(f"pgBackRest info: {status.get('message')}")
                return list(stanza.get("backup", []))
        return []

    @contextlib.contextmanager
    def _exclusive(self, what: str) -> Iterator[None]:
        """One backup (and one verify) at a time per repository, across processes."""
        path = self.settings.home / f"{what}.lock"
        with path.open("a") as lock:
            hand_over(path, 0o640, postgres_ids())
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise OpsError(
                    f"another {what} of this repository is running (lock {path}); "
                    "try again when it ends"
                ) from exc
            yield

    def _scratch_cluster(self, label: str) -> PgCluster:
        root = Path(tempfile.mkdtemp(prefix="verify-", dir=self.settings.home))
        root.chmod(0o755)  # postgres must traverse it
        (root / "label").write_text(label + "\n")  # whose scratch cluster this is
        port = free_port()
        socket_dir = root / "s"
        if len(str(socket_dir / f".s.PGSQL.{port}").encode()) > _SOCKET_PATH_MAX:
            # A deep home: the socket goes to a short directory (removed with the rest).
            socket_dir = Path(tempfile.mkdtemp(prefix="quiz-verify-"))
            socket_dir.chmod(0o755)
        cluster = PgCluster(
            name="verify",
            data_dir=root / "data",
            port=port,
            socket_dir=socket_dir,
            log_file=root / "postgres.log",
        )
        prepare_cluster_dirs(cluster)
        return cluster

    # ------------------------------------------------------------------ records --------
    def _read_records(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        directory = self.settings.records_dir
        if not directory.is_dir():
            return records
        for path in directory.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text())
                if isinstance(data, dict) and data.get("label") == path.stem:
                    records[path.stem] = data
        return records

    def _write_record(self, label: str, data: dict[str, Any]) -> None:
        directory = self.settings.records_dir
        ids = postgres_ids()
        for path in (directory.parent, directory):
            path.mkdir(mode=0o750, exist_ok=True)
            hand_over(path, 0o750, ids)
        write_owned(directory / f"{label}.json", json.dumps(data, indent=2, sort_keys=True) + "\n")

    def _update_record(self, label: str, **changes: Any) -> None:
        data = self._read_records().get(label)
        if data is not None:
            self._write_record(label, {**data, **changes})

    def _prune_records(self) -> None:
        """Forget the records of sets pgBackRest expired."""
        labels = {str(item["label"]) for item in self._info_sets()}
        for path in self.settings.records_dir.glob("*.json"):
            if path.stem not in labels:
                path.unlink(missing_ok=True)


def _app_checks(
    scratch: PgCluster, database: str, expected: dict[str, Any], report: VerifyReport
) -> None:
    """The schema is at the recorded revision and at this code's head; every table holds
    the rows counted at the restore point."""
    found = json.loads(
        psql(scratch.socket_dir, scratch.port, [COUNT_PUBLIC_TABLES], database=database)
    )
    report.schema_recorded = expected.get("alembic_version")
    report.schema_found = found["alembic_version"]
    report.schema_head = code_head_revision()
    problems = []
    if report.schema_found != report.schema_recorded:
        problems.append(
            f"the restored schema is at revision {report.schema_found}, but the backup "
            f"recorded {report.schema_recorded}."
        )
    if report.schema_found != report.schema_head:
        problems.append(
            f"the restored schema is at revision {report.schema_found}, not at this code's "
            f"head {report.schema_head}: a restore of this backup needs `quiz db upgrade` "
            "(it was taken before a migration)."
        )
    recorded: dict[str, int] = expected.get("tables", {})
    present: dict[str, int] = found["tables"]
    for table in sorted(set(recorded) | set(present)):
        report.tables.append(TableCheck(table, recorded.get(table), present.get(table)))
    wrong = [t for t in report.tables if not t.ok]
    if wrong:
        listed = ", ".join(f"{t.table} {t.found} (recorded {t.expected})" for t in wrong)
        problems.append(f"row counts differ from those recorded at the restore point: {listed}.")
    if problems:
        raise _StepFailed(" ".join(problems))


def start_restored(cluster: PgCluster, *, what: str, timeout: float) -> None:
    """Start a data directory pgBackRest restored, standalone and harmless, and return once
    it reached its recovery target and promoted; OpsError naming the problem otherwise.

    Whatever the source's configuration says (a Patroni leader's names its synchronous
    standby, archives into the real repository, listens on TCP), the overrides make it a
    socket-only cluster on ``cluster``'s port that archives nothing and waits for nobody.
    Its ``pg_hba.conf`` and ``pg_ident.conf`` are written beside the data directory.
    """
    root = cluster.data_dir.parent
    hba, ident = root / "pg_hba.conf", root / "pg_ident.conf"
    write_owned(hba, "local all all trust\n")
    write_owned(ident, "")
    overrides = {
        "port": str(cluster.port),
        "listen_addresses": "",
        "unix_socket_directories": str(cluster.socket_dir),
        "unix_socket_permissions": "0700",
        "archive_mode": "off",
        "synchronous_standby_names": "",
        "hot_standby": "on",
        "primary_conninfo": "",
        "primary_slot_name": "",
        "shared_buffers": "32MB",
        "hba_file": str(hba),
        "ident_file": str(ident),
        "logging_collector": "off",
        "ssl": "off",
        "cluster_name": "quiz-restored",
    }
    options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in overrides.items())
    argv: list[str | Path] = [pg_bin() / "pg_ctl", "-D", cluster.data_dir, "-l", cluster.log_file]
    argv += ["-o", options, "-w", "-t", str(int(timeout)), "-s", "start"]
    try:
        run(argv, what="pg_ctl start", user=PG_USER, cwd=_ROOT, timeout=timeout + 30)
    except OpsError as exc:
        raise OpsError(_recovery_failure(cluster, what, exc)) from exc
    deadline = time.monotonic() + timeout
    while True:
        if not cluster.running():
            raise OpsError(_recovery_failure(cluster, what, None))
        with contextlib.suppress(OpsError):
            if psql(cluster.socket_dir, cluster.port, ["SELECT pg_is_in_recovery()"]) == "f":
                return
        if time.monotonic() > deadline:
            raise OpsError(f"PostgreSQL did not recover {what} within {timeout:.0f} s")
        time.sleep(0.2)


def _recovery_failure(cluster: PgCluster, what: str, exc: OpsError | None) -> str:
    """The operator's sentence for a restored cluster that did not come up or died."""
    try:
        lines = cluster.log_file.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
    errors = [line.strip() for line in lines if re.search(r"\bERROR: \[\d+\]", line)]
    restored = [
        m.group(1) for line in lines if (m := re.search(r'restored log file "([0-9A-F]+)"', line))
    ]
    said = fatal[-1] if fatal else (str(exc) if exc else "the server stopped")
    message = f"PostgreSQL could not recover {what}: {said}."
    if any("recovery ended before configured recovery target" in f for f in fatal):
        last = restored[-1] if restored else "none"
        message += (
            f" The WAL it could read from the repository ends with segment {last}: the next "
            "one is missing or unreadable, so the backup cannot reach that point (nor any "
            "later point in time)."
        )
    if errors:
        message += f" pgBackRest: {errors[-1]}"
    return message + f" (server log: {cluster.log_file})"


def _remove_scratch(scratch: PgCluster) -> bool:
    """Stop the scratch cluster and delete its directory; True when it is gone."""
    with contextlib.suppress(OpsError):
        stop_cluster(scratch, timeout=30)
    root = scratch.data_dir.parent
    shutil.rmtree(root, ignore_errors=True)
    if not scratch.socket_dir.is_relative_to(root):
        shutil.rmtree(scratch.socket_dir, ignore_errors=True)
    return not root.exists() and not scratch.socket_dir.exists()


def _run_capture(argv: list[str], timeout: float) -> tuple[int, str]:
    """Run as postgres; (exit code, stdout and stderr together)."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", PG_USER, "--", *argv]
    try:
        done = subprocess.run(  # noqa: S603 - argv built from our own paths
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=_ROOT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


# -- records -------------------------------------------------------------------------------------

_EPOCH = datetime.fromtimestamp(0, UTC)


def _quiet(_message: str) -> None:
    return None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _record_from(item: dict[str, Any], ours: dict[str, Any] | None) -> BackupRecord:
    """A BackupRecord from one set of ``pgbackrest info --output=json`` and our record."""
    ours = ours or {}
    info = item.get("info", {})
    repository = info.get("repository", {})
    archive = item.get("archive") or {}
    stamps = item.get("timestamp", {})
    return BackupRecord(
        label=str(item["label"]),
        type=str(item.get("type", "")),
        started_at=datetime.fromtimestamp(int(stamps.get("start", 0)), UTC),
        finished_at=datetime.fromtimestamp(int(stamps.get("stop", 0)), UTC),
        size_bytes=int(repository.get("delta", 0)),
        database_size_bytes=int(info.get("size", 0)),
        wal_start=str(archive.get("start") or ""),
        wal_stop=str(archive.get("stop") or ""),
        prior=item.get("prior"),
        restore_point=ours.get("restore_point"),
        duration_seconds=ours.get("duration_seconds"),
        verified_at=_parse_time(ours.get("verified_at")),
        verify_seconds=ours.get("verify_seconds"),
    )


def summary(repository: BackupRepository) -> dict[str, Any]:
    """``last_backup`` and ``last_verify`` (BackupRecord JSON or None) for a status report;
    ``error`` instead when the repository cannot be read."""
    try:
        records = repository.list()
    except OpsError as exc:
        return {"last_backup": None, "last_verify": None, "error": str(exc)}
    complete = [r for r in records if r.complete]
    verified = [r for r in records if r.verified_at is not None]
    last_verify = max(verified, key=lambda r: r.verified_at or _EPOCH) if verified else None
    return {
        "last_backup": complete[-1].to_json() if complete else None,
        "last_verify": last_verify.to_json() if last_verify else None,
    }


def valid_label(label: str) -> bool:
    """True for a pgBackRest backup label (``20260131-120000F``, ``…F_20260131-130000I``)."""
    return bool(_LABEL.match(label))
