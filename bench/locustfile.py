"""Load test of YOUR OWN Quiz Platform deployment with locust: students take quizzes,
teachers read their results.

Read docs/operations.md, "Load-testing a deployment safely", before pointing this at
anything. In short: only a deployment you run, bounded in time, loopback by default::

    python bench/locust_seed.py --host http://127.0.0.1:8000      # accounts + a quiz
    locust -f bench/locustfile.py --config var/locust/locust.conf \\
        --headless -u 50 -r 10 --run-time 2m

A student signs in once, then again and again: lists the published quizzes, opens one,
starts (or resumes) an attempt, answers every question with a think time between answers,
saving each answer with ``PUT /attempts/{id}/responses/{question_id}`` (the autosave),
submits and reads the result. A teacher signs in, lists their quizzes, opens one and reads
its report (item analysis) and leaderboard.

Refused (exit code 2, before any request): a host that is not loopback without
``--i-own-this-host``; no ``--run-time`` or one over 30 minutes; no student credentials.
Failed (exit code 1, after the run): the p95 response time over ``--max-p95-ms`` or the
share of failed requests over ``--max-error-rate`` percent, or no request at all.
"""

from __future__ import annotations

import csv
import itertools
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import HttpUser, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from loopback import host_is_loopback

API = "/api/v1"
MAX_RUN_TIME_SECONDS = 30 * 60
EXIT_REFUSED = 2
EXIT_THRESHOLD = 1
log = logging.getLogger("quiz_load")


@dataclass(frozen=True)
class Credential:
    """One account to sign in with."""

    email: str
    password: str


# -- pure checks (no locust state) ---------------------------------------------------------
def safety_problems(host: str | None, run_time: int | None, own_host: bool) -> list[str]:
    """Why this run must not start (empty: it may)."""
    problems = []
    if not host:
        problems.append("no target: give --host (e.g. --host http://127.0.0.1:8000)")
    elif not host_is_loopback(host) and not own_host:
        problems.append(
            f"refusing to load-test {host}: it is not a loopback address (127.0.0.0/8, ::1, "
            "localhost). Load-test only a deployment you run; if this host is yours, say so "
            "with --i-own-this-host (docs/operations.md, 'Load-testing a deployment safely')"
        )
    if not run_time:
        problems.append("a load test must be bounded: give --run-time (e.g. --run-time 2m)")
    elif run_time > MAX_RUN_TIME_SECONDS:
        problems.append(
            f"--run-time {run_time}s is over the cap of {MAX_RUN_TIME_SECONDS // 60} minutes: "
            "run several shorter tests"
        )
    return problems


def threshold_failures(
    requests: int, p95_ms: float, error_rate: float, max_p95_ms: float, max_error_rate: float
) -> list[str]:
    """The thresholds the run missed, each with the measured value (empty: it passed).

    ``error_rate`` and ``max_error_rate`` are percentages of all requests.
    """
    if requests == 0:
        return ["no request was made: nothing was measured"]
    failures = []
    if p95_ms > max_p95_ms:
        failures.append(f"p95 response time {p95_ms:g} ms > --max-p95-ms {max_p95_ms:g}")
    if error_rate > max_error_rate:
        failures.append(f"error rate {error_rate:.2f} % > --max-error-rate {max_error_rate:g} %")
    return failures


