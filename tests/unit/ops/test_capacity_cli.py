"""``quiz capacity`` from the command line: a table, JSON, and clear refusals (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from quizplatform.cli import app

DATA = Path(__file__).parent / "data"


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    argv = ["capacity", "--bench-dir", str(tmp_path), "--stack-results", str(tmp_path / "none")]
    result = CliRunner().invoke(app, [*argv, *args])
    assert not isinstance(result.exception, (KeyError, TypeError, ValueError)), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_prints_a_plan_from_the_bench_file(tmp_path: Path) -> None:
    shutil.copy(DATA / "bench-latest.json", tmp_path / "latest.json")
    code, out, _ = _run(tmp_path, "--students", "10000")
    assert code == 0, out
    for words in ("Capacity plan for 10,000 students", "app instances", "max_connections"):
        assert words in out
    assert "per 1,000 students" in out and "assumptions" in out
    assert str(tmp_path / "latest.json") in out.replace("\n", "")


def test_json_is_parseable_and_complete(tmp_path: Path) -> None:
    shutil.copy(DATA / "bench-latest.json", tmp_path / "latest.json")
    code, out, _ = _run(tmp_path, "--students", "10000", "--online-share", "1", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["workload"]["students"] == 10000 and data["instances"] >= 2
    assert data["connections"]["per_instance"] == 20  # the app's db_pool_size default
    assert data["cost_per_month"]["always_on_per_1000_students"] > 0
    assert data["assumptions"] and data["sources"]


def test_a_missing_bench_file_exits_2_saying_to_run_make_bench(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "--students", "10000")
    assert code == 2
    assert "run `make bench`" in err and "Traceback" not in out + err


def test_bad_inputs_exit_2_with_the_option_named(tmp_path: Path) -> None:
    shutil.copy(DATA / "bench-latest.json", tmp_path / "latest.json")
    code, _, err = _run(tmp_path, "--students", "-3", "--online-share", "1.5")
    assert code == 2
    assert "--students must be at least 1" in err and "--online-share" in err
