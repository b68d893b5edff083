"""The backup layer without servers: schedule, metrics from records, pgbackrest.conf,
restore command validation, the sentences of a failed recovery, and the metrics' docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quizplatform.ops.backup import (
    BackupRecord,
    BackupRepository,
    BackupSettings,
    PgTarget,
    valid_label,
)
from quizplatform.ops.backup_scheduler import (
    BackupMetrics,
    Facts,
    Schedule,
    due_backup,
    due_verify,
    facts_from,
    next_wake,
    schedule_for,
    scheduler_program,
)
from quizplatform.ops.backup_verify import _recovery_failure
from quizplatform.ops.postgres import PgCluster
from quizplatform.ops.process import OpsError
from quizplatform.ops.stack import Stack, StackConfig

HOUR = 3600.0
DAY = 24 * HOUR
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DOCS = Path(__file__).parents[3] / "docs" / "operations.md"


def record(
    label: str,
    kind: str,
    finished: datetime,
    *,
    complete: bool = True,
    verified: datetime | None = None,
    size: int = 1000,
) -> BackupRecord:
    return BackupRecord(
        label=label,
        type=kind,
        started_at=finished - timedelta(seconds=30),
        finished_at=finished,
        size_bytes=size,
        database_size_bytes=10 * size,
        wal_start="000000010000000000000002",
        wal_stop="000000010000000000000003",
        prior=None,
        restore_point=f"quiz-{label}" if complete else None,
        duration_seconds=35.0 if complete else None,
        verified_at=verified,
        verify_seconds=12.5 if verified else None,
    )


def facts(**values: float | None) -> Facts:
    defaults: dict[str, float | None] = {
        "last_full": None,
        "last_backup": None,
        "last_verify": None,
    }
    defaults.update(values)
    return Facts(**defaults, has_backup=defaults["last_backup"] is not None)  # type: ignore[arg-type]


# -- schedule ------------------------------------------------------------------------------------
def test_a_repository_without_a_backup_gets_a_full_one_at_once_and_no_verification() -> None:
    schedule = Schedule()
    empty = facts()
    assert due_backup(schedule, empty, 1000.0) == "full"
    assert due_verify(schedule, empty, 1000.0) is False


def test_full_daily_incremental_hourly() -> None:
    schedule = Schedule(full_interval=DAY, incr_interval=HOUR)
    now = 10 * DAY
    assert (
        due_backup(schedule, facts(last_full=now - HOUR / 2, last_backup=now - HOUR / 2), now)
        is None
    )
    assert (
        due_backup(schedule, facts(last_full=now - 5 * HOUR, last_backup=now - HOUR), now) == "incr"
    )
    assert due_backup(schedule, facts(last_full=now - DAY, last_backup=now - 60), now) == "full"


def test_verification_daily_once_there_is_a_backup() -> None:
    schedule = Schedule(verify_interval=DAY)
    now = 10 * DAY
    backed_up = {"last_full": now - HOUR, "last_backup": now - HOUR}
    assert due_verify(schedule, facts(**backed_up), now) is True  # never verified
    assert due_verify(schedule, facts(**backed_up, last_verify=now - 2 * HOUR), now) is False
    assert due_verify(schedule, facts(**backed_up, last_verify=now - DAY), now) is True


def test_next_wake_is_the_nearest_due_time_within_1_and_60_seconds() -> None:
    schedule = Schedule(full_interval=DAY, incr_interval=HOUR, verify_interval=DAY)
    now = 10 * DAY
    just_done = facts(last_full=now, last_backup=now, last_verify=now)
    assert next_wake(schedule, just_done, now, {}) == 60.0
    almost = facts(last_full=now - HOUR + 20, last_backup=now - HOUR + 20, last_verify=now)
    assert next_wake(schedule, almost, now, {}) == pytest.approx(20.0)
    assert next_wake(schedule, just_done, now, {"backup": now + 5}) == pytest.approx(5.0)
    assert next_wake(schedule, facts(last_full=now - DAY, last_backup=now - DAY), now, {}) == 1.0


def test_a_failed_verification_waits_at_least_for_the_next_incremental_backup() -> None:
    assert Schedule(incr_interval=HOUR, retry_interval=300).verify_retry == HOUR
    assert Schedule(incr_interval=60, retry_interval=300).verify_retry == 300


def test_facts_ignore_sets_without_a_restore_point() -> None:
    full = record("20260110-110000F", "full", T0 - timedelta(hours=1), verified=T0)
    broken = record("20260110-110000F_20260110-115000I", "incr", T0, complete=False)
    found = facts_from([full, broken])
    assert found.last_backup == found.last_full == (T0 - timedelta(hours=1)).timestamp()
    assert found.last_verify == T0.timestamp() and found.has_backup


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_are_read_back_from_the_records() -> None:
    metrics = BackupMetrics()
    sample = metrics.registry.get_sample_value
    metrics.refresh([])
    assert sample("quiz_backup_last_success_timestamp_seconds") == 0
    assert sample("quiz_backup_last_verify_success_timestamp_seconds") == 0
    assert sample("quiz_backup_failures_total", {"operation": "backup"}) == 0
    assert sample("quiz_backup_failures_total", {"operation": "verify"}) == 0

    full = record("20260110-100000F", "full", T0 - timedelta(hours=2), size=5000, verified=T0)
    incr = record("20260110-100000F_20260110-110000I", "incr", T0 - timedelta(hours=1), size=70)
    metrics.refresh([full, incr])
    assert sample("quiz_backup_last_success_timestamp_seconds") == incr.finished_at.timestamp()
    assert sample("quiz_backup_last_verify_success_timestamp_seconds") == T0.timestamp()
    assert sample("quiz_backup_verify_duration_seconds") == 12.5
    assert sample("quiz_backup_size_bytes", {"type": "full"}) == 5000
    assert sample("quiz_backup_size_bytes", {"type": "incr"}) == 70
    assert sample("quiz_backup_duration_seconds", {"type": "incr"}) == 35.0
    assert sample("quiz_backup_duration_seconds", {"type": "diff"}) is None

    metrics.refresh([full])  # the incremental expired: its series goes too
    assert sample("quiz_backup_size_bytes", {"type": "incr"}) is None


def test_every_backup_metric_is_in_the_operations_docs() -> None:
    text = DOCS.read_text()
    names = {metric.name for metric in BackupMetrics().registry.collect()}
    assert len(names) == 6
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert missing == [], f"document these in {DOCS.name}: {missing}"


# -- configuration -------------------------------------------------------------------------------
def settings(tmp_path: Path, **overrides: object) -> BackupSettings:
    return BackupSettings.under(tmp_path / "data", **overrides)


def test_default_layout_and_a_time_based_recovery_window(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.repo_path == tmp_path / "data" / "pgbackrest"
    assert s.cipher_pass_file == tmp_path / "data" / "backup" / "conf.d" / "repo-cipher.conf"
    text = BackupRepository(s).config_text()
    for line in (
        f"repo1-path={s.repo_path}",
        "repo1-cipher-type=aes-256-cbc",
        "repo1-retention-full-type=time",
        "repo1-retention-full=7",
        f"lock-path={s.home / 'lock'}",
        f"spool-path={s.home / 'spool'}",
        "start-fast=y",
        "compress-type=zst",
    ):
        assert line in text.splitlines()
    assert "cipher-pass=" not in text and "\npg1-" not in text


def test_count_retention_when_there_is_no_recovery_window(tmp_path: Path) -> None:
    text = BackupRepository(settings(tmp_path, recovery_window_days=0)).config_text()
    assert "repo1-retention-full-type=count" in text.splitlines()
    assert "repo1-retention-full=2" in text.splitlines()


def test_settings_refuse_what_pgbackrest_would_not_read(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match=r"must end in \.conf"):
        settings(tmp_path, cipher_pass_file=tmp_path / "pass.txt")
    with pytest.raises(OpsError, match="stanza"):
        settings(tmp_path, stanza="a b")


def test_archive_command_names_the_member_and_not_the_passphrase(tmp_path: Path) -> None:
    repo = BackupRepository(settings(tmp_path))
    member = PgTarget(tmp_path / "pg-1", 5432, tmp_path / "sock")
    command = repo.archive_command(member)
    assert command.endswith(" archive-push %p")
    assert f"--pg1-path={member.data_dir}" in command
    assert f"--config-include-path={repo.settings.include_dir}" in command
    assert repo.archive_settings(member)["archive_mode"] == "on"


def test_restore_argv_refuses_times_it_cannot_reach(tmp_path: Path) -> None:
    repo = BackupRepository(settings(tmp_path))
    with pytest.raises(OpsError, match="time zone"):
        repo.restore_argv(tmp_path, to_time=datetime(2026, 1, 1, 12, 0))
    with pytest.raises(OpsError, match="future"):
        repo.restore_argv(tmp_path, to_time=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(OpsError, match="no backup finished before"):
        repo.restore_argv(tmp_path, to_time=datetime.now(UTC) - timedelta(hours=1))
    latest = repo.restore_argv(tmp_path / "empty")
    assert latest[-2:] == ["--type=default", "restore"]


def test_labels() -> None:
    assert valid_label("20260110-100000F")
    assert valid_label("20260110-100000F_20260110-110000I")
    assert valid_label("20260110-100000F_20260110-110000D")
    assert not valid_label("latest") and not valid_label("20260110-100000F; rm -rf /")


def test_a_recovery_that_ran_out_of_wal_is_explained(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    log.write_text(
        'LOG:  restored log file "000000010000000000000002" from archive\n'
        'LOG:  restored log file "000000010000000000000003" from archive\n'
        "FATAL:  recovery ended before configured recovery target was reached\n"
    )
    cluster = PgCluster("verify", tmp_path / "data", 5999, tmp_path, log)
    message = _recovery_failure(cluster, "backup X to its restore point quiz-X", None)
    assert message.startswith("PostgreSQL could not recover backup X to its restore point")
    assert "ends with segment 000000010000000000000003" in message
    assert "missing or unreadable" in message


# -- the stack's side ------------------------------------------------------------------------
def test_the_stack_gives_settings_target_schedule_and_program(tmp_path: Path) -> None:
    config = StackConfig(
        data_root=str(tmp_path / "root"),
        backup_incr_interval=600,
        backup_recovery_window_days=0,
        backup_retention_full=3,
        backup_metrics_port=19098,
    )
    stack = Stack(tmp_path / "s", config)
    settings = stack.backup_settings()
    assert settings.repo_path == tmp_path / "root" / "pgbackrest"
    assert (settings.recovery_window_days, settings.retention_full) == (0, 3)
    other = Stack(tmp_path / "s", StackConfig(data_root="/d", backup_repo_path="/mnt/backups"))
    assert other.backup_settings().repo_path == Path("/mnt/backups")
    # Backups are taken from the leader; with no member running there is none.
    with pytest.raises(OpsError, match="no leader"):
        stack.backup_target()
    # Every member archives its WAL into the repository.
    for member in stack.db.members:
        command = stack.db.member_config(member)["postgresql"]["parameters"]["archive_command"]
        assert f"--pg1-path={member.data_dir}" in command and "archive-push" in command
    assert schedule_for(stack).incr_interval == 600
    program = scheduler_program(stack)
    assert program.name == "backup-scheduler"
    assert program.command[-6:] == [
        "backup",
        "scheduler",
        "--dir",
        str(stack.dir),
        "--metrics-port",
        "19098",
    ]
    assert program.environment["QUIZ_BACKUP_SCHEDULE"] == "86400,600,86400,300"
