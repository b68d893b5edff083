"""SIGTERM drill on a real `quiz serve` process: not ready at once, in-flight requests
finish, exit 0."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from tests.e2e.procs import Instance, quiz, quiz_env


async def test_sigterm_drains_then_finishes_in_flight_requests(tmp_path: Path) -> None:
    env = quiz_env(
        tmp_path,
        QUIZ_DIAGNOSTIC_ROUTES="true",
        QUIZ_SHUTDOWN_DRAIN_DELAY="1.5",
        QUIZ_SHUTDOWN_TIMEOUT="30",
    )
    quiz(["db", "upgrade"], env, tmp_path)
    instance = Instance(tmp_path, env)
    try:
        instance.wait_ready()
        async with (
            httpx.AsyncClient(base_url=instance.url, timeout=20) as client,
            httpx.AsyncClient(base_url=instance.url, timeout=2) as probe,
        ):
            assert (await probe.get("/health/ready")).status_code == 200  # warm connection
            slow = asyncio.create_task(client.get("/_diag/sleep", params={"seconds": 3}))
            await asyncio.sleep(0.5)  # the slow request is in flight
            instance.proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            ready = await probe.get("/health/ready")
            flipped_after = time.monotonic() - sent
            assert ready.status_code == 503 and ready.json()["reason"] == "draining"
            assert flipped_after < 0.1, f"readiness flipped after {flipped_after:.3f} s"
            # still serving during the drain delay
            assert (await probe.get("/health/live")).status_code == 200
            response = await slow
            assert response.status_code == 200 and response.json() == {"slept": 3}
        code = await asyncio.to_thread(instance.proc.wait, 30)
        assert code == 0
        # no longer accepting connections
        try:
            await asyncio.to_thread(httpx.get, f"{instance.url}/health/live", timeout=1)
            raise AssertionError("still accepting after shutdown")
        except httpx.ConnectError:
            pass
    finally:
        instance.stop()
