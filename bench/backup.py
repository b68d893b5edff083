"""Backups at size: full, incremental, verify and a restore_argv-based restore of a ~1 GB
database with pgBackRest, on a throwaway archived PostgreSQL cluster. Not part of make test.

    .venv/bin/python bench/backup.py                 # ~1 GB, about 10 minutes on 2 cores
    .venv/bin/python bench/backup.py --attempts 20000   # smoke run, ~50 MB

The data are realistic rows in the app's own tables, generated in SQL with
generate_series: teachers and students (users), published quizzes of 10 questions with
4 choices each, and submitted attempts with one JSON response per question; the responses
table and its two indexes are most of the size. Between the full and the incremental
backup, 2 % of the attempts get a new response and 1 % more attempts arrive.
Everything lives under a fresh /tmp directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from quizplatform.ops.backup import BackupRepository, BackupSettings, PgTarget, start_restored
from quizplatform.ops.postgres import (
    PgCluster,
    ensure_primary,
    pg_bin,
    prepare_cluster_dirs,
    stop_cluster,
)
from quizplatform.ops.process import free_port, run

T = TypeVar("T")
ROOT = Path("/")

GENERATE = """
INSERT INTO users (id, email, password_hash, display_name, role, is_active, created_at)
SELECT md5('user' || i), 'user' || i || '@school.example', '$argon2id$v=19$m=65536,t=3,p=4$'
       || md5('salt' || i) || '$' || md5('hash' || i) || md5('more' || i), 'User ' || i,
       CASE WHEN i <= {teachers} THEN 'teacher' ELSE 'student' END, true,
       now() - i * interval '1 minute'
FROM generate_series(1, {users}) AS i;

INSERT INTO quizzes (id, owner_id, title, description, status, time_limit_seconds,
  max_attempts, shuffle_questions, shuffle_options, show_correct_answers, revision,
  created_at, updated_at, published_at)
SELECT md5('quiz' || q), md5('user' || (1 + q % {teachers})),
       'Quiz ' || q || ': ' || (ARRAY['fractions', 'the Roman republic', 'cell biology',
       'French verbs', 'plate tectonics'])[1 + q % 5],
       repeat('Ten questions to check what the class remembers. ', 4), 'published',
       1200, 3, true, true, 'after_submit', 1, now(), now(), now()
FROM generate_series(1, {quizzes}) AS q;

INSERT INTO questions (id, quiz_id, position, type, prompt, points, text_format,
  case_sensitive, created_at)
SELECT md5('question' || q || '-' || p), md5('quiz' || q), p, 'multichoice',
       'Question ' || p || ' of quiz ' || q || ': which of these statements is true? '
       || repeat('Some context for the question. ', 3), 1, 'moodle', false, now()
FROM generate_series(1, {quizzes}) AS q, generate_series(1, 10) AS p;

INSERT INTO question_parts (id, question_id, position, kind, text, weight, feedback)
SELECT md5('part' || q || '-' || p || '-' || o), md5('question' || q || '-' || p), o,
       'choice', 'Option ' || o || ' for question ' || p, CASE WHEN o = 1 THEN 1 ELSE 0 END,
       'Feedback for option ' || o
FROM generate_series(1, {quizzes}) AS q, generate_series(1, 10) AS p,
     generate_series(1, 4) AS o;
"""

ATTEMPTS = """
INSERT INTO attempts (id, quiz_id, user_id, status, seed, question_ids, started_at,
  deadline_at, submitted_at, auto_submitted, score, max_score, percent)
SELECT md5('attempt' || a), md5('quiz' || (1 + a % {quizzes})),
       md5('user' || ({teachers} + 1 + a % ({users} - {teachers}))), 'submitted', a,
       (SELECT json_agg(md5('question' || (1 + a % {quizzes}) || '-' || p))
          FROM generate_series(1, 10) AS p),
       now() - a * interval '1 second', NULL,
       now() - a * interval '1 second' + interval '9 minutes',
       false, a % 11, 10, (a % 11) * 10
FROM generate_series({first}, {last}) AS a;

INSERT INTO responses (attempt_id, question_id, payload, score, saved_at)
SELECT md5('attempt' || a), md5('question' || (1 + a % {quizzes}) || '-' || p),
       json_build_object('choice', md5('part' || (1 + a % {quizzes}) || '-' || p || '-'
         || (1 + (a + p) % 4))),
       CASE WHEN (a + p) % 4 = 0 THEN 1 ELSE 0 END,
       now() - a * interval '1 second' + p * interval '40 seconds'
