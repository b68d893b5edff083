#!/usr/bin/env python3
"""``make bench``: wrk against one instance of the app on PostgreSQL + Redis.

What it does (details and how to read the output: bench/README.md):

1. installs ``wrk`` with apt-get if it is missing;
2. creates a fresh PostgreSQL database ``quiz_bench_<pid>`` and claims an empty Redis
   database number (9..15), migrates, and starts ONE ``quiz serve`` (QUIZ_ENV=staging)
   plus the baseline, a bare FastAPI hello app (bench/hello_app.py) under uvicorn;
3. sets up data over HTTP: a teacher, a pool of students, published quizzes of 10 single
   choice questions x 4 options, in-progress attempts;
4. after a short warm-up, runs ``wrk -t1 -c64 -d10s --latency`` in interleaved rounds
   (hello, GET quiz, PUT response, POST submit), sampling the instance's RSS every 0.5 s;
5. prints medians, ratios to hello and PASS/FAIL against the targets, and writes them to
   ``var/bench/latest.json``; exits 0 whether the targets pass or not;
6. on every way out (including SIGINT/SIGTERM/SIGHUP) stops both servers, drops the
   database and deletes the Redis keys it created.

Needs QUIZ_TEST_DATABASE_URL (a PostgreSQL URL whose user may CREATE DATABASE) and
QUIZ_TEST_REDIS_URL, as exported by the Makefile; defaults are the local servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "bench" / "lua"
OUT_DIR = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
API = "/api/v1"

ROUTES = ("hello", "hello_mw", "get_quiz", "put_response", "submit")
LABELS = {
    "hello": "hello baseline",
    "hello_mw": "hello + middleware",
    "get_quiz": "GET quiz (student)",
    "put_response": "PUT response",
    "submit": "POST submit",
}
# route -> (min req/s ratio to hello, max p99 ratio to hello or None)
TARGETS: dict[str, tuple[float, float | None]] = {
    "hello_mw": (0.8, None),
    "get_quiz": (0.8, 1.5),
    "put_response": (0.2, None),
    "submit": (0.1, None),
}
RSS_LIMIT_MB = 150.0
QUESTIONS_PER_QUIZ = 10
OPTIONS_PER_QUESTION = 4
REDIS_DB_CHOICES = range(9, 16)
REDIS_CLAIM_KEY = "quizbench:claim"
APP_REDIS_PREFIX = "qp:"  # quizplatform.db.shared_store.create_store's prefix

console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
T = TypeVar("T")


class BenchError(RuntimeError):
    """Setting up or running the benchmark failed (not a target miss)."""


# -- small helpers --------------------------------------------------------------------------
def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def free_port() -> int:
    """A free TCP port on loopback (the kernel's ephemeral range: 32768 and up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def random_secret(length: int = 40) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (from /proc), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def raised_rate_limits() -> dict[str, str]:
    """QUIZ_RATE_LIMITS_* far above what one loopback client sends, for every route group.

    All the load comes from one address and a few users, which the staging limits would
    (rightly) refuse with 429. The limiter stays on, so its cost is part of the numbers.
    """
    from quizplatform.runtime.settings import Settings

    env = {}
    for name, info in Settings.model_fields.items():
        if not name.startswith("rate_limits_per_") or info.default_factory is None:
            continue
        groups = info.default_factory()  # type: ignore[call-arg]
        if isinstance(groups, dict):
            env[f"QUIZ_{name.upper()}"] = json.dumps({g: "100000000/60" for g in groups})
    return env


def _set_pdeathsig() -> None:
    """In the child: get SIGTERM if the bench dies without cleaning up (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def gather_limited(limit: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs with at most ``limit`` at a time; results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


# -- wrk ------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    log("wrk is missing: installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is still missing after apt-get install wrk")
    return found


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """The numbers of one wrk --latency run (plus the BENCH-RESULT line of our Lua)."""
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not m:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    out["rps"] = float(m.group(1))
    for pct, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M
    ):
        out[f"p{pct}_ms"] = float(value) * _UNITS_MS[unit]
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    out["wrk_non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    out["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True))
        if m
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    m = re.search(r"^BENCH-RESULT (\{.*\})\s*$", output, re.M)
    out["lua"] = json.loads(m.group(1)) if m else {}
    return out


@dataclass
class Run:
    route: str
    round: int  # 0 = warm-up
    duration_s: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    socket_errors: dict[str, int]
    first_bad: str
    rss_max_mb: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())


# -- garbage collection pauses (python_gc_pause_seconds, runtime/lifecycle.py::watch_gc) --
GcPauses = dict[str, dict[str, float]]  # generation -> {count, sum, le_<bucket>: count}


async def gc_pauses(server: Server) -> GcPauses | None:
    """The app's GC pause histogram, from its /metrics (None if it cannot be read)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            text = (await client.get("/metrics")).text
    except httpx.HTTPError:
        return None
    out: GcPauses = {}
    for family in text_string_to_metric_families(text):
        if family.name == "cache_requests":  # near cache hits and misses, as "cache" entries
            for sample in family.samples:
                if sample.name == "cache_requests_total":
                    labels = sample.labels
                    out.setdefault("cache", {})[f"{labels['cache']}_{labels['result']}"] = (
                        sample.value
                    )
            continue
        if family.name != "python_gc_pause_seconds":
            continue
        for sample in family.samples:
            gen = out.setdefault(sample.labels["generation"], {})
            if sample.name.endswith("_count"):
                gen["count"] = sample.value
            elif sample.name.endswith("_sum"):
                gen["sum"] = sample.value
            elif sample.name.endswith("_bucket"):
                gen[f"le_{sample.labels['le']}"] = sample.value
    return out


def gc_delta(before: GcPauses, after: GcPauses | None) -> dict[str, Any] | None:
    """Per generation: collections, total pause ms, and collections longer than 10 ms."""
    if after is None:
        return None
    delta: dict[str, Any] = {}
    misses = {
        key: int(value - before.get("cache", {}).get(key, 0))
        for key, value in after.get("cache", {}).items()
        if key.endswith("_miss")
    }
    delta["cache_misses"] = {k: v for k, v in misses.items() if v}
    for gen, values in after.items():
        if gen == "cache":
            continue
        prior = before.get(gen, {})
        count = values.get("count", 0) - prior.get("count", 0)
        total_ms = 1000 * (values.get("sum", 0) - prior.get("sum", 0))
        within = values.get("le_0.01", 0) - prior.get("le_0.01", 0)
        delta[gen] = {
            "collections": int(count),
            "pause_ms": round(total_ms, 1),
            "over_10ms": int(count - within),
        }
    return delta


def gc_text(gc: dict[str, Any] | None) -> str:
    if not gc:
        return ""
    parts = [
        f"g{gen} {v['collections']}x {v['pause_ms']:.0f} ms"
        + (f" ({v['over_10ms']} >10 ms)" if v["over_10ms"] else "")
        for gen, v in sorted(gc.items())
        if gen != "cache_misses" and v["collections"]
    ]
    misses = ", ".join(f"{k.removesuffix('_miss')} {v}" for k, v in gc["cache_misses"].items())
    return ("  gc " + (", ".join(parts) or "none")) + (
        f"  near-cache misses: {misses}" if misses else ""
    )


# -- the services under test ----------------------------------------------------------------
@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(name: str, argv: list[str], env: dict[str, str], port: int) -> Server:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = OUT_DIR / f"{name}-{os.getpid()}.log"
    with log_path.open("wb") as fh:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals, not the terminal's, stop it
            preexec_fn=_set_pdeathsig,  # the bench starts no threads
        )
    return Server(name, proc, port, log_path)


