"""Backups with the real pgBackRest against a real PostgreSQL cluster that archives its WAL.

A standalone cluster stands in for the stack's leader; the repository is where a stack
directory's settings put it, so the ``quiz backup`` commands that need no leader (list,
verify, a restore's dry run) find it through ``Stack(dir)`` as on a stack (the drills in
``tests/e2e/test_data_drills.py`` run them all on a real one). Cluster data lives under a
fresh /tmp directory (mode 0755) because the postgres user must traverse every parent of
it.

The tests share one repository, which the fixture starts with one full backup, and do not
depend on each other's order (pytest-xdist may split them between workers, each with its
own cluster); the ones that damage the repository repair it before they end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from tests.integration.repository_damage import damaged_backup_file

from quizplatform.db.migrate import code_head_revision
from quizplatform.ops.backup import (
    BackupRepository,
    BackupVerifyError,
    PgTarget,
    start_restored,
)
from quizplatform.ops.backup_scheduler import BackupMetrics, BackupScheduler, Schedule
from quizplatform.ops.postgres import PgCluster, ensure_primary, pg_bin, stop_cluster
from quizplatform.ops.process import OpsError, free_port, port_open, run
from quizplatform.ops.stack import Stack, StackConfig, StackState

QUIZ = [sys.executable, "-m", "quizplatform.cli"]

pytestmark = pytest.mark.skipif(
    shutil.which("pgbackrest") is None or not Path("/usr/lib/postgresql").exists(),
    reason="pgbackrest or PostgreSQL is not installed (make test installs them as root)",
)


@dataclass
class Env:
    stack_dir: Path
    stack: Stack
    repo: BackupRepository
    target: PgTarget
    cluster: PgCluster


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    workdir = Path(tempfile.mkdtemp(prefix="quiz-backup-"))
    workdir.chmod(0o755)
    stack_dir = workdir / "stack"
    stack_dir.mkdir()
    config = StackConfig(data_root=str(workdir / "data"), pg_port=free_port())
    (stack_dir / "stack.json").write_text(StackState(config=config).to_json())
    stack = Stack(stack_dir)  # what the `quiz backup` commands find: the repository
    repo = BackupRepository(stack.backup_settings())
    # One standalone cluster stands in for the stack's leader.
    cluster = PgCluster(
        "primary",
        workdir / "data" / "pg-primary",
        free_port(),
        workdir / "data" / "sockets",
        workdir / "data" / "pg-primary.log",
    )
    target = PgTarget(cluster.data_dir, cluster.port, cluster.socket_dir)
    archive = repo.archive_settings(target)
    try:
        ensure_primary(
            cluster,
            extra_settings={
                "archive_mode": archive["archive_mode"],
                "archive_command": _quote(archive["archive_command"]),
            },
        )
        subprocess.run(
            [*QUIZ, "db", "upgrade"],
            env={**_clean_env(), "QUIZ_DATABASE_URL": cluster.url},
            check=True,
            capture_output=True,
            timeout=120,
        )
        sql(cluster, "CREATE TABLE load_probe (id bigserial PRIMARY KEY, at timestamptz)")
        repo.backup(target, "full")
        yield Env(stack_dir, stack, repo, target, cluster)
    finally:
        stop_cluster(cluster)
        shutil.rmtree(workdir, ignore_errors=True)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}


def sql(cluster: PgCluster, statement: str, database: str = "quiz") -> str:
    """One statement through psql over the socket, as the postgres user."""
    argv: list[str | Path] = [pg_bin() / "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    argv += ["-h", cluster.socket_dir, "-p", str(cluster.port), "-U", "postgres", "-d", database]
    return run([*argv, "-c", statement], what="psql", user="postgres", cwd=Path("/")).strip()


def quiz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QUIZ, *args],
        env={**_clean_env(), "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Writer:
    """Inserts into load_probe over TCP without pause until stopped (a live database)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rows = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            while not self._stop.is_set():
                await conn.execute("INSERT INTO load_probe (at) VALUES (clock_timestamp())")
                self.rows += 1
                await asyncio.sleep(0.002)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))
        finally:
            await conn.close()

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