def read_students(path: Path) -> list[Credential]:
    """``email,password`` rows of a CSV file (a header row ``email,password`` is skipped)."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "email":
                continue
            out.append(Credential(row[0].strip(), row[1]))
    return out


def student_credentials(options: Any) -> list[Credential]:
    """The students of ``--students-file``, or of ``--student-email-pattern`` (``{n}``:
    1..``--student-count``) with ``--student-password``."""
    if options.students_file:
        return read_students(Path(options.students_file))
    if options.student_email_pattern and options.student_password:
        pattern = str(options.student_email_pattern)
        return [
            Credential(pattern.format(n=n), options.student_password)
            for n in range(1, int(options.student_count) + 1)
        ]
    return []


def response_for(question: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """A plausible answer to a question as a student sees it (None: nothing to answer)."""
    kind = question.get("type")
    if kind == "single_choice":
        return {"option_id": rng.choice(question["options"])["id"]}
    if kind == "multiple_choice":
        ids = [o["id"] for o in question["options"]]
        return {"option_ids": rng.sample(ids, rng.randint(1, len(ids)))}
    if kind == "true_false":
        return {"value": rng.random() < 0.5}
    if kind == "short_answer":
        return {"text": rng.choice(["Paris", "a short answer", "I do not know"])}
    if kind == "numeric":
        return {"value": round(rng.uniform(0, 10), 2)}
    if kind == "matching":
        rights = [r["id"] for r in question["rights"]]
        return {"matches": {left["id"]: rng.choice(rights) for left in question["lefts"]}}
    if kind == "ordering":
        ids = [i["id"] for i in question["items"]]
        rng.shuffle(ids)
        return {"item_ids": ids}
    if kind == "essay":
        return {"text": "A few sentences written under load. " * rng.randint(1, 8)}
    return None  # a description, or a type this file does not know


# -- command line ----------------------------------------------------------------------------
def add_arguments(parser: LocustArgumentParser) -> None:
    """The accounts, the target quiz, the think time, the thresholds and the safety flag."""
    # locust's web UI and a --processes master listen on every interface by default; this
    # load generator listens on loopback only unless the operator says otherwise.
    parser.set_defaults(web_host="127.0.0.1", master_bind_host="127.0.0.1")
    # parser.add_argument, not a group's: only the parser takes is_secret / include_in_web_ui
    group = parser
    group.add_argument("--students-file", default="", help="CSV of email,password per student")
    group.add_argument(
        "--student-email-pattern",
        default="",
        help="e.g. load-{n}@example.org (with --student-password)",
    )
    group.add_argument("--student-password", default="", is_secret=True)
    group.add_argument("--student-count", type=int, default=10, help="{n} runs 1..count")
    group.add_argument("--teacher-email", default="")
    group.add_argument("--teacher-password", default="", is_secret=True)
    group.add_argument("--teachers", type=int, default=1, help="simulated teachers (fixed)")
    group.add_argument("--quiz-id", default="", help="the quiz to take (default: any published)")
    group.add_argument("--think-min", type=float, default=2.0, help="seconds between answers")
    group.add_argument("--think-max", type=float, default=8.0)
    group.add_argument("--ca-bundle", default="", help="CA file for a self-signed HTTPS host")
    group.add_argument("--max-p95-ms", type=float, default=500.0, help="fail above (ms)")
    group.add_argument("--max-error-rate", type=float, default=1.0, help="fail above (%%)")
    group.add_argument(
        "--i-own-this-host",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="allow a host that is not loopback: only a deployment you run",
    )


_students: list[Credential] = []
_spawned = itertools.count()


def next_student(environment: Environment) -> Credential:
    """The account of the next simulated student: each in turn, then round again.

    With ``--processes N`` the workers interleave (worker i takes i, i + N, ...), so no two
    workers start on the same account. Workers on other machines need their own files.
    """
    runner = environment.runner
    options = environment.parsed_options
    workers, index = 1, 0
    if isinstance(runner, WorkerRunner):
        workers = max(1, int(getattr(options, "processes", 0) or 0))
        index = runner.worker_index % workers
    return _students[(next(_spawned) * workers + index) % len(_students)]


def check_before_start(environment: Environment, **_: Any) -> None:
    """Refuse an unsafe or unbounded run, and a run without accounts, before any request."""
    global _students
    options = environment.parsed_options
    if options is None:  # used as a library: the caller checks
        return
    worker = bool(getattr(options, "worker", False))  # a worker gets its run time from the master
    problems = safety_problems(
        environment.host, 1 if worker else options.run_time, options.i_own_this_host
    )
    students = student_credentials(options)
    if not students:
        problems.append(
            "no student accounts: give --students-file, or --student-email-pattern with "
            "--student-password (bench/locust_seed.py makes some on a local instance)"
        )
    if problems:
        for problem in problems:
            log.error("quiz load test refused: %s", problem)
        sys.exit(EXIT_REFUSED)
    if options.num_users and len(students) < options.num_users - options.teachers:
        log.warning(
            "%d student accounts for up to %d simulated students: accounts are shared, and "
            "two users on one attempt see 409s after the other submits",
            len(students),
            options.num_users - options.teachers,
        )
    _students = students
    teachers = options.teachers if options.teacher_email and options.teacher_password else 0
    TeacherUser.fixed_count = teachers
    if teachers == 0:
        environment.user_classes[:] = [c for c in environment.user_classes if c is not TeacherUser]


def check_thresholds(environment: Environment, **_: Any) -> None:
    """Fail the run (exit code 1) when p95 or the error rate is over its threshold."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    total = environment.stats.total
    p95 = float(total.get_response_time_percentile(0.95) or 0)
    failures = threshold_failures(
        total.num_requests,
        p95,
        total.fail_ratio * 100,
        options.max_p95_ms,
        options.max_error_rate,
    )
    for failure in failures:
        log.error("quiz load test FAILED: %s", failure)
    if failures:
        environment.process_exit_code = EXIT_THRESHOLD
    else:
        log.info(
            "quiz load test passed: %d requests, p95 %g ms <= %g, errors %.2f %% <= %g %%",
            total.num_requests,
            p95,
            options.max_p95_ms,
            total.fail_ratio * 100,
            options.max_error_rate,
        )


