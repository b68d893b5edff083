"""The image's commands, run outside a container (this machine runs none) from an
environment built the way the Dockerfile builds /opt/venv: scripts/build-runtime-env.sh
(uv.lock, --frozen, no dev group, the project as a wheel), the runtime stage's ENV with
its paths mapped into a scratch "root", a clean environment, PostgreSQL + Redis.

Checked: ``db upgrade`` exits 0 (twice), the default command (``serve``) answers
``/health/ready`` and the HEALTHCHECK one-liner, then stops cleanly on SIGTERM; ``worker``
serves its metrics port (and the one-liner with HEALTHCHECK_URL), then stops on SIGTERM;
none of them writes outside the data directory and /tmp (the image's volumes).
Not checked here: building and running the image itself (no container engine).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from tests.conftest import PG_URL, REDIS_URL
from tests.deploy.dockerfile import (
    BUILD_SCRIPT,
    ROOT,
    healthcheck_command,
    instructions,
    last,
    runtime_env,
)
from tests.e2e.procs import free_port

pytestmark = pytest.mark.postgres
BUILD_ARGS = {"VERSION": "0.0.0-test", "COMMIT": "feedc0de"}
# The container paths of the runtime stage, and where this test puts them.
VENV, APP, DATA = "/opt/venv", "/app", "/var/lib/quiz"
BUILD_BUDGET_SECONDS = 60.0  # above this, say so: `make test` is near its time budget
STOP_SECONDS = 15.0
DRAIN_SECONDS = "1"  # the image's profile says 5 s; the drill needs no more than 1


@dataclass
class Image:
    """The emulated image: its environment, root directory and build time."""

    root: Path
    env: dict[str, str]
    build_seconds: float

    @property
    def venv(self) -> Path:
        return self.root / VENV.lstrip("/")

    def entrypoint(self, *args: str) -> list[str]:
        """ENTRYPOINT + args, ``quiz`` taken from the environment's bin directory."""
        command = last(instructions(), "ENTRYPOINT").exec_form()
        return [str(self.venv / "bin" / command[0]), *command[1:], *args]

    def default_command(self) -> list[str]:
        return last(instructions(), "CMD").exec_form()


def _uv() -> str:
    found = shutil.which("uv")
    return found or f"{sys._base_executable} -m uv"


def _map(value: str, root: Path) -> str:
    for path in (VENV, APP, DATA):
        value = value.replace(path, str(root / path.lstrip("/")))
    return value