FROM generate_series({first}, {last}) AS a, generate_series(1, 10) AS p;
"""

CHANGES = """
UPDATE responses SET payload = json_build_object('choice', 'changed'), saved_at = now()
WHERE attempt_id IN (SELECT md5('attempt' || a) FROM generate_series(1, {last}, 50) AS a);
"""


def timed(what: str, results: dict[str, Any], action: Callable[[], T]) -> T:
    print(f"… {what}", flush=True)
    began = time.monotonic()
    value = action()
    results[what] = round(time.monotonic() - began, 2)
    print(f"  {what}: {results[what]:.1f} s", flush=True)
    return value


def psql(cluster: PgCluster, sql: str, database: str = "quiz", timeout: float = 3600) -> str:
    argv: list[str | Path] = [pg_bin() / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    argv += ["-h", cluster.socket_dir, "-p", str(cluster.port), "-d", database, "-c", sql]
    return run(argv, what="psql", user="postgres", cwd=ROOT, timeout=timeout).strip()


def du(path: Path) -> int:
    return int(subprocess.check_output(["du", "-sb", str(path)], text=True).split()[0])


def generate(cluster: PgCluster, attempts: int, quizzes: int, users: int) -> None:
    sizes = {"teachers": max(2, users // 100), "users": users, "quizzes": quizzes}
    psql(cluster, GENERATE.format(**sizes))
    step = 50_000
    for first in range(1, attempts + 1, step):
        last = min(attempts, first + step - 1)
        psql(cluster, ATTEMPTS.format(first=first, last=last, **sizes))
    psql(cluster, "VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--attempts", type=int, default=250_000, help="submitted attempts (250,000: ~1 GB)"
    )
    parser.add_argument("--quizzes", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the /tmp directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="quiz-backup-bench-"))
    work.chmod(0o755)
    settings = BackupSettings.under(work / "data")
    repo = BackupRepository(settings)
    cluster = PgCluster("bench", work / "data" / "pg", free_port(), work / "sock", work / "pg.log")
    target = PgTarget(cluster.data_dir, cluster.port, cluster.socket_dir)
    results: dict[str, Any] = {}
    try:
        archive = repo.archive_settings(target)
        ensure_primary(
            cluster,
            extra_settings={
                "archive_mode": "on",
                "archive_command": "'" + archive["archive_command"].replace("'", "''") + "'",
                "max_wal_size": "'1GB'",
                "checkpoint_timeout": "'15min'",
            },
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
        subprocess.run(
            [sys.executable, "-m", "quizplatform.cli", "db", "upgrade"],
            env={**env, "QUIZ_DATABASE_URL": cluster.url},
            check=True,
            capture_output=True,
        )
        timed(
            "generate data",
            results,
            lambda: generate(cluster, args.attempts, args.quizzes, args.users),
        )
        results["database size bytes"] = int(psql(cluster, "SELECT pg_database_size('quiz')"))
        results["rows per table"] = json.loads(
            psql(
                cluster,
                "SELECT json_object_agg(relname, n_live_tup) FROM pg_stat_user_tables",
            )
        )
        repo.ensure_stanza(target)
        full = timed("backup full", results, lambda: repo.backup(target, "full"))
        results["full: stored bytes"] = full.size_bytes
        psql(cluster, CHANGES.format(last=args.attempts))
        extra = max(1, args.attempts // 100)
        sizes = {
            "teachers": max(2, args.users // 100),
            "users": args.users,
            "quizzes": args.quizzes,
        }
        psql(
            cluster,
            ATTEMPTS.format(first=args.attempts + 1, last=args.attempts + extra, **sizes),
        )
        incr = timed("backup incr", results, lambda: repo.backup(target, "incr"))
        results["incr: stored bytes"] = incr.size_bytes
        records = {p.stem: json.loads(p.read_text()) for p in settings.records_dir.glob("*.json")}
        results["write block seconds (full, incr)"] = [
            records[full.label]["write_block_seconds"],
            records[incr.label]["write_block_seconds"],
        ]
        report = timed("verify (newest, heapallindexed)", results, repo.verify)
        results["verify steps"] = {name: round(sec, 2) for name, sec in report.steps}
        restore_and_check(repo, work, incr.label, results)
        results["repository bytes"] = du(settings.repo_path)
        results["repository WAL bytes"] = du(settings.repo_path / "archive")
    finally:
        stop_cluster(cluster)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


def restore_and_check(
    repo: BackupRepository, work: Path, label: str, results: dict[str, Any]
) -> None:
    """restore_argv into an empty directory, start it, pg_amcheck with and without
    --heapallindexed (what the option costs)."""
    restored = PgCluster(
        "restored", work / "restored" / "data", free_port(), work / "rsock", work / "r.log"
    )
    prepare_cluster_dirs(restored)
    argv = repo.restore_argv(restored.data_dir, label=label)
    try:
        timed(
            "restore (restore_argv)",
            results,
            lambda: run(argv, what="restore", user="postgres", cwd=ROOT, timeout=3600),
        )
        timed(
            "recovery to the restore point",
            results,
            lambda: start_restored(restored, what=f"backup {label}", timeout=3600),
        )
        base = [str(pg_bin() / "pg_amcheck"), "-h", str(restored.socket_dir)]
        base += ["-p", str(restored.port), "-U", "postgres", "--all", "--install-missing"]
        for name, extra in (
            ("pg_amcheck", []),
            ("pg_amcheck --heapallindexed", ["--heapallindexed"]),
        ):
            timed(
                name,
                results,
                lambda extra=extra: run(  # type: ignore[misc]
                    [*base, *extra], what="pg_amcheck", user="postgres", cwd=ROOT, timeout=3600
                ),
            )
    finally:
        stop_cluster(restored)


if __name__ == "__main__":
    main()