# locust's EventHook.add_listener has no annotations: as a decorator it would untype these.
events.init_command_line_parser.add_listener(add_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(check_before_start)  # type: ignore[no-untyped-call]
events.quitting.add_listener(check_thresholds)  # type: ignore[no-untyped-call]


# -- the users --------------------------------------------------------------------------------
class QuizUser(HttpUser):
    """Signs in with a bearer token and calls the API, counting unexpected statuses as failures."""

    abstract = True
    credential: Credential
    token: str | None = None

    def think(self, factor: float = 1.0) -> float:
        """Seconds to wait, between --think-min and --think-max (times ``factor``)."""
        options = self.environment.parsed_options
        low, high = (options.think_min, options.think_max) if options else (2.0, 8.0)
        return random.uniform(low, max(low, high)) * factor

    def on_start(self) -> None:
        options = self.environment.parsed_options
        # The web UI can change the host after the start-up check: check again.
        own = bool(options and options.i_own_this_host)
        if not host_is_loopback(self.host) and not own:
            log.error("quiz load test refused: %s is not loopback (--i-own-this-host)", self.host)
            self.environment.process_exit_code = EXIT_REFUSED
            raise StopUser()
        if options and options.ca_bundle:
            self.client.verify = options.ca_bundle

    def sign_in(self) -> bool:
        """Exchange the credential for a token; False if that failed (counted as a failure)."""
        body = {"email": self.credential.email, "password": self.credential.password}
        data = self.call("POST", "/auth/token", "/auth/token", body=body, auth=False)
        self.token = data["access_token"] if isinstance(data, dict) else None
        return self.token is not None

    def call(
        self,
        method: str,
        path: str,
        name: str,
        body: Any = None,
        expect: tuple[int, ...] = (200,),
        auth: bool = True,
    ) -> Any:
        """One API request, named by its route template; the JSON answer, or None on failure."""
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        with self.client.request(
            method, API + path, name=API + name, json=body, headers=headers, catch_response=True
        ) as r:
            if r.status_code not in expect:
                if r.status_code == 401:
                    self.token = None  # expired or revoked: sign in again next time
                r.failure(f"{r.status_code} (expected {expect}): {r.text[:200]}")
                return None
            try:
                data = r.json() if r.content else {}
            except ValueError:
                r.failure("the answer is not JSON")
                return None
            r.success()
            return data

    def chosen_quiz(self, listed: Any) -> str | None:
        """--quiz-id, else a random quiz of a list answer."""
        options = self.environment.parsed_options
        if options and options.quiz_id:
            return str(options.quiz_id)
        items = listed.get("items", []) if isinstance(listed, dict) else []
        return str(random.choice(items)["id"]) if items else None


class StudentUser(QuizUser):
    """A student taking quizzes one after another."""

    weight = 1

    def wait_time(self) -> float:
        return self.think()

    def on_start(self) -> None:
        super().on_start()
        self.credential = next_student(self.environment)
        self.rng = random.Random()

    @task
    def take_a_quiz(self) -> None:
        """List, open, start, answer each question (autosaved), submit, read the result."""
        if self.token is None and not self.sign_in():
            return
        quiz_id = self.chosen_quiz(self.call("GET", "/quizzes?per_page=20", "/quizzes"))
        if quiz_id is None or self.call("GET", f"/quizzes/{quiz_id}", "/quizzes/[id]") is None:
            return
        attempt = self.call(
            "POST", f"/quizzes/{quiz_id}/attempts", "/quizzes/[id]/attempts", expect=(200, 201)
        )
        if not isinstance(attempt, dict):
            return
        attempt_id = attempt["id"]
        for question in attempt.get("questions", []):
            answer = response_for(question, self.rng)
            if answer is None:
                continue
            time.sleep(self.think())
            path = f"/attempts/{attempt_id}/responses/{question['id']}"
            if self.call("PUT", path, "/attempts/[id]/responses/[question_id]", answer) is None:
                return
        time.sleep(self.think())
        if self.call("POST", f"/attempts/{attempt_id}/submit", "/attempts/[id]/submit") is None:
            return
        self.call("GET", f"/attempts/{attempt_id}", "/attempts/[id]")


class TeacherUser(QuizUser):
    """A teacher looking at the results of their quizzes now and then."""

    fixed_count = 1  # set from --teachers (0 without teacher credentials) at start-up

    def wait_time(self) -> float:
        return self.think(factor=3.0)

    def on_start(self) -> None:
        super().on_start()
        options = self.environment.parsed_options
        self.credential = Credential(
            options.teacher_email if options else "", options.teacher_password if options else ""
        )

    @task
    def review_results(self) -> None:
        """List own quizzes, open one, read its report (item analysis) and leaderboard."""
        if self.token is None and not self.sign_in():
            return
        mine = self.call("GET", "/quizzes?mine=true&per_page=20", "/quizzes?mine=true")
        quiz_id = self.chosen_quiz(mine)
        if quiz_id is None or self.call("GET", f"/quizzes/{quiz_id}", "/quizzes/[id]") is None:
            return
        self.call("GET", f"/quizzes/{quiz_id}/report", "/quizzes/[id]/report")
        self.call("GET", f"/quizzes/{quiz_id}/leaderboard", "/quizzes/[id]/leaderboard")
