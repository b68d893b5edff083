"""The verification of a backup: restore it into a scratch cluster, recover that to the
backup's restore point, and check what it holds (pgbackrest verify, pg_amcheck, the schema
revision and the row counts recorded at the restore point). Also ``start_restored``, which
brings up any data directory pgBackRest restored, harmlessly."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quizplatform.db.migrate import code_head_revision
from quizplatform.ops.backup_mark import COUNT_PUBLIC_TABLES, psql
from quizplatform.ops.backup_pgbackrest import WORK_DIR, PgBackRest
from quizplatform.ops.backup_records import BackupRecord, TableCheck, VerifyReport

# Private helpers of the sibling module, shared on purpose: the same rules for handing
# directories and files to the postgres user apply here.
from quizplatform.ops.postgres import (
    PG_USER,
    PgCluster,
    hand_over,
    pg_bin,
    postgres_ids,
    prepare_cluster_dirs,
    stop_cluster,
    write_owned,
)
from quizplatform.ops.process import OpsError, free_port, run

Progress = Callable[[str], None]
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, NUL included


class _StepFailed(Exception):
    """A verification step failed; the message is the sentence for the operator."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the tools printed


class Verification:
    """The steps of verifying backups of one repository in scratch clusters."""

    def __init__(self, pgbackrest: PgBackRest) -> None:
        self.pgbackrest = pgbackrest
        self.settings = pgbackrest.settings

    def run(
        self,
        record: BackupRecord,
        expected: dict[str, Any],
        report: VerifyReport,
        step: Progress,
    ) -> None:
        """Verify ``record`` in a new scratch cluster, which is removed whatever happens;
        what failed goes to ``report.problems`` (a failure's server log is kept)."""
        scratch = self.scratch_cluster(record.label)
        report.scratch_dir = str(scratch.data_dir.parent)
        try:
            self.steps(record, expected, scratch, report, step)
        finally:
            step("removing the scratch cluster")
            if report.problems:
                self.keep_log(scratch, report)
            report.scratch_removed = remove_scratch(scratch)

    def keep_log(self, scratch: PgCluster, report: VerifyReport) -> None:
        """Keep a failed verification's server log (the scratch cluster goes)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.settings.home / "log" / f"verify-{report.label}-{stamp}.postgres.log"
        with contextlib.suppress(OSError):
            shutil.copyfile(scratch.log_file, kept)
            hand_over(kept, 0o640, postgres_ids())
            report.problems = [p.replace(str(scratch.log_file), str(kept)) for p in report.problems]

    def steps(
        self,
        record: BackupRecord,
        expected: dict[str, Any],
        scratch: PgCluster,
        report: VerifyReport,
        step: Progress,
    ) -> None:
        """Check the repository, restore ``record`` into ``scratch``, recover it and run
        the checks; each step's time and any failure go into ``report``."""

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
        out = self.pgbackrest.run(
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
            self.pgbackrest.run(
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
        code, out = run_as_postgres(argv, timeout=self.settings.restore_timeout)
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

    def scratch_cluster(self, label: str) -> PgCluster:
        """A new, empty cluster (directories only) under the backup home, on a free port."""
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
        run(argv, what="pg_ctl start", user=PG_USER, cwd=WORK_DIR, timeout=timeout + 30)
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


def remove_scratch(scratch: PgCluster) -> bool:
    """Stop the scratch cluster and delete its directory; True when it is gone."""
    with contextlib.suppress(OpsError):
        stop_cluster(scratch, timeout=30)
    root = scratch.data_dir.parent
    shutil.rmtree(root, ignore_errors=True)
    if not scratch.socket_dir.is_relative_to(root):
        shutil.rmtree(scratch.socket_dir, ignore_errors=True)
    return not root.exists() and not scratch.socket_dir.exists()


def run_as_postgres(argv: list[str], timeout: float) -> tuple[int, str]:
    """Run as postgres; (exit code, stdout and stderr together)."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", PG_USER, "--", *argv]
    try:
        done = subprocess.run(  # noqa: S603 - argv built from our own paths
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=WORK_DIR,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()
