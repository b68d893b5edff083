"""The OpenAPI document is a contract: schemathesis generates requests from it against a
real instance on PostgreSQL and Redis, signed in as a teacher, with all its checks, and
finds no failure.

Before: 33 contract failures (undocumented 401/403/404/409/413/429, request schemas
looser than the validation, no ``Allow`` on 405)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import PG_URL, REDIS_URL
from tests.e2e.procs import Instance, free_port, quiz, quiz_env
from tests.e2e.stack_helpers import record_measurements
from tests.fakes.smtp import Inbox

PASSWORD = "correct-horse-battery-9"
# Operations that end the token the run signs in with (each has its own tests).
EXCLUDED = r"^/api/v1/(auth/logout|auth/logout-all|me/password|me/sessions/\{session_id\})$"
EXAMPLES = int(os.environ.get("QUIZ_CONTRACT_EXAMPLES", "10"))


async def _database(name: str, create: bool) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("contract")
    name = f"qpcontract_{uuid.uuid4().hex[:8]}"
    asyncio.run(_database(name, create=True))
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = quiz_env(
        tmp,
        QUIZ_DATABASE_URL=PG_URL.rsplit("/", 1)[0] + f"/{name}",
        QUIZ_REDIS_URL=REDIS_URL,
        QUIZ_REDIS_PREFIX=f"{name}:",
        QUIZ_RATE_LIMIT_ENABLED="false",
        QUIZ_SMTP_HOST="127.0.0.1",
        QUIZ_SMTP_PORT=str(smtp.port),
        QUIZ_SMTP_STARTTLS="false",
    )
    server: Instance | None = None
    try:
        quiz(["db", "upgrade"], env, tmp)
        server = Instance(tmp, env)
        server.wait_ready(timeout=60)
        account = {"email": "contract@example.org", "password": PASSWORD}
        httpx.post(
            f"{server.url}/api/v1/auth/register",
            json={**account, "display_name": "Contract", "role": "teacher"},
        ).raise_for_status()
        token = httpx.post(f"{server.url}/api/v1/auth/token", json=account).json()
        yield server.url, token["access_token"]
    finally:
        if server is not None:
            server.stop()
        smtp.stop()
        asyncio.run(_database(name, create=False))


def test_schemathesis_finds_no_failure(instance: tuple[str, str], tmp_path: Path) -> None:
    url, token = instance
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(EXAMPLES),
            "--exclude-path-regex",
            EXCLUDED,
            "--generation-deterministic",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = done.stdout[-4000:]
    generated = re.search(r"(\d+) generated", summary)
    assert generated, summary
    print(summary[-1500:])
    record_measurements(
        "schemathesis",
        {"cases": int(generated.group(1)), "examples_per_operation": EXAMPLES},
    )
    report.write_text(json.dumps({"stdout": done.stdout[-20000:]}))
    assert done.returncode == 0, _failures(done.stdout)


def _failures(output: str) -> str:
    """The failures section, without the (possibly huge) request bodies."""
    lines = [line[:300] for line in output.splitlines() if "\\u" not in line]
    return "\n".join(lines[-250:])
