#!/usr/bin/env python3
"""Accounts and a published quiz for trying bench/locustfile.py against a LOCAL instance.

Registers N students and a teacher through the API (``POST /auth/register``), creates and
publishes a quiz of one question of each answerable type, and writes into ``--out``
(default ``var/locust``):

- ``students.csv``: ``email,password`` per student (the locustfile's ``--students-file``);
- ``locust.conf``: host, students file, teacher and quiz id, for ``locust --config``.

Loopback hosts only: a deployment elsewhere gets its accounts from its operator (who
creates them with ``quiz users create`` or the API), never from this script. Usage::

    python bench/locust_seed.py --host http://127.0.0.1:8000 --students 20
    locust -f bench/locustfile.py --config var/locust/locust.conf \\
        --headless -u 20 -r 5 --run-time 1m

Registration is rate-limited per address (docs/operations.md, "Rate limits"): a 429 is
waited out (``Retry-After``) and retried.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from loopback import host_is_loopback

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"


QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "single_choice",
        "prompt": "Which planet is closest to the Sun?",
        "options": [
            {"text": "Mercury", "correct": True},
            {"text": "Venus"},
            {"text": "Mars"},
            {"text": "Earth"},
        ],
    },
    {
        "type": "multiple_choice",
        "prompt": "Which of these are prime?",
        "options": [
            {"text": "2", "weight": 50},
            {"text": "3", "weight": 50},
            {"text": "4", "weight": -100},
        ],
    },
    {"type": "true_false", "prompt": "Water boils at 100 °C at sea level.", "answer": True},
    {"type": "short_answer", "prompt": "Capital of France?", "answers": [{"text": "Paris"}]},
    {"type": "numeric", "prompt": "2.5 x 2 = ?", "answers": [{"value": 5, "tolerance": 0}]},
    {
        "type": "matching",
        "prompt": "Match the animal and its sound",
        "pairs": [{"left": "cat", "right": "meow"}, {"left": "dog", "right": "woof"}],
    },
    {
        "type": "ordering",
        "prompt": "Smallest first",
        "items": [{"text": "1"}, {"text": "10"}, {"text": "100"}],
    },
]


class Seeder:
    """Calls the API, waiting out 429s."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, token: str = "") -> Any:
        """One request; the JSON answer. Exits 1 with the answer on an unexpected status."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for _ in range(20):
            r = self.client.request(method, API + path, json=body, headers=headers)
            if r.status_code == 429:
                time.sleep(min(float(r.headers.get("Retry-After", "5") or 5), 60))
                continue
            if r.status_code >= 300:
                sys.exit(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
            return r.json() if r.content else None
        sys.exit(f"{method} {path}: still rate-limited after 20 tries")

    def register(self, email: str, password: str, role: str, name: str) -> None:
        """Create one account."""
        body = {"email": email, "password": password, "display_name": name, "role": role}
        self.call("POST", "/auth/register", body)


def main(argv: list[str] | None = None) -> int:
    """Seed, write the files, print the locust command."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "locust")
    args = parser.parse_args(argv)
    host = args.host.rstrip("/")
    if not host_is_loopback(host):
        print(
            f"refusing to seed {host}: loopback hosts only (localhost, 127.0.0.0/8, ::1)",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.students <= 10_000:
        print("--students must be 1..10000", file=sys.stderr)
        return 2
    run = secrets.token_hex(4)
    password = f"load-{secrets.token_urlsafe(12)}"
    teacher = f"load-teacher-{run}@example.org"
    students = [f"load-student-{run}-{n}@example.org" for n in range(1, args.students + 1)]
    with httpx.Client(base_url=host, timeout=30) as client:
        seeder = Seeder(client)
        seeder.register(teacher, password, "teacher", "Load teacher")
        token = seeder.call("POST", "/auth/token", {"email": teacher, "password": password})
        quiz = {
            "title": f"Load test quiz {run}",
            "description": "Made by bench/locust_seed.py",
            "questions": QUESTIONS,
        }
        quiz_id = seeder.call("POST", "/quizzes", quiz, token["access_token"])["id"]
        seeder.call("POST", f"/quizzes/{quiz_id}/publish", None, token["access_token"])
        for n, email in enumerate(students, 1):
            seeder.register(email, password, "student", f"Load student {n}")
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "students.csv"
    csv_path.write_text("email,password\n" + "".join(f"{e},{password}\n" for e in students))
    conf = args.out / "locust.conf"
    conf.write_text(
        f"host = {host}\nstudents-file = {csv_path.resolve()}\nteacher-email = {teacher}\n"
        f"teacher-password = {password}\nquiz-id = {quiz_id}\n"
    )
    for path in (csv_path, conf):
        path.chmod(0o600)  # passwords
    print(f"{args.students} students, teacher {teacher}, quiz {quiz_id}")
    print(f"wrote {csv_path} and {conf}; now:")
    print(
        f"  locust -f bench/locustfile.py --config {conf} --headless "
        f"-u {min(args.students, 20)} -r 5 --run-time 1m"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