async def _database(statement: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _forget_redis_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    root = tmp_path_factory.mktemp("image-root")
    env_build = {k: v for k, v in os.environ.items() if not k.startswith(("QUIZ_", "VIRTUAL"))}
    env_build |= {"UV": _uv(), "UV_PYTHON": sys._base_executable}
    started = time.monotonic()
    subprocess.run(
        [str(BUILD_SCRIPT), str(root / VENV.lstrip("/"))],
        env=env_build,
        check=True,
        capture_output=True,
        timeout=600,
    )
    build_seconds = time.monotonic() - started
    shutil.copytree(ROOT / "config", root / APP.lstrip("/") / "config")
    for path in (DATA.lstrip("/"), "tmp", "home"):
        (root / path).mkdir(parents=True)
    secret = root / "run" / "secrets" / "secret_key"
    secret.parent.mkdir(parents=True)
    secret.write_text(uuid.uuid4().hex * 2)
    database = f"qpimage_{uuid.uuid4().hex[:8]}"
    asyncio.run(_database(f'CREATE DATABASE "{database}"'))
    env = {k: _map(v, root) for k, v in runtime_env(BUILD_ARGS).items()}
    env |= {
        # What the base image provides, and a clean rest: nothing leaks from this session.
        "PATH": env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "TMPDIR": str(root / "tmp"),
        "LANG": "C.UTF-8",
        # What a deployment adds (docs/deploy-image.md): PostgreSQL, Redis, a secret file.
        "QUIZ_DATABASE_URL": f"{PG_URL.rsplit('/', 1)[0]}/{database}",
        "QUIZ_REDIS_URL": REDIS_URL,
        "QUIZ_REDIS_PREFIX": f"{database}:",
        "QUIZ_SECRET_KEY_FILE": str(secret),
        "QUIZ_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "QUIZ_PUBLIC_URL": "https://quiz.example.org",
        "QUIZ_SHUTDOWN_DRAIN_DELAY": DRAIN_SECONDS,
    }
    try:
        yield Image(root, env, build_seconds)
    finally:
        asyncio.run(_database(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        _forget_redis_keys(f"{database}:")


def _snapshot(image: Image) -> dict[str, int]:
    """Every file of the read-only parts (the environment, /app, $HOME) with its mtime."""
    files: dict[str, int] = {}
    for part in (image.venv, image.root / APP.lstrip("/"), image.root / "home"):
        for path in part.rglob("*"):
            files[str(path)] = path.lstat().st_mtime_ns
    return files


@contextmanager
def _writes_only_to_volumes(image: Image) -> Iterator[None]:
    before = _snapshot(image)
    yield
    after = _snapshot(image)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"written outside the volumes (read-only in the image): {changed[:10]}"


def _run(image: Image, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        image.entrypoint(*args),
        env=image.env,
        cwd=image.root / APP.lstrip("/"),  # WORKDIR
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _process(image: Image, log: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running command; killed in any case when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            image.entrypoint(*args),
            env=image.env | env,
            cwd=image.root / APP.lstrip("/"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode} before {url} answered:\n{log.read_text()}")
        try:
            response = httpx.get(url, timeout=1)
            if response.status_code == 200:
                return response.text
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer 200 within {timeout} s:\n{log.read_text()}")


def _healthcheck(image: Image, **env: str) -> int:
    """The HEALTHCHECK's command line as the Dockerfile writes it (python from PATH)."""
    command = healthcheck_command(instructions())
    python = shutil.which(command[0], path=image.env["PATH"])
    assert python == str(image.venv / "bin" / "python"), python
    done = subprocess.run(
        [python, *command[1:]], env=image.env | env, capture_output=True, timeout=10
    )
    return done.returncode


def _stop(proc: subprocess.Popen[bytes], log: Path) -> float:
    """SIGTERM (the STOPSIGNAL); the exit code must be 0 within STOP_SECONDS."""
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        code = proc.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_SECONDS} s after SIGTERM:\n{log.read_text()}")
    assert code == 0, f"exit code {code} after SIGTERM:\n{log.read_text()}"
    return time.monotonic() - sent


def test_runtime_environment_is_built_from_the_lock(
    image: Image, record_property: pytest.RecordProperty
) -> None:
    record_property("build_seconds", round(image.build_seconds, 1))
    site = next(image.venv.glob("lib/python3*/site-packages"))
    assert not list(site.glob("pytest*")) and not list(site.glob("mypy*")), "dev group installed"
    direct = next(site.glob("quizplatform-*.dist-info")) / "direct_url.json"
    assert '"editable":false' in direct.read_text().replace(" ", ""), "installed editable"
    assert (site / "quizplatform" / "db" / "migrations" / "env.py").is_file()
    assert image.build_seconds < BUILD_BUDGET_SECONDS * 3, f"{image.build_seconds:.0f} s"


def test_db_upgrade_exits_0_and_again(image: Image) -> None:
    with _writes_only_to_volumes(image):
        first = _run(image, "db", "upgrade")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "PostgreSQL" in first.stdout
        again = _run(image, "db", "upgrade")
        assert again.returncode == 0, again.stdout + again.stderr


def _on_loopback(command: list[str]) -> list[str]:
    """``command`` with the value of its ``--host`` option replaced by 127.0.0.1."""
    assert "--host" in command, command
    at = command.index("--host") + 1
    return [*command[:at], "127.0.0.1", *command[at + 1 :]]


def test_default_command_serves_and_stops_on_sigterm(image: Image, tmp_path: Path) -> None:
    _run(image, "db", "upgrade").check_returncode()
    port = free_port()
    log = tmp_path / "serve.log"
    # The image's CMD as written but for its bind address: the test binds loopback only.
    args = _on_loopback(image.default_command())
    assert args[args.index("--host") + 1] == "127.0.0.1"
    with _writes_only_to_volumes(image), _process(image, log, *args, QUIZ_PORT=str(port)) as proc:
        _wait_for(f"http://127.0.0.1:{port}/health/ready", proc, log)
        version = httpx.get(f"http://127.0.0.1:{port}/api/v1/version", timeout=5).json()
        assert version["commit"] == BUILD_ARGS["COMMIT"]
        assert version["environment"] == "production"
        assert _healthcheck(image, QUIZ_PORT=str(port)) == 0
        assert _healthcheck(image, QUIZ_PORT=str(free_port())) != 0  # the check can fail
        _stop(proc, log)


def test_worker_serves_its_metrics_and_stops_on_sigterm(image: Image, tmp_path: Path) -> None:
    _run(image, "db", "upgrade").check_returncode()
    port = free_port()
    log = tmp_path / "worker.log"
    args = ["worker", "--metrics-host", "127.0.0.1", "--metrics-port", str(port)]
    with _writes_only_to_volumes(image), _process(image, log, *args) as proc:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        body = _wait_for(metrics_url, proc, log)
        assert "quiz_jobs_running" in body
        assert _healthcheck(image, HEALTHCHECK_URL=metrics_url) == 0
        _stop(proc, log)


def test_configuration_is_production_fit_from_the_image_paths(image: Image) -> None:
    """The profile comes from /app/config/production.toml, the secret from its file, and
    the documented deployment settings pass `quiz config check`."""
    shown = _run(image, "config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    sources = {row["name"]: row["source"] for row in json.loads(shown.stdout)}
    profile = image.root / APP.lstrip("/") / "config" / "production.toml"
    assert sources["token_ttl_seconds"] == f"file:{profile}"
    assert sources["secret_key"] != "default", sources["secret_key"]
    checked = _run(image, "config", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
