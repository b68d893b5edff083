"""The `quiz` command as a user runs it: a real process on a throwaway SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

QUIZ = [sys.executable, "-m", "quizplatform.cli"]


def run(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
    base.update({"QUIZ_DATA_DIR": str(tmp / "var"), "QUIZ_CONFIG_DIR": str(tmp / "config")})
    base.update(env)
    return subprocess.run(
        QUIZ + args, cwd=tmp, env=base, capture_output=True, text=True, timeout=120, check=False
    )


def test_help_documents_every_command(tmp_path: Path) -> None:
    out = run(["--help"], tmp_path)
    assert out.returncode == 0
    for command in ("serve", "db", "users", "demo"):
        assert command in out.stdout


def test_upgrade_demo_and_users_create(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    assert run(["db", "upgrade"], tmp_path).returncode == 0  # idempotent
    demo = run(["demo"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "teacher@example.org" in demo.stdout and "password" in demo.stdout
    assert "not loaded again" in run(["demo"], tmp_path).stdout

    password = tmp_path / "pw"
    password.write_text("a-long-admin-passphrase\n")
    ok = run(
        [
            "users",
            "create",
            "--email",
            "root@example.org",
            "--role",
            "admin",
            "--password-file",
            str(password),
        ],
        tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    again = run(
        [
            "users",
            "create",
            "--email",
            "root@example.org",
            "--role",
            "admin",
            "--password-file",
            str(password),
        ],
        tmp_path,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = tmp_path / "weak"
    weak.write_text("password\n")
    bad = run(
        ["users", "create", "--email", "x@example.org", "--password-file", str(weak)], tmp_path
    )
    assert bad.returncode == 1 and "at least 10 characters" in bad.stderr


@pytest.mark.parametrize("command", [["serve", "--port", "1"]])
def test_production_with_sqlite_refuses_to_start(tmp_path: Path, command: list[str]) -> None:
    out = run(command, tmp_path, QUIZ_ENV="production")
    assert out.returncode == 2
    assert "SQLite" in out.stderr and "QUIZ_SECRET_KEY" in out.stderr
