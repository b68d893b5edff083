"""Memory and time of a real `quiz serve` under concurrent sign-ins (argon2id: 64 MiB a
hash; at most ``QUIZ_CPU_SLOTS`` at once).

    PYTHONPATH=. .venv/bin/python bench/login_race_rss.py [--concurrency 2]

Prints the instance's RSS before and at its peak during (a) 40 concurrent wrong
passwords for one account and (b) 40 concurrent right passwords for 40 accounts from one
address, with the status counts and durations."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from tests.e2e.procs import Instance, quiz, quiz_env

PASSWORD = "correct-horse-battery-9"  # noqa: S105 - a throwaway benchmark account


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def run(url: str, pid: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        emails = [f"rss{i}@example.org" for i in range(41)]
        for e in emails:
            r = await client.post(
                "/api/v1/auth/register",
                json={"email": e, "password": PASSWORD, "display_name": e.split("@")[0]},
            )
            assert r.status_code == 201, r.text
        print(f"RSS after start and 41 registrations: {rss_mib(pid):.0f} MiB")
        with Sampler(pid) as s:
            t = time.perf_counter()
            rs = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/auth/token", json={"email": emails[40], "password": f"bad-{i}"}
                    )
                    for i in range(40)
                )
            )
            dt = time.perf_counter() - t
        print(
            f"(a) 40 wrong passwords, one account: {dict(Counter(r.status_code for r in rs))} "
            f"in {dt:.2f} s; peak RSS {s.peak:.0f} MiB"
        )
    # (a) locked 127.0.0.1 out (5 failures per address): (b) comes from 127.0.0.2.
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=url, timeout=120, transport=transport) as client:
        with Sampler(pid) as s:
            t = time.perf_counter()
            rs = await asyncio.gather(
                *(
                    client.post("/api/v1/auth/token", json={"email": e, "password": PASSWORD})
                    for e in emails[:40]
                )
            )
            dt = time.perf_counter() - t
        print(
            f"(b) 40 right passwords, 40 accounts, one address: "
            f"{dict(Counter(r.status_code for r in rs))} in {dt:.2f} s; peak RSS {s.peak:.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = quiz_env(
            tmp,
            QUIZ_DATABASE_URL=f"sqlite:///{tmp / 'quiz.sqlite3'}",
            QUIZ_CPU_SLOTS=str(args.concurrency),
            QUIZ_RATE_LIMIT_ENABLED="false",
        )
        quiz(["db", "upgrade"], env, tmp)
        instance = Instance(tmp, env)
        try:
            instance.wait_ready(timeout=120)
            asyncio.run(run(instance.url, instance.proc.pid))
        finally:
            instance.stop()


if __name__ == "__main__":
    main()
