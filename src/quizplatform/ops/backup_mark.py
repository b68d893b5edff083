"""The restore point that ends every backup, and the row counts that go with it.

Writers are blocked only for as long as it takes to lock, take a snapshot and write the
restore point (milliseconds), not for the counting, which at 1 GB took 8 s when done under
the locks (``bench/backup.py``). Two psql sessions, both as the postgres user:

1. the *holder* opens a REPEATABLE READ transaction, takes ``EXCLUSIVE`` locks on every
   table of the ``public`` schema (writers wait, readers go on), then takes its snapshot,
   exports it (``pg_export_snapshot``) and creates the restore point. No write to those
   tables can commit between the snapshot and the restore point, so the snapshot shows
   exactly what a recovery to that point contains. It hands the snapshot over through a
   file (psql's ``\\o``) and sleeps;
2. the *counter* imports that snapshot (``SET TRANSACTION SNAPSHOT``), ends the holder
   with ``pg_terminate_backend`` (its locks go, writers resume) and counts the rows.

LOCK TABLE takes no snapshot, which is why the holder's first snapshot comes after its
locks (PostgreSQL documents this order for REPEATABLE READ). The holder is ended rather than
committed because a psql session cannot be told to commit from outside; its transaction
wrote nothing, and ``pg_create_restore_point`` is not transactional.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quizplatform.ops.postgres import PG_USER, hand_over, postgres_ids, psql_argv
from quizplatform.ops.process import OpsError, run

_ROOT = Path("/")  # working directory for commands run as postgres
HOLD_SECONDS = 30  # the holder's sleep: how long locks stay if we die before releasing them

# The tables of the public schema, quoted, for LOCK TABLE.
PUBLIC_TABLES = (
    "SELECT coalesce(string_agg(format('public.%I', tablename), ', ' ORDER BY tablename), '')"
    " FROM pg_tables WHERE schemaname = 'public'"
)

# A table created after the list was read would be counted without a lock.
CHECK_ALL_LOCKED = """DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND NOT EXISTS (
      SELECT 1 FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.mode = 'ExclusiveLock'
        AND l.relation = format('public.%I', t.tablename)::regclass))
  THEN
    RAISE EXCEPTION 'a table was created while the backup was being marked; try again';
  END IF;
