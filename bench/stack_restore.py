#!/usr/bin/env python3
"""The data tier at size: backup, verify and point-in-time recovery of a whole one-host
stack (Patroni leader + synchronous standby, pgBackRest) holding a ~1 GB database. Not
part of make test.

    .venv/bin/python bench/stack_restore.py                    # ~1 GB, 10-15 minutes
    .venv/bin/python bench/stack_restore.py --attempts 20000   # smoke run, ~50 MB

1. ``quiz stack up`` in a temporary directory on free ports (bench/stack.py's
   ``stack_up``: one instance, autoscaler off);
2. fills the stack's database through the leader with bench/backup.py's generator
   (realistic rows in the app's tables: users, quizzes, attempts, responses);
3. times ``quiz backup create --type full`` and ``quiz backup verify`` (the stack's own
   commands, through the CLI as an operator runs them);
4. notes a moment T, deletes a quiz, and times ``quiz backup restore --to-time T --yes``
   (the whole stack: members stopped, pg1 restored by pgBackRest through Patroni, the
   standby copied from it, instances back, a full backup), printing its steps;
5. checks the deleted quiz is back, prints the numbers and writes them to
   bench/results/stack-restore-<timestamp>.json; always ``quiz stack down`` and removes
   the stack's data.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backup import du, generate, psql, timed
from run import BenchError
from stack import log, quiz_cli, stack_down, stack_up

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def cli(*args: str, timeout: float = 3600) -> str:
    done = quiz_cli(*args, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"quiz {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_first_backup(dir_args: tuple[str, str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(cli("backup", "list", "--json", *dir_args))["backups"]
        if any(b.get("verified_at") for b in listed):
            time.sleep(2)  # the scheduler releases the repository's lock
            return
        time.sleep(2)
    raise BenchError("the scheduler took no verified backup in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--attempts", type=int, default=250_000, help="submitted attempts (250,000: ~1 GB)"
    )
    args = parser.parse_args()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.e2e.stack_helpers, as bench/stack.py
    from quizplatform.ops.stack import Stack

    results: dict[str, Any] = {"attempts": args.attempts}
    directory = Path(tempfile.mkdtemp(prefix="quiz-bench-restore-")) / "stack"
    try:
        timed("stack_up_s", results, lambda: stack_up(directory))
        stack = Stack(directory)
        dir_args = ("--dir", str(directory))
        # The scheduler takes (and verifies) a first full backup as the stack starts; the
        # repository takes one operation at a time.
        timed("first_scheduled_backup_s", results, lambda: wait_first_backup(dir_args))
        leader = stack.db.leader()
        if leader is None:
            raise BenchError("the stack has no database leader")
        cluster = leader.cluster()
        quizzes = max(20, args.attempts // 125)
        timed(
            "generate_s",
            results,
            lambda: generate(cluster, args.attempts, quizzes, max(200, args.attempts // 12)),
        )
        results["database_bytes"] = int(psql(cluster, "SELECT pg_database_size('quiz')"))
        log(f"database: {results['database_bytes'] / 2**30:.2f} GiB")
        timed(
            "backup_full_s", results, lambda: cli("backup", "create", "--type", "full", *dir_args)
        )
        timed("verify_s", results, lambda: cli("backup", "verify", *dir_args))
        victim = psql(cluster, "SELECT id FROM quizzes ORDER BY id LIMIT 1")
        time.sleep(1.5)
        target = datetime.now(UTC)
        time.sleep(1.5)
        by_id = f"FROM quizzes WHERE id = '{victim}'"
        psql(stack.db.wait_leader().cluster(), f"DELETE {by_id}")
        output = timed(
            "restore_s",
            results,
            lambda: cli("backup", "restore", "--to-time", target.isoformat(), "--yes", *dir_args),
        )
        results["restore_steps_s"] = {
            m.group(1).strip(): float(m.group(2))
            for m in re.finditer(r"^\s+([a-z ]+?)\s+([\d.]+) s$", output, re.MULTILINE)
        }
        back = psql(stack.db.wait_leader().cluster(), f"SELECT count(*) {by_id}")
        results["deleted_quiz_back"] = back == "1"
        results["repository_bytes"] = du(stack.backups.settings.repo_path)
    finally:
        stack_down(directory)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"stack-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out}")
    if not results.get("deleted_quiz_back"):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
