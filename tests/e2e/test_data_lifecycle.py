"""The data tier's life cycle on a real one-host stack: backups (create, list, verify, a
damaged repository), point-in-time recovery, `stack down` and `--purge`.

Split from the data-tier drills (tests/e2e/test_data_drills.py) because nothing here is
timed under load: it runs with the rest of the suite, on its own stack, while the drills
that measure recovery run alone afterwards. The tests run in file order; the last ones
take the stack down.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from quizplatform.ops.postgres import query
from quizplatform.ops.process import pid_alive, wait_for
from quizplatform.ops.stack import Stack
from tests.e2e.stack_helpers import (
    cli_json,
    database,
    leader,
    quiz_cli,
    seed,
    stack_for_module,
    wait_settled,
)
from tests.integration.repository_damage import damaged_backup_file

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and shutil.which("runuser") is None,
    reason="the stack runs PostgreSQL as the postgres user",
)

MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from stack_for_module(tmp_path_factory, "data_lifecycle", MEASURED)


def _backups(stack: Stack) -> list[dict[str, object]]:
    return cli_json(stack, "backup", "list")["backups"]  # type: ignore[no-any-return]


def test_backup_create_list_and_verify_on_the_stack(stack: Stack) -> None:
    # The scheduler took a full backup (and verified it) when the stack came up.
    wait_for(lambda: len(_backups(stack)) >= 1, 120, "the scheduler's first backup")
    started = time.monotonic()
    done = quiz_cli("backup", "create", "--type", "incr", "--dir", str(stack.dir))
    MEASURED["backup_incr_command_s"] = round(time.monotonic() - started, 2)
    assert done.returncode == 0, done.stdout + done.stderr
    backups = _backups(stack)
    newest = backups[-1]
    fields = {"label", "type", "started_at", "finished_at", "size_bytes", "wal_start"}
    assert fields | {"wal_stop", "verified_at"} <= set(newest)
    assert newest["type"] == "incr" and newest["label"] in done.stdout
    assert [b["finished_at"] for b in backups] == sorted(b["finished_at"] for b in backups)
    started = time.monotonic()
    verified = quiz_cli("backup", "verify", "--dir", str(stack.dir))
    MEASURED["backup_verify_command_s"] = round(time.monotonic() - started, 2)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    status = cli_json(stack, "stack", "status")
    database = status["database"]
    assert database["last_backup"]["label"] == newest["label"]
    assert database["last_verify"]["label"] == newest["label"]
    assert database["last_verify"]["verified_at"]
    # Prometheus has the scheduler's numbers (the backup alerts read them).
    rows = stack.prometheus_query("quiz_backup_last_success_timestamp_seconds")
    assert rows and float(rows[0]["value"][1]) > 0


def test_verify_reports_a_damaged_repository(stack: Stack) -> None:
    newest = _backups(stack)[-1]
    with damaged_backup_file(stack.backups.settings, str(newest["label"])):
        done = quiz_cli("backup", "verify", "--set", str(newest["label"]), "--dir", str(stack.dir))
    assert done.returncode == 1, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "damaged or missing files" in said and "cannot be restored" in said, said
    assert "Traceback" not in said


def test_point_in_time_recovery_brings_back_a_deleted_quiz(stack: Stack) -> None:
    """Quizzes made, the time noted, one deleted and another made: the stack restored to
    that time has the deleted quiz and not the later one, and serves again."""
    wait_settled(stack)
    teacher = seed(stack)  # its own account: every session ends with the restore
    api = f"{stack.url}/api/v1"
    auth = {"Authorization": f"Bearer {teacher.teacher_token}"}
    with httpx.Client(verify=False, timeout=60) as client:
        kept = [
            client.post(f"{api}/quizzes", json={"title": f"kept {n}"}, headers=auth).json()["id"]
            for n in range(3)
        ]
        time.sleep(1.5)  # the target is clearly between the writes
        target = datetime.now(UTC)
        time.sleep(1.5)
        assert client.delete(f"{api}/quizzes/{kept[0]}", headers=auth).status_code == 204
        later = client.post(f"{api}/quizzes", json={"title": "later"}, headers=auth).json()["id"]
    dry = quiz_cli("backup", "restore", "--to-time", target.isoformat(), "--dir", str(stack.dir))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run" in dry.stdout and "--type=time" in dry.stdout
    assert leader(stack).postmaster_pid() is not None  # a dry run changes nothing
    started = time.monotonic()
    done = quiz_cli(
        "backup",
        "restore",
        "--to-time",
        target.isoformat(),
        "--yes",
        "--dir",
        str(stack.dir),
        timeout=900,
    )
    MEASURED["pitr_restore_command_s"] = round(time.monotonic() - started, 2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored" in done.stdout
    present = query(
        leader(stack).cluster(),
        "SELECT id FROM quizzes WHERE id IN ("  # noqa: S608 - ids we generated
        + ",".join(f"'{i}'" for i in [*kept, later])
        + ")",
        database="quiz",
    ).split()
    assert sorted(present) == sorted(kept)  # the deleted one is back, the later one gone
    wait_settled(stack)
    fresh = seed(stack)  # the stack serves: sign-up, sign-in, create, publish
    quiz = httpx.get(f"{api}/quizzes/{fresh.quiz_id}", verify=False, timeout=30)
    assert quiz.status_code == 200
    # The restored database archives and backs up again (on its new timeline).
    assert _backups(stack)[-1]["type"] == "full"


def test_down_leaves_no_database_process_behind(stack: Stack, tmp_path: Path) -> None:
    report = database(stack)
    pids = [m["pid"] for m in report["members"]]  # type: ignore[attr-defined]
    pids += [m["patroni_pid"] for m in report["members"]]  # type: ignore[attr-defined]
    etcd = stack.supervisor.program_pid("etcd")
    done = quiz_cli("stack", "down", "--dir", str(stack.dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [pid for pid in [*pids, etcd] if pid_alive(pid)] == []
    # Nothing was deleted without --purge; the data is still there for the next `up`.
    assert all(m.data_dir.exists() for m in stack.db.members)
    again = quiz_cli("stack", "up", "--dir", str(stack.dir))
    assert again.returncode == 0, again.stdout + again.stderr
    wait_settled(stack)


def test_purge_deletes_data_and_backups_only_when_asked(stack: Stack) -> None:
    repository = stack.backups.settings.repo_path
    assert any(repository.rglob("backup.info"))
    done = quiz_cli("stack", "down", "--purge", "--keep-backups", "--dir", str(stack.dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(m.data_dir.exists() for m in stack.db.members)
    assert any(repository.rglob("backup.info"))  # kept, with its passphrase
    assert stack.backups.settings.cipher_pass_file.exists()
    done = quiz_cli("stack", "down", "--purge", "--dir", str(stack.dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not repository.exists() and not stack.backups.settings.home.exists()
