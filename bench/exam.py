#!/usr/bin/env python3
"""Exam day: N students sit one timed quiz at once (details: bench/README.md, "Exam day").

1. Set-up (not measured): one instance on PostgreSQL + Redis as bench/run.py starts it
   (``--stack``: the one-host stack, 2 instances behind HAProxy/TLS); a teacher creates
   and publishes a timed quiz; the students' accounts go straight into the database.
2. Run: the students arrive spread over ``--arrival-seconds``, each on its own HTTP
   connection: sign in, start the attempt, answer question by question with think time
   (every answer autosaved with PUT), and submit in the last minute; ``--no-submit-share``
   of them never submit, and the time from their deadline until the auto-submit closes
   their attempt is measured (the database is polled; the API would submit on access).
3. Every answer a 2xx acknowledged must be stored as sent (lost answers).
4. Writes var/bench/exam-latest.json (--stack: exam-stack-latest.json) and a PNG chart.

Exits 1 when the bench could not run, 2 when answers were lost, 0 otherwise (latency
targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import exam_stats as st
from run import (
    API,
    BIN,
    OUT_DIR,
    ROOT,
    Api,
    Bench,
    BenchError,
    User,
    cpu_seconds,
    free_port,
    git_commit,
    machine_cpu,
    raised_rate_limits,
    rss_mb,
    start_server,
    wait_ready,
)

OPTIONS = 4
# Far above what one loopback address sends, so only --one-address sees the sign-in limit.
RAISED_LOGIN_FAILURES_PER_IP = "1000000"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the system under test --------------------------------------------------------------------
@dataclass
class Target:
    """Where the students go, how the bench reads the database, and what to measure."""

    url: str
    db_url: str
    instance_pids: list[int]
    sweep: str  # how expired attempts are submitted, for the report
    env: dict[str, str] = field(default_factory=dict)


def instance_env(args: argparse.Namespace) -> dict[str, str]:
    """The instances' rate limits: raised far above the load, unless --one-address keeps
    the production defaults (every student signs in from 127.0.0.1, like a school behind
    one NAT address); --shared-address adds 127.0.0.1 to ``QUIZ_SHARED_ADDRESSES``, as
    an operator lists a school's NAT address."""
    if args.shared_address:
        return {"QUIZ_SHARED_ADDRESSES": '["127.0.0.1/32"]'}
    if args.one_address:
        return {}
    return {**raised_rate_limits(), "QUIZ_LOGIN_MAX_FAILURES_PER_IP": RAISED_LOGIN_FAILURES_PER_IP}


