#!/usr/bin/env python3
"""Small measurements for ``quiz capacity`` that ``make bench`` does not take.

1. The CPU time of one sign-in's password check: argon2id ``verify`` with the hasher the
   app uses (``argon2.PasswordHasher()`` defaults, accounts.py), CPU time of the whole
   process (argon2 runs its lanes in threads), median of ``--logins`` checks.
2. Redis memory per key the app keeps per student (``MEMORY USAGE``): the token record
   ``tok:<sha256>``, the sessions index ``sessions:<id>``, the token epoch, the rate-limit
   counters (read and write groups, per user, current and previous window), the
   read-your-writes marker, and one leaderboard entry (sorted-set member + details hash
   field), written in the app's formats under a private prefix that is deleted afterwards.

Writes ``var/bench/capacity-probe.json``; ``quiz capacity`` uses it when present.
Needs QUIZ_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). Takes about a second.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson
import redis
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench" / "capacity-probe.json"
TTL = 12 * 3600


def login_cpu_ms(count: int) -> dict[str, Any]:
    """Median CPU and wall milliseconds of one argon2 ``verify`` (a sign-in)."""
    hasher = PasswordHasher()
    password = secrets.token_urlsafe(12)
    digest = hasher.hash(password)
    cpu, wall = [], []
    for _ in range(count):
        c0, w0 = time.process_time(), time.perf_counter()
        hasher.verify(digest, password)
        cpu.append(1000 * (time.process_time() - c0))
        wall.append(1000 * (time.perf_counter() - w0))
    return {
        "login_cpu_ms": statistics.median(cpu),
        "login_wall_ms": statistics.median(wall),
        "argon2": {
            "time_cost": hasher.time_cost,
            "memory_cost_kib": hasher.memory_cost,
            "parallelism": hasher.parallelism,
        },
        "logins": count,
    }


def student_keys(prefix: str) -> dict[str, tuple[str, Any]]:
    """One student's keys in the app's formats: name -> (key, value or zset/hash spec)."""
    user = uuid.uuid4().hex
    token_hash = sha256(secrets.token_bytes(32)).hexdigest()
    record = {
        "user_id": user,
        "role": "student",
        "display_name": "Student Example 0042",
        "epoch": 0,
        "enrol_only": False,
    }
    session = {
        token_hash: {
            "created_at": time.time(),
            "ip": "203.0.113.42",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        }
    }
    window = int(time.time() // 60)
    entry = {
        "user_id": user,
        "display_name": "Student Example 0042",
        "score": 17.0,
        "percent": 85.0,
        "duration_seconds": 1712,
    }
    return {
        "token": (f"{prefix}tok:{token_hash}", orjson.dumps(record)),
        "sessions_index": (f"{prefix}sessions:{user}", orjson.dumps(session)),
        "token_epoch": (f"{prefix}user-epoch:{user}", b"1"),
        "rate_limit_read": (f"{prefix}rl:user:read:{user}:{window}", b"37"),
        "rate_limit_read_prev": (f"{prefix}rl:user:read:{user}:{window - 1}", b"52"),
        "rate_limit_write": (f"{prefix}rl:user:write:{user}:{window}", b"4"),
        "rate_limit_write_prev": (f"{prefix}rl:user:write:{user}:{window - 1}", b"6"),
        "read_your_writes": (f"{prefix}ryw:{user}", b"1"),
        "leaderboard_entry": (user, orjson.dumps(entry)),
    }


def redis_sizes(url: str, students: int) -> dict[str, Any]:
    """Bytes per key (``MEMORY USAGE``, median over ``students`` students)."""
    client = redis.Redis.from_url(url)
    prefix = f"qpcap{os.getpid()}:"
    board, details = f"{prefix}lb:quiz", f"{prefix}lb:quiz:details"
    sizes: dict[str, list[int]] = {}
    everyone = [student_keys(prefix) for _ in range(students)]
    try:
        for keys in everyone:
            for name, (key, value) in keys.items():
                if name == "leaderboard_entry":
                    client.zadd(board, {key: 17_000_000.0})
                    client.hset(details, key, value)
                else:
                    client.set(key, value, ex=TTL)
        for keys in everyone:
            for name, (key, _) in keys.items():
                if name != "leaderboard_entry":
                    sizes.setdefault(name, []).append(int(client.memory_usage(key, samples=0)))
        board_bytes = int(client.memory_usage(board, samples=0))
        details_bytes = int(client.memory_usage(details, samples=0))
        version = str(client.info("server")["redis_version"])
    finally:
        for keys in everyone:
            client.delete(*(k for name, (k, _) in keys.items() if name != "leaderboard_entry"))
        client.delete(board, details)
    per_key = {name: statistics.median(values) for name, values in sizes.items()}
    # A big board is a skiplist + hash table: the per-entry share of both keys.
    per_key["leaderboard_entry"] = (board_bytes + details_bytes) / students
    return {"redis_version": version, "students": students, "bytes_per_key": per_key}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--logins", type=int, default=5, help="argon2 checks to time (median)")
    p.add_argument("--students", type=int, default=200, help="students' keys to size in Redis")
    p.add_argument("--output", type=Path, default=OUT, help="JSON results")
    args = p.parse_args(argv)
    url = os.environ.get("QUIZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = {
        "kind": "quiz-capacity-probe",
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        **login_cpu_ms(args.logins),
        **redis_sizes(url, args.students),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
