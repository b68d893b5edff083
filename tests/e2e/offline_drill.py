"""Run inside a network namespace with nothing but loopback (see test_offline_drafts.py),
as ``python -m tests.e2e.offline_drill WORKDIR SOURCE`` from the checkout.

Proves there is no network, then does what `make run` does — `quiz db upgrade` and
`quiz serve` with the embedded defaults (SQLite, in-process store, offline AI provider,
embedded job runner) — and asks it for a draft from a page of text. Prints one JSON line
with the job and the draft quiz for the test to check; exits non-zero on any failure.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.procs import Instance, quiz, quiz_env

PASSWORD = "correct-horse-battery-9"


def loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2 (a new namespace's lo is down)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


def no_network() -> str:
    """Fail unless the outside world is unreachable; the error seen, for the record."""
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect(("1.1.1.1", 443))
        except OSError as exc:
            return str(exc)
    raise SystemExit("the network is reachable: this drill proves nothing")


def main(workdir: Path, source: Path) -> None:
    loopback_up()
    unreachable = no_network()
    env = quiz_env(workdir)  # no QUIZ_* of the caller's: the embedded defaults
    quiz(["db", "upgrade"], env, workdir)
    server = Instance(workdir, env)
    try:
        server.wait_ready(timeout=90)
        result = draft(server.url, source.read_text())
        result["unreachable"] = unreachable
        print(json.dumps(result))
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=30)


def draft(url: str, text: str) -> dict[str, object]:
    account = {"email": "t@example.org", "password": PASSWORD}
    httpx.post(
        f"{url}/api/v1/auth/register",
        json={**account, "display_name": "Offline", "role": "teacher"},
    ).raise_for_status()
    token = httpx.post(f"{url}/api/v1/auth/token", json=account).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"source_text": text, "num_questions": 10}
    job = httpx.post(f"{url}/api/v1/ai/quizzes", json=body, headers=headers).json()
    deadline = time.monotonic() + 60
    while job["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit(f"the job did not finish: {job}")
        time.sleep(0.2)
        job = httpx.get(f"{url}/api/v1/jobs/{job['id']}", headers=headers).json()
    quiz = None
    if job["quiz_id"]:
        quiz = httpx.get(f"{url}/api/v1/quizzes/{job['quiz_id']}", headers=headers).json()
    health = httpx.get(f"{url}/health").json()
    return {"job": job, "quiz": quiz, "ai_health": health["checks"]["ai"]}


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
