#!/usr/bin/env python3
"""Web pages against their budgets (issue 6): bytes on the wire and server time.

1. Creates a database ``quiz_webbench_<pid>``, uses Redis with its own key prefix
   (``QUIZ_REDIS_PREFIX=qpwebbench<pid>:``, deleted at the end), migrates and starts ONE
   ``quiz serve`` (QUIZ_ENV=staging, rate limits raised as in bench/run.py).
2. Sets up over the API: a teacher, 30 published quizzes (the catalogue's first page is
   full), a 10-question quiz of every answered type, 8 students with an attempt in
   progress on it, and a report quiz with 30 submitted attempts.
3. Page weight: each page and the CSS/JS it links, as sent to a browser that accepts
   brotli (and gzip), in KB. Budget: JavaScript + CSS < 60 KB per page.
4. Server time: ``--requests`` requests per page (``--concurrency`` at a time, after a
   warm-up), read from the instance's own access log (``duration_ms``: from the request
   middleware's first line to the last byte), p50/p95/p99. Budget: p95 < 50 ms for the
   quiz-taking page, the catalogue and the report.
5. Prints the table and writes ``var/bench/web-latest.json``; stops the server, drops
   the database and deletes its Redis keys on every way out.

Usage: ``.venv/bin/python bench/web.py [--requests 300] [--concurrency 4]``.
Needs QUIZ_TEST_DATABASE_URL and QUIZ_TEST_REDIS_URL (the Makefile exports them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import redis

from run import (
    BIN,
    OUT_DIR,
    ROOT,
    BenchError,
    Server,
    cpu_seconds,
    free_port,
    git_commit,
    raised_rate_limits,
    random_secret,
    start_server,
    stop_process,
    wait_ready,
    with_path,
)

API = "/api/v1"
PASSWORD = "bench-web-password-42"  # noqa: S105 - throwaway accounts in a throwaway database
JS_CSS_BUDGET_KB = 60.0
P95_BUDGET_MS = 50.0
BUDGETED = ("take (all questions)", "catalogue", "report")
_ASSETS = re.compile(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"')


@dataclass
class Page:
    name: str
    path: str
    route: str  # the route template in the access log
    token: str
    method: str = "GET"
    form: dict[str, Any] = field(default_factory=dict)
    api: bool = False  # a JSON API reference: bearer token instead of the cookie

    def headers(self, encoding: str) -> dict[str, str]:
        if self.api:
            return {"Accept-Encoding": encoding, "Authorization": f"Bearer {self.token}"}
        return {"Accept-Encoding": encoding, "Cookie": f"qp_session={self.token}"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class WebBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pid = os.getpid()
        self.db_name = f"quiz_webbench_{self.pid}"
        self.admin_url = os.environ.get(
            "QUIZ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        self.redis_url = os.environ.get("QUIZ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.prefix = f"qpwebbench{self.pid}:"
        self.server: Server | None = None
        self.db_created = False

    # -- resources --------------------------------------------------------------------
    async def create_database(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self.db_created = True
        finally:
            await conn.close()

    async def cleanup(self) -> None:
        if self.server is not None:
            stop_process(self.server.proc, "app")
        if self.db_created:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await conn.close()
        store = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            keys = list(store.scan_iter(match=self.prefix + "*", count=1000))
            for i in range(0, len(keys), 1000):
                store.delete(*keys[i : i + 1000])
        finally:
            store.close()

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
        env.update(
            QUIZ_ENV="staging",
            QUIZ_SECRET_KEY=random_secret(40),
            QUIZ_DATABASE_URL=with_path(self.admin_url, "/" + self.db_name),
            QUIZ_REDIS_URL=self.redis_url,
            QUIZ_REDIS_PREFIX=self.prefix,
            QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS="0",
        )
        env.update(raised_rate_limits())
        upgrade = subprocess.run(
            [str(BIN / "quiz"), "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if upgrade.returncode != 0:
            raise BenchError(f"quiz db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        port = free_port()
        argv = [str(BIN / "quiz"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        self.server = start_server("web-app", argv, env, port)
        return self.server

    # -- set-up over the API ----------------------------------------------------------
    async def account(self, client: httpx.AsyncClient, name: str, role: str) -> str:
        email = f"{name}@bench.example.org"
        body = {"email": email, "password": PASSWORD, "display_name": name, "role": role}
        r = await client.post(f"{API}/auth/register", json=body)
        if r.status_code != 201:
            raise BenchError(f"register {name}: {r.status_code} {r.text[:300]}")
        r = await client.post(f"{API}/auth/token", json={"email": email, "password": PASSWORD})
        token: str = r.json()["access_token"]
        return token

    async def quiz(self, client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> str:
        auth = {"Authorization": f"Bearer {token}"}
        r = await client.post(f"{API}/quizzes", json=body, headers=auth)
        if r.status_code != 201:
            raise BenchError(f"create quiz: {r.status_code} {r.text[:300]}")
        quiz_id: str = r.json()["id"]
        await client.post(f"{API}/quizzes/{quiz_id}/publish", headers=auth)
        return quiz_id

    async def set_up(self, client: httpx.AsyncClient) -> list[Page]:
        teacher = await self.account(client, "teacher", "teacher")
        for n in range(30):
            await self.quiz(
                client,
                teacher,
                {
                    "title": f"Benchmark catalogue quiz {n}",
                    "description": "A quiz in the catalogue, about benchmarks and their "
                    "pitfalls, with a description long enough to be truncated in the list.",
                    "tags": ["bench", f"topic-{n % 5}"],
                    "questions": [{"type": "true_false", "prompt": "Fast?", "answer": True}],
                },
            )
        take_quiz = await self.quiz(client, teacher, every_type_quiz("Taking a quiz"))
        students = [await self.account(client, f"student{n}", "student") for n in range(8)]
        attempts = []
        for token in students:
            r = await client.post(
                f"{API}/quizzes/{take_quiz}/attempts", headers={"Authorization": f"Bearer {token}"}
            )
            attempts.append((token, r.json()))
        report_quiz = await self.quiz(client, teacher, every_type_quiz("Report quiz"))
        await self.submitted_attempts(client, report_quiz, 30)
        token, attempt = attempts[0]
        first = attempt["questions"][0]
        return [
            Page("API: list quizzes (JSON)", f"{API}/quizzes", f"{API}/quizzes", token, api=True),
            Page(
                "API: attempt (JSON)",
                f"{API}/attempts/{attempt['id']}",
                f"{API}/attempts/{{id}}",
                token,
                api=True,
            ),
            Page("catalogue", "/quizzes", "/quizzes", token),
            Page("catalogue search", "/quizzes?q=benchmark+pitfalls", "/quizzes", token),
            Page("quiz page", f"/quizzes/{take_quiz}", "/quizzes/{quiz_id}", token),
            Page(
                "take (all questions)",
                f"/attempts/{attempt['id']}",
                "/attempts/{attempt_id}",
                token,
            ),
            Page(
                "take (one per page)",
                f"/attempts/{attempt['id']}?view=one&q=3",
                "/attempts/{attempt_id}",
                token,
            ),
            Page(
                "autosave (htmx)",
                f"/attempts/{attempt['id']}/answers/{first['id']}",
                "/attempts/{attempt_id}/answers/{question_id}",
                token,
                method="POST",
                form={"qtype": first["type"], "option_id": first["options"][0]["id"]},
            ),
            Page("report", f"/quizzes/{report_quiz}/report", "/quizzes/{quiz_id}/report", teacher),
        ]

    async def submitted_attempts(self, client: httpx.AsyncClient, quiz_id: str, count: int) -> None:
        for n in range(count):
            token = await self.account(client, f"reporter{n}", "student")
            auth = {"Authorization": f"Bearer {token}"}
            attempt = (await client.post(f"{API}/quizzes/{quiz_id}/attempts", headers=auth)).json()
            for index, question in enumerate(attempt["questions"]):
                if question["type"] in ("single_choice", "multiple_choice"):
                    options = question["options"]
                    choice = options[(n + index) % len(options)]["id"]
                    body: dict[str, Any] = (
                        {"option_id": choice}
                        if question["type"] == "single_choice"
                        else {"option_ids": [choice]}
                    )
                elif question["type"] == "true_false":
                    body = {"value": n % 3 != 0}
                else:
                    continue
                path = f"{API}/attempts/{attempt['id']}/responses/{question['id']}"
                await client.put(path, json=body, headers=auth)
            await client.post(f"{API}/attempts/{attempt['id']}/submit", headers=auth)

    # -- measurements -----------------------------------------------------------------
    async def weight(self, client: httpx.AsyncClient, page: Page) -> dict[str, float]:
        """KB on the wire for brotli and gzip clients: the HTML and the CSS + JS it links."""
        sizes: dict[str, float] = {}
        for encoding in ("br", "gzip"):
            html, raw = await self.fetch(client, page, encoding)
            assets = 0
            for url in sorted(set(_ASSETS.findall(html))):
                async with client.stream("GET", url, headers={"Accept-Encoding": encoding}) as r:
                    assets += len(b"".join([c async for c in r.aiter_raw()]))
            sizes[f"html_{encoding}_kb"] = raw / 1024
            sizes[f"js_css_{encoding}_kb"] = assets / 1024
        return sizes

    async def fetch(self, client: httpx.AsyncClient, page: Page, encoding: str) -> tuple[str, int]:
        headers = page.headers(encoding)
        if page.method == "GET":
            async with client.stream("GET", page.path, headers=headers) as r:
                raw = b"".join([c async for c in r.aiter_raw()])
            text = (await client.get(page.path, headers=headers)).text
            return text, len(raw)
        r = await self.post(client, page, headers)
        return r.text, len(r.content)

    async def post(
        self, client: httpx.AsyncClient, page: Page, headers: dict[str, str]
    ) -> httpx.Response:
        token = page.form.get("csrf_token") or await self.csrf(client, page)
        page.form["csrf_token"] = token
        return await client.post(
            page.path, data=page.form, headers={**headers, "HX-Request": "true"}
        )

    async def csrf(self, client: httpx.AsyncClient, page: Page) -> str:
        html = (await client.get("/dashboard", headers={"Cookie": f"qp_session={page.token}"})).text
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        if match is None:
            raise BenchError("no CSRF token on the dashboard")
        return match.group(1)

    async def load(self, client: httpx.AsyncClient, page: Page, count: int) -> list[float]:
        """``count`` requests, ``--concurrency`` at a time; client-side seconds each."""
        headers = page.headers("br, gzip")
        timings: list[float] = []
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                queue.pop()
                started = time.perf_counter()
                if page.method == "GET":
                    r = await client.get(page.path, headers=headers)
                else:
                    r = await self.post(client, page, headers)
                timings.append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise BenchError(f"{page.name}: {r.status_code} {r.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(self.args.concurrency)))
        return timings

    def server_times(self, since: int) -> dict[str, list[float]]:
        """Access-log durations (ms) per (method, route), from byte ``since`` of the log."""
        assert self.server is not None
        found: dict[str, list[float]] = {}
        with self.server.log_path.open("rb") as fh:
            fh.seek(since)
            for line in fh:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "request" and "duration_ms" in event:
                    key = f"{event.get('method')} {event.get('route')}"
                    found.setdefault(key, []).append(float(event["duration_ms"]))
        return found

    async def run(self) -> dict[str, Any]:
        await self.create_database()
        server = self.start()
        await wait_ready(server, "/health/ready")
        results: dict[str, Any] = {"pages": {}}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            pages = await self.set_up(client)
            for page in pages:
                entry: dict[str, Any] = await self.weight(client, page)
                await self.load(client, page, self.args.warmup)
                offset = server.log_path.stat().st_size
                cpu_before = cpu_seconds(server.proc.pid) or 0.0
                client_times = await self.load(client, page, self.args.requests)
                cpu_used = (cpu_seconds(server.proc.pid) or 0.0) - cpu_before
                await asyncio.sleep(0.3)  # let the last access lines reach the log
                logged = self.server_times(offset).get(f"{page.method} {page.route}", [])
                entry.update(
                    requests=len(logged),
                    server_p50_ms=statistics.median(logged) if logged else float("nan"),
                    server_p95_ms=percentile(logged, 95),
                    server_p99_ms=percentile(logged, 99),
                    client_p95_ms=percentile([t * 1000 for t in client_times], 95),
                    cpu_ms_per_request=cpu_used * 1000 / max(1, len(client_times)),
                )
                results["pages"][page.name] = entry
        results["load_average"] = os.getloadavg()
        return results


def every_type_quiz(title: str) -> dict[str, Any]:
    """Ten questions: every type a student answers, with realistic lengths."""
    prompt = "Read the statement carefully and answer: which of these is right about item {}?"
    return {
        "title": title,
        "description": "A quiz of every question type, for the web benchmark.",
        "questions": [
            {
                "type": "single_choice",
                "prompt": prompt.format(n),
                "options": [
                    {"text": f"Option {c} for item {n}", "correct": c == "A"} for c in "ABCD"
                ],
            }
            for n in (1, 2, 3)
        ]
        + [
            {
                "type": "multiple_choice",
                "prompt": prompt.format(4),
                "options": [
                    {"text": "First right", "weight": 50},
                    {"text": "Second right", "weight": 50},
                    {"text": "Wrong", "weight": -100},
                    {"text": "Also wrong", "weight": -100},
                ],
            },
            {"type": "true_false", "prompt": "The sky is blue on a clear day.", "answer": True},
            {
                "type": "short_answer",
                "prompt": "Capital of France?",
                "answers": [{"text": "Paris"}],
            },
            {"type": "numeric", "prompt": "Pi to 2 places?", "answers": [{"value": 3.14}]},
            {
                "type": "matching",
                "prompt": "Match each animal with its sound.",
                "pairs": [
                    {"left": "cat", "right": "meow"},
                    {"left": "dog", "right": "woof"},
                    {"left": "cow", "right": "moo"},
                    {"left": "duck", "right": "quack"},
                ],
            },
            {
                "type": "ordering",
                "prompt": "Put the planets in order from the Sun.",
                "items": [{"text": t} for t in ("Mercury", "Venus", "Earth", "Mars")],
            },
            {"type": "essay", "prompt": "Explain why the sky is blue.", "points": 5},
        ],
    }


def print_report(results: dict[str, Any]) -> bool:
    ok = True
    reference = results["pages"].get("API: list quizzes (JSON)", {}).get("cpu_ms_per_request")
    header = f"{'page':<26}{'body br KB':>11}{'JS+CSS br KB':>14}{'gzip KB':>9}"
    header += f"{'server p50':>12}{'p95 ms':>8}{'p99 ms':>8}{'CPU ms/req':>12}{'x API':>7}  budget"
    print(header)
    for name, e in results["pages"].items():
        verdicts = []
        if e["js_css_br_kb"] >= JS_CSS_BUDGET_KB or e["js_css_gzip_kb"] >= JS_CSS_BUDGET_KB:
            verdicts.append("JS+CSS FAIL")
        if name in BUDGETED:
            verdicts.append("p95 PASS" if e["server_p95_ms"] < P95_BUDGET_MS else "p95 FAIL")
        ok = ok and not any("FAIL" in v for v in verdicts)
        gzip_total = e["html_gzip_kb"] + e["js_css_gzip_kb"]
        ratio = e["cpu_ms_per_request"] / reference if reference else float("nan")
        print(
            f"{name:<26}{e['html_br_kb']:>11.1f}{e['js_css_br_kb']:>14.1f}{gzip_total:>9.1f}"
            f"{e['server_p50_ms']:>12.1f}{e['server_p95_ms']:>8.1f}{e['server_p99_ms']:>8.1f}"
            f"{e['cpu_ms_per_request']:>12.1f}{ratio:>7.2f}  {', '.join(verdicts) or '-'}"
        )
    load = ", ".join(f"{x:.1f}" for x in results["load_average"])
    print(f"machine load average during the run (2 cores): {load}")
    print("x API: the page's CPU per request over the JSON quiz list's, measured in this run")
    print(
        f"budgets: JS + CSS < {JS_CSS_BUDGET_KB:.0f} KB compressed per page; server p95 < "
        f"{P95_BUDGET_MS:.0f} ms for {', '.join(BUDGETED)}"
    )
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per page first")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (1: server time without queueing behind our own load)",
    )
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    bench = WebBench(args)
    try:
        results = await bench.run()
    finally:
        await bench.cleanup()
    results.update(
        commit=git_commit(),
        requests=args.requests,
        concurrency=args.concurrency,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "web-latest.json").write_text(json.dumps(results, indent=2) + "\n")
    within = print_report(results)
    verdict = "all within budget" if within else "OVER BUDGET"
    print(f"written to {OUT_DIR / 'web-latest.json'}; {verdict}")
    return 0


def main() -> int:
    try:
        return asyncio.run(amain(parse_args()))
    except BenchError as exc:
        print(f"bench/web.py: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