# -- repository and stanza ---------------------------------------------------------------------
def test_stanza_and_repository_are_postgres_owned_and_the_passphrase_stays_in_its_file(
    env: Env,
) -> None:
    env.repo.ensure_stanza(env.target)
    env.repo.ensure_stanza(env.target)  # idempotent
    s = env.repo.settings

    def owner_and_mode(path: Path) -> tuple[str, int]:
        st = path.stat()
        import pwd

        return pwd.getpwuid(st.st_uid).pw_name, st.st_mode & 0o777

    assert owner_and_mode(s.repo_path) == ("postgres", 0o750)
    assert owner_and_mode(s.home) == ("postgres", 0o750)
    assert owner_and_mode(s.include_dir) == ("postgres", 0o700)
    assert owner_and_mode(s.cipher_pass_file) == ("postgres", 0o600)
    assert owner_and_mode(s.config_file)[0] == "postgres"
    passphrase = s.cipher_pass_file.read_text().split("repo1-cipher-pass=", 1)[1].strip()
    assert len(passphrase) >= 40
    config = s.config_file.read_text()
    assert "repo1-cipher-type=aes-256-cbc" in config
    assert passphrase not in config
    assert passphrase not in env.repo.archive_command(env.target)
    assert f"log-path={s.home / 'log'}" in config and "start-fast=y" in config
    # WAL arrives in the repository, encrypted (OpenSSL's salted format).
    assert int(sql(env.cluster, "SELECT archived_count FROM pg_stat_archiver")) > 0
    segments = sorted((s.repo_path / "archive" / s.stanza).rglob("0000*.zst"))
    assert segments and segments[0].read_bytes()[:8] == b"Salted__"
    # The passphrase is generated once: a later prepare keeps it.
    env.repo.prepare()
    assert passphrase in s.cipher_pass_file.read_text()


# -- backups ------------------------------------------------------------------------------------
def test_full_and_incremental_backups_are_listed_oldest_first_with_their_restore_points(
    env: Env,
) -> None:
    rows = int(sql(env.cluster, "SELECT count(*) FROM load_probe"))
    sql(env.cluster, "INSERT INTO load_probe (at) SELECT now() FROM generate_series(1, 500)")
    began = time.monotonic()
    full = env.repo.backup(env.target, "full")
    full_seconds = time.monotonic() - began
    sql(env.cluster, "INSERT INTO load_probe (at) SELECT now() FROM generate_series(1, 20)")
    incr = env.repo.backup(env.target, "incr")

    assert (full.type, incr.type) == ("full", "incr")
    assert incr.prior == full.label and incr.label.startswith(full.label + "_")
    assert full.restore_point == f"quiz-{full.label}"
    assert full.size_bytes > incr.size_bytes > 0  # an incremental stores only what changed
    assert full.database_size_bytes > 1_000_000
    assert full.wal_start <= full.wal_stop < incr.wal_start
    assert full.started_at <= full.finished_at <= incr.started_at
    assert full.verified_at is None
    assert full.duration_seconds is not None and full.duration_seconds < full_seconds + 1

    listed = env.repo.list()
    assert [r.label for r in listed][-2:] == [full.label, incr.label]
    assert env.repo.last_backup() == listed[-1]
    records = env.repo.settings.records_dir
    full_record = json.loads((records / f"{full.label}.json").read_text())
    record = json.loads((records / f"{incr.label}.json").read_text())
    assert full_record["tables"]["load_probe"] == rows + 500
    assert record["tables"]["load_probe"] == rows + 520
    assert record["tables"]["users"] == 0 and record["alembic_version"] == code_head_revision()
    assert record["write_block_seconds"] < 2