END $$"""

# One JSON object: rows per table of the public schema, and the Alembic revision.
COUNT_PUBLIC_TABLES = """SELECT json_build_object(
  'tables', coalesce((
    SELECT json_object_agg(tablename, (xpath('/row/n/text()', query_to_xml(
      format('SELECT count(*) AS n FROM public.%I', tablename), false, true, '')))[1]::text::bigint
      ORDER BY tablename)
    FROM pg_tables WHERE schemaname = 'public'), '{}'::json),
  'alembic_version', CASE WHEN to_regclass('public.alembic_version') IS NOT NULL THEN
    (xpath('/row/v/text()', query_to_xml(
      'SELECT string_agg(version_num, '','' ORDER BY version_num) AS v FROM public.alembic_version',
      false, true, '')))[1]::text END)::text"""


@dataclass(frozen=True)
class Mark:
    """A restore point and what the database held at it."""

    restore_point: str
    lsn: str
    tables: dict[str, int]
    alembic_version: str | None
    write_block_seconds: float


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def psql(
    socket_dir: Path,
    port: int,
    statements: list[str],
    *,
    database: str = "postgres",
    single_transaction: bool = False,
    what: str = "psql",
    timeout: float = 120,
) -> str:
    """Run SQL with psql as postgres; the rows it printed."""
    argv = psql_argv(socket_dir, port, database)
    if single_transaction:
        argv.append("-1")
    for statement in statements:
        argv += ["-c", statement]
    return run(argv, what=what, user=PG_USER, cwd=_ROOT, timeout=timeout).strip()


def mark_restore_point(
    socket_dir: Path,
    port: int,
    *,
    database: str,
    name: str,
    lock_timeout: float,
    work_dir: Path,
) -> Mark:
    """Create restore point ``name`` with writers blocked for a moment, and count the rows
    of every public table as of that point (see the module docstring)."""
    tables = psql(socket_dir, port, [PUBLIC_TABLES], database=database, what="listing tables")
    handoff = Path(tempfile.mkdtemp(prefix="mark-", dir=work_dir))
    hand_over(handoff, 0o700, postgres_ids())
    marker = f"quiz-backup-mark-{secrets.token_hex(6)}"
    holder = _start_holder(
        psql_argv(socket_dir, port, database),
        tables=tables,
        name=name,
        marker=marker,
        lock_timeout=lock_timeout,
        point_file=handoff / "point",
    )
    try:
        snapshot, lsn, began = _wait_for_point(holder, handoff / "point", lock_timeout + 30)
        out = psql(
            socket_dir,
            port,
            [
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                f"SET TRANSACTION SNAPSHOT {sql_literal(snapshot)}",
                "SELECT extract(epoch FROM clock_timestamp()), count(pg_terminate_backend(pid))"  # noqa: S608 - quoted
                f" FROM pg_stat_activity WHERE application_name = {sql_literal(marker)}",
                COUNT_PUBLIC_TABLES,
            ],
            database=database,
            single_transaction=True,
            what="counting the rows at the restore point",
            timeout=3600,
        )
    finally:
        _end_holder(holder, socket_dir, port, marker)
        shutil.rmtree(handoff, ignore_errors=True)
    released, counted = out.splitlines()[:2]
    data: dict[str, Any] = json.loads(counted)
    return Mark(
        restore_point=name,
        lsn=lsn,
        tables={str(k): int(v) for k, v in data["tables"].items()},
        alembic_version=data["alembic_version"],
        write_block_seconds=round(float(released.split("\0")[0]) - began, 3),
    )


def _start_holder(
    argv: list[str],
    *,
    tables: str,
    name: str,
    marker: str,
    lock_timeout: float,
    point_file: Path,
) -> subprocess.Popen[str]:
    statements = [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}",
        f"SET application_name = {sql_literal(marker)}",
        *([f"LOCK TABLE {tables} IN EXCLUSIVE MODE"] if tables else []),
        CHECK_ALL_LOCKED,  # the transaction's snapshot is taken here, under the locks
        f"\\o {sql_literal(str(point_file))}",
        f"SELECT pg_export_snapshot(), pg_create_restore_point({sql_literal(name)}),"  # noqa: S608
        " extract(epoch FROM transaction_timestamp())",
        "\\o",
        f"SELECT pg_sleep({HOLD_SECONDS})",
    ]
    argv = [*argv, "-1"]
    for statement in statements:
        argv += ["-c", statement]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", PG_USER, "--", *argv]
    return subprocess.Popen(  # noqa: S603 - argv built from our own paths
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=_ROOT,
    )


def _wait_for_point(
    holder: subprocess.Popen[str], point_file: Path, timeout: float
) -> tuple[str, str, float]:
    """(snapshot id, restore point LSN, transaction start) once the holder wrote them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = point_file.read_text()
            fields = text.rstrip("\n").split("\0")
            if text.endswith("\n") and len(fields) == 3:
                return fields[0], fields[1], float(fields[2])
        if holder.poll() is not None:
            _, err = holder.communicate()
            raise OpsError(f"locking the tables for the restore point failed: {err.strip()}")
        time.sleep(0.01)
    raise OpsError(f"the restore point was not created within {timeout:.0f} s")


def _end_holder(holder: subprocess.Popen[str], socket_dir: Path, port: int, marker: str) -> None:
    """Make sure the holder's transaction (and its locks) is gone."""
    if holder.poll() is None:
        with contextlib.suppress(OpsError):
            psql(
                socket_dir,
                port,
                [
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"  # noqa: S608 - quoted
                    f" WHERE application_name = {sql_literal(marker)}"
                ],
                what="ending the lock holder",
            )
    try:
        holder.communicate(timeout=HOLD_SECONDS + 10)
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.communicate()
