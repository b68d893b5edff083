"""`quiz config show/check` as an operator runs them: a real process in a scratch directory
holding a copy of the shipped config/ profiles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QUIZ = [sys.executable, "-m", "quizplatform.cli"]
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
SECRET = "k3y-" + "Z" * 36  # 40 characters
DB_PASSWORD = "db-pass-31337"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(REPO_CONFIG, tmp_path / "config")
    return tmp_path


def quiz(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("QUIZ_")}
    base.update({"QUIZ_DATA_DIR": str(cwd / "var"), "COLUMNS": "250"})
    base.update(env)
    return subprocess.run(
        QUIZ + args, cwd=cwd, env=base, capture_output=True, text=True, timeout=120, check=False
    )


def proper_production(cwd: Path) -> dict[str, str]:
    secret_file = cwd / "secret_key"
    secret_file.write_text(SECRET + "\n")
    return {
        "QUIZ_ENV": "production",
        "QUIZ_DATABASE_URL": f"postgresql://quiz:{DB_PASSWORD}@db.internal:5432/quiz",
        "QUIZ_REDIS_URL": "redis://cache.internal:6379/0",
        "QUIZ_SECRET_KEY_FILE": str(secret_file),
        "QUIZ_TRUSTED_PROXIES": '["172.16.0.0/12"]',
        "QUIZ_PUBLIC_URL": "https://quiz.example.org",
    }


def test_config_is_a_documented_command(workdir: Path) -> None:
    out = quiz(["config", "--help"], workdir)
    assert out.returncode == 0
    assert "show" in out.stdout and "check" in out.stdout


def test_production_on_sqlite_fails_the_check(workdir: Path) -> None:
    out = quiz(["config", "check"], workdir, QUIZ_ENV="production")
    assert out.returncode == 1
    assert "SQLite" in out.stderr and "QUIZ_DATABASE_URL" in out.stderr
    assert "QUIZ_SECRET_KEY" in out.stderr and "QUIZ_REDIS_URL" in out.stderr
    assert "OK" not in out.stdout and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) >= 4 and all(line.strip() for line in lines)


def test_proper_production_passes_the_check(workdir: Path) -> None:
    out = quiz(["config", "check"], workdir, **proper_production(workdir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "configuration OK for production"
    assert out.stderr == ""


def test_env_option_overrides_quiz_env(workdir: Path) -> None:
    env = proper_production(workdir)
    env["QUIZ_ENV"] = "development"
    assert quiz(["config", "check", "--env", "production"], workdir, **env).returncode == 0
    out = quiz(["config", "check", "--env", "production"], workdir)  # nothing but the profile
    assert out.returncode == 1 and "SQLite" in out.stderr
    dev = quiz(["config", "check"], workdir, QUIZ_ENV="development")
    assert dev.returncode == 0 and "configuration OK for development" in dev.stdout
    bad = quiz(["config", "check", "--env", "prod"], workdir)
    assert bad.returncode == 2 and "--env" in bad.stderr


def test_show_names_every_source_and_never_the_secret(workdir: Path) -> None:
    env = proper_production(workdir)
    env["QUIZ_PORT"] = "8123"
    out = quiz(["config", "show", "--json"], workdir, **env)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["port"] == {"name": "port", "value": 8123, "source": "environment"}
    assert rows["secret_key"]["source"] == f"secret file:{workdir / 'secret_key'}"
    assert rows["secret_key"]["value"] == "***"
    assert rows["token_ttl_seconds"]["source"] == "file:config/production.toml"
    assert rows["cors_origins"]["source"] == "default"
    assert rows["database_url"]["value"] == "postgresql://quiz:***@db.internal:5432/quiz"

    table = quiz(["config", "show"], workdir, **env)
    assert table.returncode == 0, table.stderr
    for source in ("environment", "secret file:", "file:config/production.toml", "default"):
        assert source in table.stdout
    assert "8123" in table.stdout and "postgresql://quiz:***@db.internal" in table.stdout
    for output in (out.stdout, out.stderr, table.stdout, table.stderr):
        assert SECRET not in output and DB_PASSWORD not in output


def test_show_with_env_option_reads_that_profile(workdir: Path) -> None:
    out = quiz(["config", "show", "--env", "production", "--json"], workdir, QUIZ_ENV="staging")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["env"]["value"] == "production"
    assert rows["debug"] == {
        "name": "debug",
        "value": False,
        "source": "file:config/production.toml",
    }


@pytest.mark.parametrize("command", ["check", "show"])
def test_unreadable_secret_file_is_a_problem_not_a_traceback(workdir: Path, command: str) -> None:
    missing = workdir / "no-such-secret"
    out = quiz(["config", command], workdir, QUIZ_SECRET_KEY_FILE=str(missing))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"QUIZ_SECRET_KEY_FILE: cannot read {missing}: No such file or directory"
    )


@pytest.mark.parametrize("command", ["check", "show"])
def test_unknown_profile_key_is_a_problem_not_a_traceback(workdir: Path, command: str) -> None:
    profile = workdir / "config" / "staging.toml"
    profile.write_text(profile.read_text() + "\nlog_levle = 'INFO'\n")
    out = quiz(["config", command, "--env", "staging"], workdir)
    assert out.returncode == 1
    assert out.stderr.strip() == "config/staging.toml: unknown setting(s): log_levle"