def test_a_backup_that_fails_records_nothing_and_says_why(env: Env) -> None:
    before = [r.label for r in env.repo.list()]
    wrong = replace(env.target, port=free_port())
    with pytest.raises(OpsError, match=r"(?s)pgBackRest incr backup failed .*ERROR: \[056\]"):
        env.repo.backup(wrong, "incr")
    assert [r.label for r in env.repo.list()] == before

    # A writer that holds its lock longer than the marking step may wait: the set that
    # pgBackRest took is removed again, nothing is recorded.
    env.repo.settings.lock_timeout_seconds = 0.5
    holder = subprocess.Popen(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(pg_bin() / "psql"),
            "-X",
            "-q",
            "-h",
            str(env.cluster.socket_dir),
            "-p",
            str(env.cluster.port),
            "-d",
            "quiz",
            "-c",
            "BEGIN; LOCK TABLE load_probe IN ROW EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT;",
        ],
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        with pytest.raises(
            OpsError, match=r"(?s)restore point step failed.*removed again.*lock timeout"
        ):
            env.repo.backup(env.target, "incr")
    finally:
        # The server keeps the sleeping transaction (and its lock) when psql dies: end it.
        sql(
            env.cluster,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
        )
        holder.wait(10)
        env.repo.settings.lock_timeout_seconds = 10
    assert [r.label for r in env.repo.list()] == before
    assert sorted(p.stem for p in env.repo.settings.records_dir.glob("*.json")) == sorted(before)


# -- verification -------------------------------------------------------------------------------
def test_verify_passes_on_a_database_written_to_during_and_after_the_backup(env: Env) -> None:
    rows = int(sql(env.cluster, "SELECT count(*) FROM load_probe"))
    with Writer(env.cluster.url) as writer, Writer(env.cluster.url) as other:
        time.sleep(0.3)
        backup = env.repo.backup(env.target, "incr")
        at_backup = writer.rows + other.rows
        time.sleep(0.3)
        began = time.monotonic()
        report = env.repo.verify()
        verify_seconds = time.monotonic() - began
    written = writer.rows + other.rows
    assert writer.errors == other.errors == [] and written > at_backup > 0
    assert report.ok and report.label == backup.label
    by_table = {t.table: t for t in report.tables}
    restored = by_table["load_probe"].found
    assert restored == by_table["load_probe"].expected
    assert restored is not None and rows < restored < rows + written  # cut at the point
    assert int(sql(env.cluster, "SELECT count(*) FROM load_probe")) > restored
    assert (
        report.schema_found == report.schema_recorded == report.schema_head == code_head_revision()
    )
    assert "no corruption" in report.amcheck
    assert report.steps[0][0].startswith("checking the repository")
    assert report.scratch_removed and not Path(report.scratch_dir).exists()
    assert verify_seconds < 60
    record = json.loads((env.repo.settings.records_dir / f"{backup.label}.json").read_text())
    assert record["write_block_seconds"] < 0.5  # writers waited only for the marking
    listed = {r.label: r for r in env.repo.list()}
    assert listed[backup.label].verified_at is not None
    assert env.repo.last_verify() == listed[backup.label]


def test_verify_fails_and_removes_its_running_scratch_cluster_when_the_counts_differ(
    env: Env,
) -> None:
    newest = env.repo.last_backup()
    assert newest is not None
    path = env.repo.settings.records_dir / f"{newest.label}.json"
    original = path.read_text()
    record = json.loads(original)
    record["tables"]["load_probe"] += 1
    path.write_text(json.dumps(record))
    try:
        with pytest.raises(BackupVerifyError, match=r"row counts differ.*load_probe") as failed:
            env.repo.verify(newest.label)
    finally:
        path.write_text(original)
    report = failed.value.report
    assert report.scratch_removed and not Path(report.scratch_dir).exists()
    # The scratch cluster had started (the counts were read from it) and is stopped now.
    assert {name for name, _ in report.steps} >= {"pg_amcheck", "schema and row counts"}
    assert not list(env.repo.settings.home.glob("verify-*"))