async def single_instance(args: argparse.Namespace, bench: Bench) -> Target:
    """One ``quiz serve`` on a fresh database and Redis db, as bench/run.py starts it."""
    await bench.create_database()
    env = {k: v for k, v in bench.app_env().items() if not k.startswith("QUIZ_RATE_LIMITS_")}
    env.update(instance_env(args))
    env["QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS"] = f"{args.sweep_interval:g}"
    done = await asyncio.to_thread(
        partial(subprocess.run, capture_output=True, text=True, cwd=ROOT, env=env),
        [str(BIN / "quiz"), "db", "upgrade"],
    )
    if done.returncode != 0:
        raise BenchError(f"quiz db upgrade failed:\n{done.stdout}\n{done.stderr}")
    port = free_port()
    argv = [str(BIN / "quiz"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    app = start_server("exam-app", argv, env, port)
    bench.servers.append(app)
    await wait_ready(app, "/health/ready")
    shown = {k: v for k, v in env.items() if k.startswith("QUIZ_") and "SECRET" not in k}
    return Target(
        url=app.url,
        db_url=bench.db_url,
        instance_pids=[app.proc.pid],
        sweep=f"each instance, every {args.sweep_interval:g} s x 0.5-1.5 (jitter)",
        env={k: v for k, v in shown.items() if "URL" not in k},
    )


def stack_target(args: argparse.Namespace, directory: Path) -> Target:
    """``quiz stack up`` with ``args.instances`` instances (bench/stack.py's stack_up)."""
    import stack as stack_bench
    from quizplatform.ops.stack import Stack

    env = {"QUIZ_RATE_LIMIT_ENABLED": "true", **instance_env(args)}
    stack_bench.stack_up(directory, instances=args.instances, instance_env=env)
    stack = Stack(directory)
    status = stack.status()
    pids = [i["pid"] for i in status["instances"] if i["pid"]]
    return Target(
        url=stack.url,
        db_url=stack.db.app_url(stack.config.pg_port),
        instance_pids=pids,
        # stack_instances.worker_program: the instances do not sweep, the worker does,
        # every 30 s (fixed there), with the same jitter.
        sweep="the stack's worker, every 30 s x 0.5-1.5 (jitter); instances do not sweep",
        env={k: v for k, v in env.items() if k.startswith("QUIZ_")},
    )


# -- set-up -------------------------------------------------------------------------------------
def quiz_body(questions: int, limit_s: int) -> dict[str, Any]:
    """A timed quiz alternating single- and multiple-choice questions of 4 options."""
    rng = random.Random(7)
    items = []
    for q in range(questions):
        right = rng.sample(range(OPTIONS), 2)
        prompt = f"Exam question {q + 1}: which of these statements are right?"
        if q % 2 == 0:
            options = [
                {"text": f"Statement {'ABCD'[o]} of question {q + 1}", "correct": o == right[0]}
                for o in range(OPTIONS)
            ]
            items.append({"type": "single_choice", "prompt": prompt, "options": options})
        else:
            options = [
                {
                    "text": f"Statement {'ABCD'[o]} of question {q + 1}",
                    "weight": 50 if o in right else -50,
                }
                for o in range(OPTIONS)
            ]
            items.append({"type": "multiple_choice", "prompt": prompt, "options": options})
    return {
        "title": "Exam day",
        "description": "Generated by bench/exam.py",
        "questions": items,
        "settings": {"time_limit_seconds": limit_s, "max_attempts": 1},
    }


async def create_students(db_url: str, count: int, password: str, run: str) -> list[User]:
    """``count`` student accounts written straight into ``users``.

    Registering through the API hashes each password with argon2 (~170 ms of CPU each:
    almost 2 minutes for 600 on this machine), which is set-up, not the exam. One argon2id
    hash made with the app's own PasswordHasher() defaults is reused for every account,
    so signing in (measured, through POST /auth/token) still verifies a real hash with
    the production parameters and needs no rehash.
    """
    from argon2 import PasswordHasher

    password_hash = PasswordHasher().hash(password)
    now = datetime.now(UTC)
    users = [User(f"student{i:04d}.{run}@exam.example.com", password) for i in range(count)]
    for user in users:
        user.id = secrets.token_hex(16)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "INSERT INTO users (id, email, password_hash, display_name, role, is_active,"
            " created_at, is_smoke) VALUES ($1, $2, $3, $4, 'student', true, $5, false)",
            [(u.id, u.email, password_hash, f"Exam Student {i}", now) for i, u in enumerate(users)],
        )
    finally:
        await conn.close()
    return users


# -- the students ---------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one student did (for the lost-answer check and the auto-submit delay)."""

    index: int
    submits: bool
    attempt_id: str = ""
    deadline: float = 0.0  # wall clock (time.time())
    submitted: bool = False
    acknowledged: dict[st.AnswerKey, Any] = field(default_factory=dict)
    gave_up: str = ""


class Exam:
    def __init__(self, args: argparse.Namespace, target: Target, quiz_id: str) -> None:
        self.args = args
        self.target = target
        self.quiz_id = quiz_id
        self.events: list[st.Event] = []
        self.t0 = 0.0
        self.pending: dict[str, float] = {}  # attempt id -> deadline, never submitted
        self.closed: dict[str, float] = {}  # attempt id -> auto-submit delay, s

    async def request(
        self, client: httpx.AsyncClient, kind: str, method: str, path: str, **kw: Any
    ) -> tuple[httpx.Response | None, float]:
        """One request, recorded as an Event: (the response on a 2xx else None, the
        server's Retry-After in seconds, 0 without one)."""
        sent = time.monotonic()
        response: httpx.Response | None = None
        try:
            response = await client.request(method, API + path, **kw)
            outcome = str(response.status_code)
        except httpx.TimeoutException:
            outcome = "timeout"
        except httpx.ConnectError:
            outcome = "connect"
        except httpx.RemoteProtocolError:
            outcome = "disconnected"
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        event = st.Event(sent - self.t0, kind, (time.monotonic() - sent) * 1000, outcome)
        self.events.append(event)
        retry_after = 0.0
        if response is not None:
            with contextlib.suppress(ValueError):
                retry_after = float(response.headers.get("retry-after", 0))
        return (response if event.ok else None), retry_after

    async def retried(
        self, client: httpx.AsyncClient, kind: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        """Like a browser's retry: up to ``--tries`` tries, waiting 1-2 s (or the server's
        Retry-After, at most 10 s) between them. Every failed try counts as an error."""
        for attempt in range(self.args.tries):
            response, retry_after = await self.request(client, kind, method, path, **kw)
            if response is not None:
                return response
            if attempt + 1 < self.args.tries:
                await asyncio.sleep(min(10.0, max(random.uniform(1, 2), retry_after)))
        return None

    async def student(self, index: int, user: User, arrive_s: float, submits: bool) -> Outcome:
        out = Outcome(index, submits)
        await asyncio.sleep(max(0.0, self.t0 + arrive_s - time.monotonic()))
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=3)
        async with httpx.AsyncClient(
            base_url=self.target.url,
            limits=limits,
            timeout=self.args.request_timeout,
            verify=False,  # noqa: S501 - --stack: the stack's throwaway CA, on 127.0.0.1
        ) as client:
            body = {"email": user.email, "password": user.password}
            r = await self.retried(client, "login", "POST", "/auth/token", json=body)
            if r is None:
                out.gave_up = "login"
                return out
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await self.retried(
                client, "start", "POST", f"/quizzes/{self.quiz_id}/attempts", headers=auth
            )
            if r is None:
                out.gave_up = "start"
                return out
            view = r.json()
            out.attempt_id = view["id"]
            out.deadline = datetime.fromisoformat(view["deadline_at"]).timestamp()
            await self.answer(client, auth, view, out)
            if submits:
                r = await self.retried(
                    client, "submit", "POST", f"/attempts/{out.attempt_id}/submit", headers=auth
                )
                out.submitted = r is not None
        if not out.submitted:
            self.pending[out.attempt_id] = out.deadline
        return out

    async def answer(
        self, client: httpx.AsyncClient, auth: dict[str, str], view: dict[str, Any], out: Outcome
    ) -> None:
        """Answer every question (plus a changed answer or two) at random moments until
        the student's end: a submitter submits 5-60 s before the deadline, the others
        stop answering that long before it and leave."""
        rng = random.Random(self.args.seed * 100_003 + out.index)
        questions = view["questions"]
        window = min(60.0, self.args.quiz_minutes * 60 / 3)
        end = out.deadline - rng.uniform(5.0, window)
        now = time.time()
        changes = [rng.choice(questions) for _ in range(rng.choice((0, 0, 1, 2)))]
        order = list(questions)
        for question in changes:
            order.insert(rng.randrange(1, len(order) + 1), question)  # a change comes later
        moments = sorted(rng.uniform(now + 1, max(now + 2, end - 2)) for _ in order)
        for question, moment in zip(order, moments, strict=True):
            await asyncio.sleep(max(0.0, moment - time.time()))
            ids = [o["id"] for o in question["options"]]
            if question["type"] == "multiple_choice":
                picked = set(rng.sample(ids, rng.randint(1, 3)))
                body: dict[str, Any] = {"option_ids": [i for i in ids if i in picked]}
            else:
                body = {"option_id": rng.choice(ids)}
            path = f"/attempts/{out.attempt_id}/responses/{question['id']}"
            r = await self.retried(client, "save", "PUT", path, json=body, headers=auth)
            if r is not None:
                out.acknowledged[(out.attempt_id, question["id"])] = body
        await asyncio.sleep(max(0.0, end - time.time()))

    async def watch_auto_submit(self, students_done: asyncio.Event) -> None:
        """Poll the database every 0.5 s for the attempts in ``self.pending`` (attempt
        id -> deadline, added as their students leave without a submit) and note when
        each is first seen submitted (seconds after its deadline), in ``self.closed``.
        Runs alongside the students; after the last one, waits at most
        ``--autosubmit-wait`` past the last deadline. The API is not used: reading an
        expired attempt submits it on access."""
        conn = await asyncpg.connect(self.target.db_url)
        until = float("inf")
        try:
            while time.time() < until:
                if students_done.is_set():
                    if not self.pending:
                        return
                    if until == float("inf"):
                        until = max(self.pending.values()) + self.args.autosubmit_wait
                due = [a for a, d in self.pending.items() if d <= time.time()]
                if due:
                    rows = await conn.fetch(
                        "SELECT id FROM attempts WHERE id = any($1::text[])"
                        " AND status = 'submitted'",
                        due,
                    )
                    seen = time.time()
                    for row in rows:
                        self.closed[row["id"]] = round(seen - self.pending.pop(row["id"]), 2)
                await asyncio.sleep(0.5)
        finally:
            await conn.close()


class Sampler:
    """The instances' RSS and CPU time and the machine's busy share, every second."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.rss_max_mb = 0.0
        self.rss_total_max_mb = 0.0
        self.cpu_start = self.cpu()
        self.machine_start = machine_cpu()
        self.samples: list[dict[str, float]] = []

    def cpu(self) -> float:
        return sum(cpu_seconds(p) or 0.0 for p in self.pids)

    async def run(self, t0: float) -> None:
        while True:
            rss = [rss_mb(p) or 0.0 for p in self.pids]
            self.rss_max_mb = max(self.rss_max_mb, *rss)
            self.rss_total_max_mb = max(self.rss_total_max_mb, sum(rss))
            self.samples.append(
                {"t": round(time.monotonic() - t0, 1), "rss_mb": round(sum(rss), 1)}
            )
            await asyncio.sleep(1.0)

    def result(self, seconds: float) -> dict[str, Any]:
        busy, total = machine_cpu()
        used = self.cpu() - self.cpu_start
        return {
            "instance_rss_max_mb": round(self.rss_max_mb, 1),
            "instances_rss_total_max_mb": round(self.rss_total_max_mb, 1),
            "instance_cpu_s": round(used, 1),
            "instance_cpu_pct": round(100 * used / seconds, 1) if seconds else None,
            "machine_busy_pct": round(
                100 * (busy - self.machine_start[0]) / max(1, total - self.machine_start[1]), 1
            ),
        }


# -- the run ------------------------------------------------------------------------------------
async def run_exam(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    base = httpx.AsyncClient(base_url=target.url, timeout=30, verify=False)  # noqa: S501
    run = secrets.token_hex(3)
    limit_s = int(args.quiz_minutes * 60)
    async with base:
        api = Api(base)
        teacher = User(f"teacher.{run}@exam.example.com", secrets.token_urlsafe(18))
        await api.register(teacher, "Exam Teacher", "teacher")
        quiz = await api.call("POST", "/quizzes", teacher.token, quiz_body(args.questions, limit_s))
        await api.call("POST", f"/quizzes/{quiz['id']}/publish", teacher.token, expect=(200,))
    took = time.monotonic()
    students = await create_students(target.db_url, args.students, secrets.token_urlsafe(18), run)
    log(f"{len(students)} students created in {time.monotonic() - took:.1f} s; quiz {quiz['id']}")

    exam = Exam(args, target, quiz["id"])
    rng = random.Random(args.seed)
    silent = set(rng.sample(range(args.students), round(args.students * args.no_submit_share)))
    arrivals = [rng.uniform(0, args.arrival_seconds) for _ in students]
    sampler = Sampler(target.instance_pids)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    exam.t0 = time.monotonic()
    sampling = asyncio.create_task(sampler.run(exam.t0))
    bound = args.arrival_seconds + limit_s + 60
    log(
        f"exam: {args.students} students arrive over {args.arrival_seconds:g} s, "
        f"{args.questions} questions, {limit_s} s limit, {len(silent)} never submit"
    )
    students_done = asyncio.Event()
    watcher = asyncio.create_task(exam.watch_auto_submit(students_done))
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(exam.student(i, s, arrivals[i], i not in silent) for i, s in enumerate(students))
            ),
            timeout=bound,
        )
        students_done.set()
        watched = len(exam.pending) + len(exam.closed)
        log(f"students done; {len(exam.pending)} of {watched} unsubmitted attempts still open")
        await watcher
    finally:
        for task in (sampling, watcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    duration = time.monotonic() - exam.t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime

    attempts = [o for o in outcomes if o.attempt_id]
    acknowledged = {k: v for o in attempts for k, v in o.acknowledged.items()}
    conn = await asyncpg.connect(target.db_url)
    try:
        rows = await conn.fetch(
            "SELECT attempt_id, question_id, payload::text AS payload FROM responses"
            " WHERE attempt_id = any($1::text[])",
            [o.attempt_id for o in attempts],
        )
        status = dict(
            await conn.fetch(
                "SELECT status, count(*) FROM attempts WHERE quiz_id = $1 GROUP BY status",
                quiz["id"],
            )
        )
    finally:
        await conn.close()
    stored = {(r["attempt_id"], r["question_id"]): json.loads(r["payload"]) for r in rows}
    lost = st.compare_answers(acknowledged, stored)

    lat = st.latencies_by_kind(exam.events)
    errors = st.errors_by_kind(exam.events)
    delays = list(exam.closed.values())
    result: dict[str, Any] = {
        "students": len(attempts),
        "students_planned": args.students,
        "instances": len(target.instance_pids),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "lost_answers": lost.lost,
        "answers_acknowledged": lost.checked,
        "lost_detail": asdict(lost),
        "duration_s": round(duration, 1),
        "requests": len(exam.events),
        "gave_up": {k: sum(1 for o in outcomes if o.gave_up == k) for k in ("login", "start")},
        "submitted_by_students": sum(1 for o in outcomes if o.submitted),
        "attempts_by_status": {k: int(v) for k, v in status.items()},
        "auto_submit": {
            "attempts": watched,
            "closed": len(delays),
            "not_closed_within_s": args.autosubmit_wait if len(delays) < watched else None,
            "delay_p50_s": st.percentile(delays, 50),
            "delay_max_s": max(delays) if delays else None,
            "delays_s": sorted(delays),
            "how": target.sweep,
            "resolution_s": 0.5,
        },
        "client_cpu_s": round(client_cpu, 1),
        **sampler.result(duration),
        # argon2 takes 64 MiB per sign-in in flight: the RSS once the sign-ins are over
        "instances_rss_total_max_after_arrivals_mb": max(
            (x["rss_mb"] for x in sampler.samples if x["t"] > args.arrival_seconds + 10),
            default=None,
        ),
        "latency": lat,
        "buckets": st.buckets(exam.events),
        "rss_samples": sampler.samples,
    }
    for kind in st.KINDS:
        for p in ("p50", "p95", "p99"):
            result[f"{p}_{kind}_ms"] = lat[kind][f"{p}_ms"]
    return result


def write_chart(path: Path, rows: list[dict[str, Any]], title: str) -> None:
    """Latency (p50 dashed, p95 solid per 5-s bucket) and requests/s over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    t = [r["t"] for r in rows]
    colours = {"start": "tab:green", "save": "tab:blue", "submit": "tab:red"}
    for kind, colour in colours.items():
        for p, style in (("p95", "-"), ("p50", "--")):
            ys = [r[f"{kind}_{p}_ms"] for r in rows]
            top.plot(t, [float("nan") if y is None else y for y in ys], style, color=colour,
                     label=f"{kind} {p}", marker="." if p == "p95" else None)  # fmt: skip
    top.set_ylabel("latency, ms (2xx only)")
    top.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    top.yaxis.set_major_formatter(plain)
    top.yaxis.set_minor_formatter(plain)
    top.tick_params(axis="y", which="minor", labelsize=7)
    top.grid(True, which="both", alpha=0.3)
    top.legend(ncol=3, fontsize=8)
    top.set_title(title, fontsize=10)
    bottom.bar(t, [r["rps"] for r in rows], width=4.5, align="edge", label="requests/s")
    bottom.bar(t, [r["errors"] / 5 for r in rows], width=4.5, align="edge", color="tab:red",
               label="errors/s")  # fmt: skip
    bottom.set_ylabel("requests/s (by send time)")
    bottom.set_xlabel("seconds since the first student could arrive (5-s buckets)")
    bottom.legend(fontsize=8)
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--students", type=int, default=600, help="students (default 600)")
    p.add_argument("--quiz-minutes", type=float, default=4.0, help="time limit (default 4)")
    p.add_argument("--questions", type=int, default=12, help="questions (default 12)")
    p.add_argument("--arrival-seconds", type=float, default=60.0, help="arrivals spread (60)")
    p.add_argument(
        "--no-submit-share", type=float, default=0.1, help="share that never submits (0.1)"
    )
    p.add_argument(
        "--sweep-interval",
        type=float,
        default=2.0,
        help="QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS of the instance (default 2; production 30;\n"
        "--stack: its worker sweeps every 30 s, fixed)",
    )
    p.add_argument(
        "--autosubmit-wait",
        type=float,
        default=60.0,
        help="after the last deadline, wait at most this long for auto-submits (60 s)",
    )
    p.add_argument("--request-timeout", type=float, default=30.0, help="per request (30 s)")
    p.add_argument("--tries", type=int, default=3, help="tries per request (default 3)")
    p.add_argument(
        "--one-address",
        action="store_true",
        help="keep the production rate limits and sign-in limit per address: the whole\n"
        "class signs in from 127.0.0.1 (a school behind one NAT address)",
    )
    p.add_argument(
        "--shared-address",
        action="store_true",
        help="--one-address with 127.0.0.1 listed in QUIZ_SHARED_ADDRESSES (its per-address\n"
        "limits times QUIZ_SHARED_ADDRESS_FACTOR), as for a school's NAT address",
    )
    p.add_argument("--stack", action="store_true", help="through the one-host stack")
    p.add_argument("--instances", type=int, default=2, help="--stack: instances (default 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--output", type=Path, help="JSON (default var/bench/exam[-stack]-latest.json)")
    args = p.parse_args(argv)
    if args.students < 1 or args.questions < 1 or args.quiz_minutes < 1:
        p.error("--students and --questions must be >= 1, --quiz-minutes >= 1")
    if not 0 <= args.no_submit_share <= 1:
        p.error("--no-submit-share must be within 0..1")
    args.tries = max(1, args.tries)
    name = "exam-stack-latest" if args.stack else "exam-latest"
    args.output = args.output or OUT_DIR / f"{name}.json"
    return args


async def single_main(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    target = await single_instance(args, bench)
    result = await run_exam(args, target)
    return result | {"instance_env": target.env}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.e2e.stack_helpers, for --stack
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "note": "a shared 2-core machine: other work may run during the exam",
    }
    result: dict[str, Any] = {}
    cleanup: list[Callable[[], None]] = []
    try:
        if args.stack:
            import stack as stack_bench

            work = Path(tempfile.mkdtemp(prefix="quiz-bench-exam-"))
            cleanup.append(lambda: shutil.rmtree(work, ignore_errors=True))
            cleanup.insert(0, lambda: stack_bench.stack_down(work / "stack"))
            log(f"quiz stack up in {work / 'stack'} ({args.instances} instances; ~40 s)")
            target = stack_target(args, work / "stack")
            log(f"stack up at {target.url}, instances {target.instance_pids}")
            result = asyncio.run(run_exam(args, target)) | {"instance_env": target.env}
        else:
            bench = Bench(argparse.Namespace(), "")

            def single_cleanup() -> None:
                for problem in bench.release():
                    print(f"clean-up: {problem}", file=sys.stderr)
                for server in bench.servers:
                    server.log_path.unlink(missing_ok=True)

            cleanup.append(single_cleanup)
            bench.claim_redis_db()
            result = asyncio.run(single_main(args, bench))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - any failure of the bench itself: report, exit 1
        print(f"exam bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        for step in cleanup:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - clean up the rest regardless
                print(f"clean-up: {type(exc).__name__}: {exc}", file=sys.stderr)

    meta["load_avg_at_end"] = os.getloadavg()
    line = st.summary_line(result, "exam --stack" if args.stack else "exam")
    out = {**result, "meta": meta, "summary": line, "targets": st.target_checks(result)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str) + "\n")
    chart = args.output.with_suffix(".png")
    title = (
        f"exam day: {result['students']} students, {result['instances']} instance(s)"
        f"{', one address' if args.one_address or args.shared_address else ''}"
        f"{' (shared)' if args.shared_address else ''}, commit {meta['commit']}"
    )
    write_chart(chart, result["buckets"], title)
    if result["errors_by_kind"]:
        print("errors: " + ", ".join(f"{k} x{v}" for k, v in result["errors_by_kind"].items()))
    print(f"results: {args.output}, chart: {chart}")
    print(line)
    if result["lost_answers"]:
        print(f"LOST ANSWERS: {json.dumps(result['lost_detail']['examples'][:3])}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
