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

``BackupRepository`` is the entry point; beside it: ``backup_settings`` (the layout, the
retention and the files made from them), ``backup_pgbackrest`` (running its commands),
``backup_records`` (the records and reports) and ``backup_verify`` (the verification).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import shlex
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quizplatform.ops.backup_mark import mark_restore_point, psql
from quizplatform.ops.backup_pgbackrest import PgBackRest
from quizplatform.ops.backup_records import (
    EPOCH,
    KINDS,
    RESTORE_POINT_PREFIX,
    BackupKind,
    BackupRecord,
    BackupRecordJson,
    BackupSummary,
    BackupVerifyError,
    TableCheck,
    VerifyReport,
    record_from,
    rfc3339,
    valid_label,
)
from quizplatform.ops.backup_settings import (
    BackupSettings,
    PgTarget,
    pgbackrest_conf,
    prepare_files,
)
from quizplatform.ops.backup_verify import Verification, start_restored
from quizplatform.ops.postgres import hand_over, postgres_ids, write_owned
from quizplatform.ops.process import OpsError

# The names the rest of the code imports from here, wherever they are defined.
__all__ = [
    "KINDS",
    "BackupKind",
    "BackupRecord",
    "BackupRecordJson",
    "BackupRepository",
    "BackupSettings",
    "BackupSummary",
    "BackupVerifyError",
    "PgTarget",
    "TableCheck",
    "VerifyReport",
    "start_restored",
    "summary",
    "valid_label",
]

Progress = Callable[[str], None]


class BackupRepository:
    """A pgBackRest repository for one stanza, driven as the postgres user."""

    def __init__(self, settings: BackupSettings) -> None:
        self.settings = settings
        self.pgbackrest = PgBackRest(settings)

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
            self.pgbackrest.binary(),
            *self.pgbackrest.config_options(),
            f"--stanza={self.settings.stanza}",
            f"--pg1-path={member.data_dir}",
            "archive-push",
        ]
        return " ".join(shlex.quote(a) for a in argv) + " %p"

    def prepare(self) -> None:
        """Create the directories (postgres, 0750), the passphrase file (once, 0600) and
        ``pgbackrest.conf``. Idempotent; refuses to invent a new passphrase for a repository
        that already holds backups."""
        prepare_files(self.settings)

    def config_text(self) -> str:
        """The ``pgbackrest.conf`` this repository runs with (no passphrase in it)."""
        return pgbackrest_conf(self.settings)

    def has_stanza(self) -> bool:
        """Whether the repository holds this stanza already."""
        return (self.settings.repo_path / "backup" / self.settings.stanza / "backup.info").exists()

    def ensure_stanza(self, target: PgTarget) -> None:
        """Create the stanza when missing (idempotent) and check that WAL archiving from
        ``target`` reaches the repository."""
        self.prepare()
        self.pgbackrest.run(
            "stanza-create", *self.pgbackrest.pg_options(target), what="pgBackRest stanza-create"
        )
        self.pgbackrest.run(
            "check",
            *self.pgbackrest.pg_options(target),
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
        with self.pgbackrest.exclusive("backup"):
            before = {item["label"] for item in self.pgbackrest.info_sets()}
            started = time.monotonic()
            step(f"pgBackRest {kind} backup of {target.data_dir}")
            self.pgbackrest.run(
                "backup",
                f"--type={kind}",
                *self.pgbackrest.pg_options(target),
                what=f"pgBackRest {kind} backup",
                timeout=self.settings.backup_timeout,
            )
            new = [item for item in self.pgbackrest.info_sets() if item["label"] not in before]
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
            "restore_point_at": rfc3339(datetime.now(UTC)),
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
            self.pgbackrest.run(
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
        result = [
            record_from(item, records.get(str(item["label"])))
            for item in self.pgbackrest.info_sets()
        ]
        return sorted(result, key=lambda r: (r.finished_at, r.label))

    def last_backup(self) -> BackupRecord | None:
        """The newest complete backup (any type), or None."""
        complete = [r for r in self.list() if r.complete]
        return complete[-1] if complete else None

    def last_verify(self) -> BackupRecord | None:
        """The backup whose verification succeeded last, or None."""
        verified = [r for r in self.list() if r.verified_at is not None]
        return max(verified, key=lambda r: r.verified_at or EPOCH) if verified else None

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
        with self.pgbackrest.exclusive("verify"):
            Verification(self.pgbackrest).run(record, expected, report, step)
            report.total_seconds = time.monotonic() - started
            if not report.scratch_removed:
                report.problems.append(
                    f"the scratch cluster in {report.scratch_dir} could not be removed"
                )
            if report.problems:
                raise BackupVerifyError(report)
            self._update_record(
                record.label,
                verified_at=rfc3339(datetime.now(UTC)),
                verify_seconds=round(report.total_seconds, 3),
            )
        return report

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
                raise OpsError(f"the target time {rfc3339(to_time)} is in the future")
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
            self.pgbackrest.binary(),
            *self.pgbackrest.config_options(),
            f"--stanza={self.settings.stanza}",
            *options,
            "restore",
        ]

    def _newest_before(self, moment: datetime) -> BackupRecord:
        candidates = [r for r in self.list() if r.complete and r.finished_at < moment]
        if not candidates:
            raise OpsError(
                f"no backup finished before {rfc3339(moment)}: the repository cannot "
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
        labels = {str(item["label"]) for item in self.pgbackrest.info_sets()}
        for path in self.settings.records_dir.glob("*.json"):
            if path.stem not in labels:
                path.unlink(missing_ok=True)


def _quiet(_message: str) -> None:
    return None


def summary(repository: BackupRepository) -> BackupSummary:
    """``last_backup`` and ``last_verify`` (BackupRecord JSON or None) for a status report;
    ``error`` instead when the repository cannot be read."""
    try:
        records = repository.list()
    except OpsError as exc:
        return {"last_backup": None, "last_verify": None, "error": str(exc)}
    complete = [r for r in records if r.complete]
    verified = [r for r in records if r.verified_at is not None]
    last_verify = max(verified, key=lambda r: r.verified_at or EPOCH) if verified else None
    return {
        "last_backup": complete[-1].to_json() if complete else None,
        "last_verify": last_verify.to_json() if last_verify else None,
    }