def test_verify_fails_clearly_when_a_wal_segment_is_missing(env: Env) -> None:
    newest = env.repo.last_backup()
    assert newest is not None
    s = env.repo.settings
    # The segment after the backup's last one holds its restore point.
    after = f"{newest.wal_stop[:16]}{int(newest.wal_stop[16:], 16) + 1:08X}"
    (segment,) = (s.repo_path / "archive" / s.stanza).rglob(f"{after}-*")
    kept = segment.with_name("kept-aside")
    segment.rename(kept)
    settings = replace(s, check_repository=False)
    try:
        with pytest.raises(BackupVerifyError) as failed:
            BackupRepository(settings).verify()
    finally:
        kept.rename(segment)
    message = str(failed.value)
    assert "recovery ended before configured recovery target was reached" in message
    assert f"ends with segment {newest.wal_stop}" in message and "missing or unreadable" in message
    assert failed.value.report.scratch_removed
    assert not list(s.home.glob("verify-*"))
    assert list((s.home / "log").glob(f"verify-{newest.label}-*.postgres.log"))


def test_verify_fails_clearly_when_a_backup_file_is_damaged(env: Env) -> None:
    newest = env.repo.last_backup()
    assert newest is not None
    s = env.repo.settings
    with damaged_backup_file(s, newest.label):
        began = time.monotonic()
        with pytest.raises(BackupVerifyError) as failed:
            env.repo.verify()
        took = time.monotonic() - began
    problems = failed.value.report.problems
    assert any("pgbackrest verify found damaged or missing files" in p for p in problems)
    assert any(
        f"backup {newest.label} cannot be restored from the repository" in p
        and "Data corruption detected" in p
        for p in problems
    ), problems
    assert failed.value.report.scratch_removed and not list(s.home.glob("verify-*"))
    assert took < 90


# -- restore ----------------------------------------------------------------------------------
def test_restore_argv_recovers_an_empty_directory_to_a_moment(env: Env, tmp_path: Path) -> None:
    sql(env.cluster, "CREATE TABLE IF NOT EXISTS pitr_marks (name text)")
    sql(env.cluster, "INSERT INTO pitr_marks VALUES ('before')")
    moment = datetime.fromisoformat(sql(env.cluster, "SELECT to_json(now())::text").strip('"'))
    time.sleep(0.2)
    sql(env.cluster, "INSERT INTO pitr_marks VALUES ('after')")
    env.repo.ensure_stanza(env.target)  # `pgbackrest check` archives the current segment

    root = Path(tempfile.mkdtemp(prefix="restore-", dir=env.repo.settings.home))
    root.chmod(0o755)
    restored = PgCluster("restored", root / "data", free_port(), root / "sock", root / "pg.log")
    from quizplatform.ops.postgres import prepare_cluster_dirs

    prepare_cluster_dirs(restored)
    try:
        argv = env.repo.restore_argv(restored.data_dir, to_time=moment.astimezone(UTC))
        assert "--type=time" in argv and "--target-action=promote" in argv
        run(argv, what="restore", user="postgres", cwd=Path("/"), timeout=300)
        start_restored(restored, what="the restore", timeout=120)
        assert sql(restored, "SELECT string_agg(name, ',') FROM pitr_marks") == "before"
    finally:
        stop_cluster(restored)
        shutil.rmtree(root, ignore_errors=True)
    with pytest.raises(OpsError, match="in the future"):
        env.repo.restore_argv(tmp_path, to_time=datetime(2999, 1, 1, tzinfo=UTC))
    with pytest.raises(OpsError, match="no backup finished before"):
        env.repo.restore_argv(tmp_path, to_time=datetime(2000, 1, 1, tzinfo=UTC))