def stop_process(proc: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM, then SIGKILL after 10 s; only the process we started, by its pid."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) ignored SIGTERM for 10 s: SIGKILL")
        proc.kill()
        proc.wait(timeout=10)


async def wait_ready(server: Server, path: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=server.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise BenchError(
                    f"{server.name} exited with {server.proc.returncode}; "
                    f"its output:\n{tail(server.log_path)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise BenchError(f"{server.name} not ready after {within:.0f} s:\n{tail(server.log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


# -- HTTP set-up ----------------------------------------------------------------------------
@dataclass
class User:
    email: str
    password: str
    token: str = ""
    id: str = ""


@dataclass
class Attempt:
    id: str
    student: int
    quiz_id: str
    options: dict[str, list[str]]  # question id -> option ids


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        r = await self.client.request(method, API + path, **kwargs)
        if r.status_code not in expect:
            raise BenchError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    async def register(self, user: User, name: str, role: str) -> None:
        body = {"email": user.email, "password": user.password, "display_name": name, "role": role}
        user.id = (await self.call("POST", "/auth/register", body=body, expect=(201,)))["id"]
        token = {"email": user.email, "password": user.password}
        user.token = (await self.call("POST", "/auth/token", body=token, expect=(200,)))[
            "access_token"
        ]

    async def create_quiz(self, teacher: User, number: int) -> str:
        rng = random.Random(number)
        questions = []
        for q in range(1, QUESTIONS_PER_QUIZ + 1):
            correct = rng.randrange(OPTIONS_PER_QUESTION)
            questions.append(
                {
                    "type": "single_choice",
                    "prompt": (
                        f"Question {q} of benchmark quiz {number}: which of the following "
                        "statements about the topic of this question is the right one?"
                    ),
                    "options": [
                        {
                            "text": f"Answer {'ABCD'[o]}: a plausible statement number {o + 1}",
                            "correct": o == correct,
                        }
                        for o in range(OPTIONS_PER_QUESTION)
                    ],
                }
            )
        body = {
            "title": f"Benchmark quiz {number}",
            "description": "Generated by bench/run.py",
            "questions": questions,
        }
        quiz_id: str = (await self.call("POST", "/quizzes", teacher.token, body, (201,)))["id"]
        await self.call("POST", f"/quizzes/{quiz_id}/publish", teacher.token, expect=(200,))
        return quiz_id

    async def start_attempt(self, student: User, index: int, quiz_id: str) -> Attempt:
        view = await self.call("POST", f"/quizzes/{quiz_id}/attempts", student.token)
        options = {q["id"]: [o["id"] for o in q["options"]] for q in view["questions"]}
        if len(options) != QUESTIONS_PER_QUIZ:
            raise BenchError(f"attempt {view['id']} has {len(options)} questions")
        return Attempt(view["id"], index, quiz_id, options)


@dataclass
class Fixture:
    teacher: User
    students: list[User]
    read_quiz: str  # GET target; its attempts take the PUTs and are never submitted
    put_attempts: list[Attempt]
    submit_quizzes: list[str] = field(default_factory=list)
    # (student index, quiz id) -> the pair's current attempt in the submit pool
    pool: dict[tuple[int, str], Attempt] = field(default_factory=dict)
    prefill_checked: bool = False


# -- the benchmark --------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, wrk: str) -> None:
        self.args = args
        self.wrk = wrk
        self.pid = os.getpid()
        self.db_name = f"quiz_bench_{self.pid}"
        self.admin_db_url = os.environ.get(
            "QUIZ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        self.db_url = with_path(self.admin_db_url, "/" + self.db_name)
        self.redis_base = os.environ.get("QUIZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.redis_db: int | None = None
        self.redis_url = ""
        self.db_created = False
        self.servers: list[Server] = []
        self.wrk_pid: int | None = None  # the running wrk, while one runs
        self.conn: Any = None  # asyncpg connection to the bench database
        self.runs: list[Run] = []
        self.warnings: list[str] = []
        self.work_dir = OUT_DIR / f"work-{self.pid}"
        self.waited_for_quiet = 0.0

    # -- resources ------------------------------------------------------------------------
    def claim_redis_db(self) -> None:
        """An empty Redis database number, claimed with a marker key (never FLUSHDB)."""
        for number in REDIS_DB_CHOICES:
            url = with_path(self.redis_base, f"/{number}")
            r = redis.Redis.from_url(url, socket_timeout=5)
            try:
                if r.dbsize() == 0 and r.set(REDIS_CLAIM_KEY, str(self.pid), nx=True):
                    if r.dbsize() == 1:
                        self.redis_db, self.redis_url = number, url
                        return
                    r.delete(REDIS_CLAIM_KEY)
            finally:
                r.close()
        raise BenchError(
            f"no empty Redis database among {REDIS_DB_CHOICES.start}..{REDIS_DB_CHOICES.stop - 1}"
        )

    def release_redis_db(self) -> None:
        """Delete the app's keys (prefix qp:) and our claim in the database we claimed."""
        if self.redis_db is None:
            return
        r = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            keys = list(r.scan_iter(match=APP_REDIS_PREFIX + "*", count=1000))
            for i in range(0, len(keys), 1000):
                r.delete(*keys[i : i + 1000])
            owner = r.get(REDIS_CLAIM_KEY)
            if isinstance(owner, bytes) and owner.decode() == str(self.pid):
                r.delete(REDIS_CLAIM_KEY)
            left = r.dbsize()
            if left:
                self.warnings.append(f"Redis db {self.redis_db}: {left} keys not ours left")
        finally:
            r.close()
        self.redis_db = None

    async def create_database(self) -> None:
        conn = await asyncpg.connect(self.admin_db_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self.db_created = True
        finally:
            await conn.close()

    async def drop_database(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close(), 5)
            self.conn = None
        if not self.db_created:
            return
        conn = await asyncpg.connect(self.admin_db_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self.db_created = False
        finally:
            await conn.close()

    def app_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
        env.update(
            QUIZ_ENV="staging",
            QUIZ_SECRET_KEY=random_secret(40),
            QUIZ_DATABASE_URL=self.db_url,
            QUIZ_REDIS_URL=self.redis_url,
        )
        env.update(raised_rate_limits())
        return env

    def start_servers(self) -> tuple[Server, Server, Server]:
        env = self.app_env()
        result = subprocess.run(
            [str(BIN / "quiz"), "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"quiz db upgrade failed:\n{result.stdout}\n{result.stderr}")
        port = free_port()
        app = start_server(
            "app",
            [str(BIN / "quiz"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
            port,
        )
        self.servers.append(app)
        hello_env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
        hello = self.start_hello("hello", "hello_app:app", hello_env)
        mw_env = {
            **hello_env,
            "BENCH_HELLO_MIDDLEWARE": "1",
            "BENCH_HELLO_DATA_DIR": str(OUT_DIR / "hello-data"),
        }
        hello_mw = self.start_hello("hello_mw", "hello_app:app_with_middleware", mw_env)
        return app, hello, hello_mw

    def start_hello(self, name: str, target: str, env: dict[str, str]) -> Server:
        port = free_port()
        server = start_server(
            name,
            [
                str(BIN / "python"),
                "-m",
                "uvicorn",
                "--app-dir",
                str(ROOT / "bench"),
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--workers",
                "1",
                "--log-level",
                "warning",
                "--no-access-log",
                "--no-server-header",
                "--no-proxy-headers",
            ],
            env,
            port,
        )
        self.servers.append(server)
        return server

    def cleanup(self) -> None:
        for server in reversed(self.servers):
            stop_process(server.proc, server.name)
        if self.wrk_pid is not None:  # interrupted mid-run: wrk is ours and still running
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.wrk_pid, signal.SIGKILL)
            self.wrk_pid = None

    def release(self) -> list[str]:
        """After the run, whatever happened: stop the servers (and wrk), drop the database,
        clean the claimed Redis db and remove the scratch files. Returns what could not be
        cleaned, as messages (the servers' logs are left to the caller)."""
        self.cleanup()
        problems = []
        try:
            asyncio.run(self.drop_database())
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            problems.append(f"could not drop database {self.db_name}: {exc}")
        try:
            self.release_redis_db()
        except (OSError, redis.RedisError) as exc:
            problems.append(f"could not clean Redis db {self.redis_db}: {exc}")
        shutil.rmtree(self.work_dir, ignore_errors=True)
        return problems

    # -- data ---------------------------------------------------------------------------
    async def setup_data(self, api: Api) -> Fixture:
        run = secrets.token_hex(3)
        teacher = User(f"teacher.{run}@bench.example.com", secrets.token_urlsafe(18))
        await api.register(teacher, "Bench Teacher", "teacher")
        students = [
            User(f"student{i:03d}.{run}@bench.example.com", secrets.token_urlsafe(18))
            for i in range(self.args.students)
        ]
        log(f"registering {len(students)} students (argon2 makes this the slow part)")
        await gather_limited(
            4,
            [
                partial(api.register, s, f"Bench Student {i}", "student")
                for i, s in enumerate(students)
            ],
        )
        read_quiz = await api.create_quiz(teacher, 0)
        put_attempts = await gather_limited(
            16,
            [partial(api.start_attempt, s, i, read_quiz) for i, s in enumerate(students)],
        )
        return Fixture(teacher, students, read_quiz, put_attempts)

    async def ensure_quizzes(self, api: Api, fx: Fixture, capacity: int) -> None:
        """Enough submit quizzes that students x quizzes >= capacity."""
        wanted = max(1, math.ceil(capacity / len(fx.students)))
        missing = wanted - len(fx.submit_quizzes)
        if missing <= 0:
            return
        first = len(fx.submit_quizzes) + 1
        fx.submit_quizzes += await gather_limited(
            8,
            [partial(api.create_quiz, fx.teacher, n) for n in range(first, first + missing)],
        )

    async def top_up_pool(self, api: Api, fx: Fixture) -> list[Attempt]:
        """Start a fresh attempt for every (student, submit quiz) pair without a running one;
        fill in all its responses; return the pool of in-progress attempts, shuffled."""
        live = {
            row["id"]
            for row in await self.conn.fetch("SELECT id FROM attempts WHERE status = 'in_progress'")
        }
        todo = [
            (i, q)
            for q in fx.submit_quizzes
            for i in range(len(fx.students))
            if (a := fx.pool.get((i, q))) is None or a.id not in live
        ]
        started = time.monotonic()
        fresh = await gather_limited(
            16, [partial(api.start_attempt, fx.students[i], i, q) for i, q in todo]
        )
        for attempt in fresh:
            fx.pool[(attempt.student, attempt.quiz_id)] = attempt
        if fresh and self.args.answered:
            await self.prefill_responses(api, fx, fresh)
        if fresh:
            log(f"started {len(fresh)} attempts in {time.monotonic() - started:.1f} s")
        pool = list(fx.pool.values())
        random.shuffle(pool)
        return pool

    async def prefill_responses(self, api: Api, fx: Fixture, attempts: list[Attempt]) -> None:
        """Answer every question of fresh pool attempts, so a submit scores real responses.

        One response goes through the API (PUT) and must come back stored as sent; the
        rest are inserted directly in that same form, since tens of thousands of PUTs
        would make the set-up longer than the benchmark.
        """
        rng = random.Random(len(attempts))
        first = attempts[0]
        qid, options = next(iter(first.options.items()))
        if not fx.prefill_checked:
            body = {"option_id": options[0]}
            saved = await api.call(
                "PUT", f"/attempts/{first.id}/responses/{qid}", fx.students[first.student].token,
                body, (200,),
            )  # fmt: skip
            if saved.get("response") != body:
                raise BenchError(f"a saved response is stored as {saved!r}, not as {body!r}")
            fx.prefill_checked = True
        rows = [
            (a.id, q, json.dumps({"option_id": rng.choice(opts)}))
            for a in attempts
            for q, opts in a.options.items()
        ]
        await self.conn.execute(
            """
            INSERT INTO responses (attempt_id, question_id, payload, saved_at)
            SELECT a, q, p::json, now()
            FROM unnest($1::text[], $2::text[], $3::text[]) AS t(a, q, p)
            ON CONFLICT DO NOTHING
            """,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )

    async def submitted_count(self) -> int:
        return int(
            await self.conn.fetchval("SELECT count(*) FROM attempts WHERE status = 'submitted'")
        )

    def write_lines(self, name: str, lines: Iterable[str]) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / name
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- measuring ------------------------------------------------------------------------
    async def wrk_run(
        self,
        route: str,
        round_no: int,
        server: Server,
        script_args: list[str],
        duration: int,
        rss_pid: int,
    ) -> Run:
        script = LUA_DIR / f"{route}.lua"
        argv = [
            self.wrk,
            f"-t{self.args.threads}",
            f"-c{self.args.connections}",
            f"-d{duration}s",
            "--latency",
            *([f"--timeout={self.args.wrk_timeout}s"] if self.args.wrk_timeout else []),
            "-s",
            str(script),
            server.url,
        ]
        if script_args:
            argv += ["--", *script_args]
        peak: list[float] = []

        async def sample() -> None:
            while True:
                value = rss_mb(rss_pid)
                if value is not None:
                    peak.append(value)
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        gc_before = await gc_pauses(server) if server.name == "app" else None
        profiler = await self.start_profiler(route, round_no, duration, rss_pid)
        cpu_before, machine_before, t0 = cpu_seconds(rss_pid), machine_cpu(), time.monotonic()
        load = os.getloadavg()[0]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
        )
        self.wrk_pid = proc.pid
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), duration + 60)
            rc = proc.returncode
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            self.wrk_pid = None
            if profiler is not None:
                await self.finish_profiler(profiler, route)
        elapsed = time.monotonic() - t0
        cpu_after, machine_after = cpu_seconds(rss_pid), machine_cpu()
        server_cpu = (
            100 * (cpu_after - cpu_before) / elapsed
            if cpu_before is not None and cpu_after is not None
            else None
        )
        server_cpu_s = (
            cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        )
        busy = machine_after[0] - machine_before[0]
        machine_busy = 100 * busy / max(1, machine_after[1] - machine_before[1])
        text = out.decode(errors="replace")
        if rc != 0:
            raise BenchError(f"wrk exited with {rc}:\n{text}")
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} died during the {route} run:\n{tail(server.log_path)}")
        parsed = parse_wrk(text)
        gc_run = gc_delta(gc_before, await gc_pauses(server)) if gc_before is not None else None
        lua = parsed["lua"]
        served = parsed.get("requests", 0) + parsed["socket_errors"]["timeout"]
        non2xx = lua["c3xx"] + lua["c4xx"] + lua["c5xx"] if lua else parsed["wrk_non2xx"]
        return Run(
            route=route,
            round=round_no,
            duration_s=duration,
            rps=parsed["rps"],
            p50_ms=parsed.get("p50_ms", math.nan),
            p99_ms=parsed.get("p99_ms", math.nan),
            requests=parsed.get("requests", 0),
            non2xx=max(non2xx, parsed["wrk_non2xx"]),
            socket_errors=parsed["socket_errors"],
            first_bad=lua.get("first_bad", ""),
            rss_max_mb=max(peak) if peak else None,
            extra={
                "issued": lua.get("issued"),
                "wrapped": bool(lua.get("wrapped")),
                "server_cpu_pct": server_cpu,
                "server_cpu_s": server_cpu_s,
                # Requests that timed out in wrk were still served: count them too.
                "server_cpu_ms_per_request": (
                    1000 * server_cpu_s / served if server_cpu_s is not None and served else None
                ),
                "machine_busy_pct": machine_busy,
                "load_avg_1m_before": load,
                "gc": gc_run,
            },
        )

    async def start_profiler(
        self, route: str, round_no: int, duration: int, pid: int
    ) -> asyncio.subprocess.Process | None:
        """py-spy on the instance during ``route``'s measured runs when --profile names it.

        Raw (collapsed) stacks, appended over the rounds to var/bench/profile-<route>.txt;
        ``--nonblocking`` so that the sampled process is not paused (the run's numbers
        still suffer a little: py-spy takes CPU from the same two cores)."""
        if route not in self.args.profile or round_no == 0:
            return None
        py_spy = BIN / "py-spy"
        if not py_spy.exists():
            raise BenchError(f"--profile needs py-spy ({py_spy}): run make install")
        out = OUT_DIR / f"profile-{route}-round{round_no}.txt"
        argv = [str(py_spy), "record", "--pid", str(pid), "--duration", str(duration)]
        argv += ["--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out)]
        return await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )

    async def finish_profiler(self, profiler: asyncio.subprocess.Process, route: str) -> None:
        try:
            await asyncio.wait_for(profiler.wait(), 30)
        except TimeoutError:
            profiler.kill()
            await profiler.wait()
        log(f"py-spy profile of {route}: var/bench/profile-{route}-round*.txt (collapsed stacks)")

    async def settle(self) -> float:
        """Pause before a run and, within --quiet-wait seconds, wait for the machine to be
        quiet (others' CPU use below --quiet-below %). Returns the last busy % seen."""
        deadline = time.monotonic() + self.args.quiet_wait
        while True:
            before = machine_cpu()
            await asyncio.sleep(self.args.pause)
            after = machine_cpu()
            busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
            if busy <= self.args.quiet_below or time.monotonic() >= deadline:
                return busy
            self.waited_for_quiet += self.args.pause

    async def round(
        self,
        api: Api,
        fx: Fixture,
        app: Server,
        hello: Server,
        hello_mw: Server,
        round_no: int,
        duration: int,
    ) -> list[Run]:
        label = "warm-up" if round_no == 0 else f"round {round_no}/{self.args.rounds}"
        pool = await self.top_up_pool(api, fx)
        nthreads = str(self.args.threads)
        put_file = self.write_lines(
            "put.txt",
            (
                f"{a.id} {q} {random.choice(opts)} {fx.students[a.student].token}"
                for a in fx.put_attempts
                for q, opts in a.options.items()
            ),
        )
        submit_file = self.write_lines(
            "submit.txt", (f"{a.id} {fx.students[a.student].token}" for a in pool)
        )
        student = fx.students[0].token
        plans: list[tuple[str, Server, list[str]]] = [
            ("hello", hello, []),
            ("hello_mw", hello_mw, []),
            ("get_quiz", app, [fx.read_quiz, student]),
            ("put_response", app, [str(put_file), nthreads]),
            ("submit", app, [str(submit_file), nthreads]),
        ]
        runs = []
        for route, server, script_args in plans:
            background = await self.settle()
            before = await self.submitted_count() if route == "submit" else 0
            cpu_before = cpu_seconds(server.proc.pid)
            run = await self.wrk_run(
                route, round_no, server, script_args, duration, server.proc.pid
            )
            if route == "submit":
                await asyncio.sleep(1.0)  # let requests cut off by wrk's end finish
                real = await self.submitted_count() - before
                run.extra.update(
                    pool=len(pool), real_submits=real, real_submits_per_s=real / duration
                )
                # Per real submit, counting the CPU of those that finished after wrk stopped.
                cpu_after = cpu_seconds(server.proc.pid)
                if real and cpu_before is not None and cpu_after is not None:
                    run.extra["server_cpu_ms_per_request"] = 1000 * (cpu_after - cpu_before) / real
                if run.extra["wrapped"] and round_no > 0:
                    self.warnings.append(
                        f"{label}: the submit pool ({len(pool)} attempts) ran out; only {real} "
                        f"of {run.requests} requests were real submits, the rest cheap repeats"
                    )
            run.extra["background_busy_pct"] = background
            log(
                f"{label:>12} {route:<13} {run.rps:9.1f} req/s  p99 {run.p99_ms:8.2f} ms"
                f"  errors {run.errors}"
                + (f"  real submits {run.extra['real_submits']}" if route == "submit" else "")
                + (f"  rss {run.rss_max_mb:.0f} MB" if run.rss_max_mb else "")
                + f"  server cpu {run.extra['server_cpu_pct'] or 0:.0f}%"
                + f" ({run.extra['server_cpu_ms_per_request'] or 0:.2f} ms/req)"
                + f"  machine busy {run.extra['machine_busy_pct']:.0f}%"
                + f" (before: {background:.0f}%)"
                + gc_text(run.extra.get("gc"))
            )
            if run.errors:
                socket = ", ".join(f"{k} {v}" for k, v in run.socket_errors.items() if v)
                log(
                    f"  [yellow]{route}: {run.non2xx} non-2xx"
                    + (f" (first: {escape(repr(run.first_bad[:200]))})" if run.first_bad else "")
                    + (f"; socket errors: {socket}" if socket else "")
                    + "[/yellow]"
                )
            runs.append(run)
        return runs

    async def measure(self, app: Server, hello: Server, hello_mw: Server) -> None:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=app.url, timeout=60.0, limits=limits) as client:
            api = Api(client)
            started = time.monotonic()
            fx = await self.setup_data(api)
            self.conn = await asyncpg.connect(self.db_url)
            warm = min(self.args.warmup, self.args.duration)
            if warm > 0:
                # The warm-up run also estimates the submit rate, to size the pool.
                await self.ensure_quizzes(api, fx, max(600, 500 * warm))
            else:
                await self.ensure_quizzes(api, fx, 1000 * self.args.duration)
            log(f"set-up done in {time.monotonic() - started:.0f} s")
            rate = 0.0
            if warm > 0:
                runs = await self.round(api, fx, app, hello, hello_mw, 0, warm)
                self.runs += runs
                sub = runs[-1]
                rate = sub.extra["real_submits_per_s"]
                if sub.extra["wrapped"]:  # the pool was too small: size by requests instead
                    rate = max(rate, sub.rps)
            for k in range(1, self.args.rounds + 1):
                need = math.ceil(rate * self.args.duration * self.args.pool_margin) + 256
                await self.ensure_quizzes(api, fx, need)
                runs = await self.round(api, fx, app, hello, hello_mw, k, self.args.duration)
                self.runs += runs
                rate = max(rate, runs[-1].extra["real_submits_per_s"])


# -- report ---------------------------------------------------------------------------------
def summarise(runs: list[Run]) -> dict[str, Any]:
    measured = [r for r in runs if r.round > 0]
    routes: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        mine = [r for r in measured if r.route == route]
        if not mine:
            continue
        routes[route] = {
            "rps_median": statistics.median(r.rps for r in mine),
            "p50_ms_median": statistics.median(r.p50_ms for r in mine),
            "p99_ms_median": statistics.median(r.p99_ms for r in mine),
            "rps_rounds": [r.rps for r in mine],
            "p99_ms_rounds": [r.p99_ms for r in mine],
            "errors": sum(r.errors for r in mine),
            "timeouts": sum(r.socket_errors.get("timeout", 0) for r in mine),
            "non2xx": sum(r.non2xx for r in mine),
            "requests": sum(r.requests for r in mine),
            "first_error": next((r.first_bad for r in mine if r.first_bad), ""),
            "rss_max_mb": max((r.rss_max_mb or 0.0) for r in mine) or None,
            "cpu_ms_per_request_median": statistics.median(
                r.extra.get("server_cpu_ms_per_request") or math.nan for r in mine
            ),
        }
        if route == "submit":
            routes[route]["real_submits"] = sum(r.extra.get("real_submits", 0) for r in mine)
            routes[route]["pool_ran_out"] = any(r.extra.get("wrapped") for r in mine)
            routes[route]["real_submits_per_s_median"] = statistics.median(
                r.extra.get("real_submits_per_s", 0.0) for r in mine
            )
    hello = routes.get("hello")
    for data in routes.values():
        data["rps_ratio"] = data["rps_median"] / hello["rps_median"] if hello else None
        data["p99_ratio"] = data["p99_ms_median"] / hello["p99_ms_median"] if hello else None
    checks = []
    for route, (min_ratio, max_p99) in TARGETS.items():
        if route not in routes:
            continue
        data = routes[route]
        checks.append(
            {
                "check": f"{route} req/s >= {min_ratio:g}x hello",
                "value": data["rps_ratio"],
                "passed": data["rps_ratio"] >= min_ratio,
            }
        )
        if max_p99 is not None:
            checks.append(
                {
                    "check": f"{route} p99 <= {max_p99:g}x hello p99",
                    "value": data["p99_ratio"],
                    "passed": data["p99_ratio"] <= max_p99,
                }
            )
        checks.append(
            {"check": f"{route} no errors", "value": data["errors"], "passed": data["errors"] == 0}
        )
    app_rss = [
        r.rss_max_mb for r in measured if r.route not in ("hello", "hello_mw") and r.rss_max_mb
    ]
    rss = max(app_rss) if app_rss else None
    checks.append(
        {
            "check": f"instance RSS under load < {RSS_LIMIT_MB:g} MB",
            "value": rss,
            "passed": rss is not None and rss < RSS_LIMIT_MB,
        }
    )
    if "submit" in routes:
        checks.append(
            {
                "check": "submit pool lasted (every submit request was a real submit)",
                "value": routes["submit"]["real_submits"],
                "passed": not routes["submit"]["pool_ran_out"],
            }
        )
    return {"routes": routes, "instance_rss_max_mb": rss, "checks": checks}


def errors_cell(data: dict[str, Any]) -> str:
    """``12 (10 timeouts)``: all errors, with how many were wrk's 2 s timeouts."""
    timeouts = data.get("timeouts", 0)
    return f"{data['errors']} ({timeouts} timeouts)" if timeouts else str(data["errors"])


def print_report(summary: dict[str, Any], runs: list[Run], meta: dict[str, Any]) -> None:
    routes = summary["routes"]
    verdict = {c["check"]: c["passed"] for c in summary["checks"]}

    def mark(ok: bool | None) -> str:
        if ok is None:
            return ""
        return "[green]PASS[/green]" if ok else "[bold red]FAIL[/bold red]"

    table = Table(
        title=(
            f"make bench: wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration_s']}s,"
            f" {meta['rounds']} interleaved rounds, medians"
        )
    )
    for name, justify in (
        ("route", "left"),
        ("req/s", "right"),
        ("x hello", "right"),
        ("p99 ms", "right"),
        ("p99 x hello", "right"),
        ("errors", "right"),
        ("CPU ms/req", "right"),
        ("target", "left"),
        ("result", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for route in ROUTES:
        data = routes.get(route)
        if data is None:
            continue
        target, ok = "", None
        if route in TARGETS:
            min_ratio, max_p99 = TARGETS[route]
            target = f">= {min_ratio:g}x req/s" + (f", p99 <= {max_p99:g}x" if max_p99 else "")
            keys = [k for k in verdict if k.startswith(route + " ")]
            ok = all(verdict[k] for k in keys)
        table.add_row(
            LABELS[route],
            f"{data['rps_median']:,.0f}",
            f"{data['rps_ratio']:.2f}",
            f"{data['p99_ms_median']:.1f}",
            f"{data['p99_ratio']:.2f}",
            errors_cell(data),
            f"{data['cpu_ms_per_request_median']:.2f}",
            target,
            mark(ok),
        )
    rss = summary["instance_rss_max_mb"]
    rss_check = next(c for c in summary["checks"] if c["check"].startswith("instance RSS"))
    table.add_row(
        "instance RSS under load (max)",
        f"{rss:.0f} MB" if rss else "?",
        "",
        "",
        "",
        "",
        "",
        f"< {RSS_LIMIT_MB:g} MB",
        mark(rss_check["passed"]),
    )
    console.print(table)

    rounds = Table(title="per round: req/s (p99 ms)")
    rounds.add_column("round")
    for route in ROUTES:
        rounds.add_column(route, justify="right")
    rounds.add_column("submit: real / pool", justify="right")
    for k in sorted({r.round for r in runs}):
        mine = {r.route: r for r in runs if r.round == k}
        cells = [f"{mine[x].rps:,.0f} ({mine[x].p99_ms:.1f})" if x in mine else "" for x in ROUTES]
        sub = mine.get("submit")
        extra = f"{sub.extra.get('real_submits')} / {sub.extra.get('pool')}" if sub else ""
        rounds.add_row("warm-up" if k == 0 else str(k), *cells, extra)
    console.print(rounds)
    if "submit" in routes:
        s = routes["submit"]
        console.print(
            f"submit: {s['real_submits']} real submissions in the measured rounds "
            f"(median {s['real_submits_per_s_median']:.0f}/s); pool ran out: "
            f"{'YES' if s['pool_ran_out'] else 'no'}"
        )
    failed = [c["check"] for c in summary["checks"] if not c["passed"]]
    if failed:
        console.print("[bold red]FAILED:[/bold red] " + "; ".join(failed))
    else:
        console.print("[bold green]all targets met[/bold green]")


_ACCESS_OK = re.compile(r'"status":\s*[23]\d\d\b')
_LEVEL_INFO = re.compile(r'"level":\s*"info"')


def scan_server_log(path: Path) -> dict[str, Any]:
    """Count the app's log lines and pick out everything that is not a 2xx/3xx access line."""
    counts: Counter[str] = Counter()
    samples: list[str] = []
    total = 0
    try:
        fh = path.open(errors="replace")
    except OSError:
        return {"lines": 0, "problems": {}, "samples": []}
    with fh:
        for line in fh:
            total += 1
            if _ACCESS_OK.search(line) and _LEVEL_INFO.search(line):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                key = f"{entry.get('level')} {str(entry.get('event')).strip()}"
                if "status" in entry:
                    key += f" {entry.get('method')} {entry.get('route')} -> {entry['status']}"
                lines = str(entry.get("exception") or "").strip().splitlines()
                if lines:  # the exception's last line says what it was
                    key += f": {lines[-1][:200]}"
            else:
                key = "non-JSON output"
            counts[key] += 1
            if len(samples) < 10:
                samples.append(line.strip()[:400])
    return {"lines": total, "problems": dict(counts.most_common()), "samples": samples}


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


# -- entry point ----------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per route, 0: none")
    p.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    p.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    p.add_argument(
        "--wrk-timeout",
        type=int,
        default=0,
        help="wrk --timeout in seconds (default: wrk's own, 2 s; slower requests are errors)",
    )
    p.add_argument("--students", type=int, default=40, help="students to register (default 40)")
    p.add_argument(
        "--pool-margin",
        type=float,
        default=2.0,
        help="submit pool = margin x expected submits per run (default 2)",
    )
    p.add_argument(
        "--no-answers",
        dest="answered",
        action="store_false",
        help="submit empty attempts (default: every question of a pool attempt is answered)",
    )
    p.add_argument("--pause", type=float, default=1.0, help="seconds of quiet before each run")
    p.add_argument(
        "--quiet-below",
        type=float,
        default=25.0,
        help="before a run, wait while the machine is busier than this %% (default 25)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="...but at most this many seconds per run (default 20; 0: never wait)",
    )
    p.add_argument("--output", type=Path, default=OUT_DIR / "latest.json", help="JSON results")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs in var/bench")
    p.add_argument(
        "--profile",
        default="",
        help="comma-separated routes to record with py-spy during their measured runs\n"
        "(var/bench/profile-<route>-round<n>.txt; summarise with bench/profile_top.py)",
    )
    args = p.parse_args(argv)
    args.profile = {r for r in args.profile.split(",") if r}
    if unknown := args.profile - set(ROUTES):
        p.error(f"--profile: unknown route(s) {', '.join(sorted(unknown))}; routes: {ROUTES}")
    if args.duration < 1 or args.rounds < 1 or args.students < 1 or args.threads < 1:
        p.error("--duration, --rounds, --students and --threads must be at least 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


async def run_bench(bench: Bench) -> dict[str, Any]:
    await bench.create_database()
    app, hello, hello_mw = bench.start_servers()
    log(
        f"app pid {app.proc.pid} on {app.url} (database {bench.db_name}, Redis db "
        f"{bench.redis_db}); hello pid {hello.proc.pid} on {hello.url}"
    )
    await wait_ready(app, "/health/ready")
    await wait_ready(hello, "/")
    await wait_ready(hello_mw, "/api/hello")
    idle = rss_mb(app.proc.pid)
    await bench.measure(app, hello, hello_mw)
    return {"app_rss_idle_mb": idle}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    bench = Bench(args, wrk)
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "wrk_timeout_s": args.wrk_timeout or 2,
        "students": args.students,
        "answered_submits": args.answered,
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "python": platform.python_version(),
    }
    received: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    code = 0
    extra: dict[str, Any] = {}
    try:
        bench.claim_redis_db()
        extra = asyncio.run(run_bench(bench))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted ({', '.join(received) or 'SIGINT'})[/yellow]")
        code = 130
    except (BenchError, httpx.HTTPError, OSError, asyncpg.PostgresError, redis.RedisError) as exc:
        console.print(
            f"[bold red]bench failed:[/bold red] {type(exc).__name__}: {escape(str(exc))}"
        )
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # finish cleaning up whatever arrives now
        for problem in bench.release():
            console.print(f"[red]{escape(problem)}[/red]")
        logs = {}
        for server in bench.servers:
            logs[server.name] = scan_server_log(server.log_path)
            if code == 1 and server.name == "app":
                console.print(f"[dim]last lines of {server.log_path} (kept):[/dim]")
                console.print(tail(server.log_path, 25), markup=False)
            elif not args.keep_logs:
                server.log_path.unlink(missing_ok=True)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)

    if code != 0 or not bench.runs:
        return code or 1

    summary = summarise(bench.runs)
    meta.update(extra)
    meta["waited_for_quiet_s"] = bench.waited_for_quiet
    measured = [r for r in bench.runs if r.round > 0]
    background = statistics.median(r.extra["background_busy_pct"] for r in measured)
    server_cpu = statistics.median(
        r.extra["server_cpu_pct"] or 0.0 for r in measured if r.route not in ("hello", "hello_mw")
    )
    meta["background_busy_pct_median"] = background
    meta["app_cpu_pct_median"] = server_cpu
    if background > args.quiet_below:
        bench.warnings.append(
            f"other work kept the machine {background:.0f}% busy just before the runs "
            f"(median): every server got less CPU than it could use, absolute numbers are "
            f"low; compare the ratios"
        )
    print_report(summary, bench.runs, meta)
    app_log = logs.get("app", {})
    if app_log.get("problems"):
        console.print("[yellow]app log lines other than 2xx/3xx access lines:[/yellow]")
        for key, count in app_log["problems"].items():
            console.print(f"  {count:>7}  {escape(key)}")
    for warning in bench.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    result = {
        "meta": meta,
        "summary": summary,
        "runs": [asdict(r) | {"errors": r.errors} for r in bench.runs],
        "server_logs": logs,
        "warnings": bench.warnings,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