# -- scheduler ----------------------------------------------------------------------------------
def test_scheduler_takes_what_is_due_exports_it_and_survives_a_failure(env: Env) -> None:
    newest = env.repo.last_backup()
    assert newest is not None
    # Two hours from now (the clock the scheduler sees): the incremental backup and the
    # verification are due, the full backup is not.
    offset = {"seconds": 7200.0}
    schedule = Schedule(
        full_interval=86400, incr_interval=3600, verify_interval=5400, retry_interval=60
    )
    metrics = BackupMetrics()
    target = {"now": env.target}
    scheduler = BackupScheduler(
        env.repo,
        lambda: target["now"],
        schedule,
        metrics,
        clock=lambda: time.time() + offset["seconds"],
    )
    scheduler.tick()
    after = env.repo.list()
    assert after[-1].type == "incr" and after[-1].label != newest.label
    assert after[-1].verified_at is not None

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    last = after[-1]
    assert value("quiz_backup_last_success_timestamp_seconds") == last.finished_at.timestamp()
    assert value("quiz_backup_last_verify_success_timestamp_seconds") == pytest.approx(
        last.verified_at.timestamp() if last.verified_at else 0
    )
    assert value("quiz_backup_size_bytes", type="incr") == last.size_bytes
    assert (value("quiz_backup_duration_seconds", type="full") or 0) > 0
    assert (value("quiz_backup_verify_duration_seconds") or 0) > 0
    assert value("quiz_backup_failures_total", operation="backup") == 0

    # A restarted scheduler exports the same values before doing anything.
    fresh = BackupMetrics()
    BackupScheduler(env.repo, lambda: env.target, schedule, fresh).refresh()
    assert fresh.registry.get_sample_value("quiz_backup_last_success_timestamp_seconds") == value(
        "quiz_backup_last_success_timestamp_seconds"
    )

    # An hour later an incremental backup is due again (the verification is not): it
    # fails, is counted and waits for its retry; the loop goes on.
    offset["seconds"] = 3700.0
    target["now"] = replace(env.target, port=free_port())
    before = len(env.repo.list())
    scheduler.tick()
    assert value("quiz_backup_failures_total", operation="backup") == 1
    assert value("quiz_backup_failures_total", operation="verify") == 0
    assert scheduler.retry_at["backup"] > time.time() + offset["seconds"] + 50
    scheduler.tick()  # within the retry delay: not tried again
    assert value("quiz_backup_failures_total", operation="backup") == 1
    assert len(env.repo.list()) == before


# -- CLI --------------------------------------------------------------------------------------
def test_cli_lists_json_verifies_and_dry_runs_a_restore(env: Env) -> None:
    listed = quiz("backup", "list", "--json", "--dir", str(env.stack_dir))
    assert listed.returncode == 0, listed.stderr
    backups = json.loads(listed.stdout)["backups"]
    assert backups and set(backups[0]) >= {
        "label",
        "type",
        "started_at",
        "finished_at",
        "size_bytes",
        "wal_start",
        "wal_stop",
        "verified_at",
    }
    newest = backups[-1]
    assert newest["finished_at"].endswith("Z") and isinstance(newest["size_bytes"], int)
    assert [b["finished_at"] for b in backups] == sorted(b["finished_at"] for b in backups)

    table = quiz("backup", "list", "--dir", str(env.stack_dir))
    assert table.returncode == 0 and newest["label"] in table.stdout

    unknown = quiz("backup", "verify", "--set", "20000101-000000F", "--dir", str(env.stack_dir))
    assert unknown.returncode == 1
    assert "error: no backup '20000101-000000F'" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    dry = quiz("backup", "restore", "--set", newest["label"], "--dir", str(env.stack_dir))
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and f"--target=quiz-{newest['label']}" in dry.stdout
    real = quiz("backup", "restore", "--set", newest["label"], "--yes", "--dir", str(env.stack_dir))
    assert real.returncode == 1 and "the stack is not running" in real.stderr
    naive = quiz("backup", "restore", "--to-time", "2026-01-01T10:00", "--dir", str(env.stack_dir))
    assert naive.returncode == 1 and "needs a time zone" in naive.stderr

    assert port_open(env.cluster.port)  # nothing above touched the live cluster
