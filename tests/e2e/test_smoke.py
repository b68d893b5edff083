"""`quiz smoke URL` and `quiz smoke setup` against a real `quiz serve` (SQLite, as
`make run`): the journey passes, fails clearly (exit 1, the failing step named) with wrong
credentials or a stopped server, and the smoke account stays out of sight."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.procs import Instance, free_port, quiz, quiz_env

DEMO_TEACHER = {"email": "teacher@example.org", "password": "teach-quizzes-2026"}


@dataclass
class Served:
    instance: Instance
    env: dict[str, str]
    tmp: Path
    credentials: Path

    @property
    def url(self) -> str:
        return self.instance.url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("smoke")
    env = quiz_env(tmp)
    quiz(["db", "upgrade"], env, tmp)
    credentials = tmp / "smoke.json"
    quiz(["smoke", "setup", "--credentials-file", str(credentials)], env, tmp)
    quiz(["demo"], env, tmp)  # the smoke account does not keep the demo out
    instance = Instance(tmp, env)
    try:
        instance.wait_ready()
        yield Served(instance, env, tmp, credentials)
    finally:
        instance.stop()


def smoke(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**served.env, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "quizplatform.cli", "smoke", *args],
        env=env,
        cwd=served.tmp,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sign_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_smoke_passes_with_a_table_and_metrics(served: Served) -> None:
    done = smoke(
        served,
        served.url,
        "--credentials-file",
        str(served.credentials),
        "--metrics-url",
        f"{served.url}/metrics",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("live", "ready", "sign in", "submit and score", "metrics"):
        assert step in done.stdout
    assert "score 1/1" in done.stdout and "smoke test passed" in done.stdout
    assert "failed" not in done.stdout


def test_json_lists_every_step(served: Served) -> None:
    done = smoke(served, served.url, "--credentials-file", str(served.credentials), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["url"] == served.url
    names = [s["name"] for s in report["steps"]]
    assert names[:3] == ["live", "ready", "sign in"] and names[-1] == "sign out"
    assert all(s["ok"] and s["ms"] >= 0 for s in report["steps"])


def test_wrong_credentials_fail_at_sign_in(served: Served, tmp_path: Path) -> None:
    good = json.loads(served.credentials.read_text())
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**good, "password": "not the password at all"}))
    done = smoke(served, served.url, "--credentials-file", str(wrong), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    failed = [s for s in report["steps"] if not s["ok"]]
    assert [s["name"] for s in failed] == ["sign in"]
    assert "401" in failed[0]["detail"] and report["steps"][-1]["name"] == "sign in"
    table = smoke(served, served.url, "--credentials-file", str(wrong))
    assert table.returncode == 1 and "smoke test failed at 'sign in'" in table.stderr


def test_a_stopped_server_is_a_clear_message_not_a_traceback(served: Served) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = smoke(served, url, "--credentials-file", str(served.credentials))
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert f"cannot reach {url}: connection refused" in out
    assert "Traceback" not in out
    as_json = json.loads(
        smoke(served, url, "--credentials-file", str(served.credentials), "--json").stdout
    )
    assert as_json["ok"] is False and as_json["steps"][0]["name"] == "live"


def test_a_missing_credentials_file_is_a_clear_message(served: Served, tmp_path: Path) -> None:
    done = smoke(served, served.url, "--credentials-file", str(tmp_path / "none.json"))
    assert done.returncode == 1
    assert "cannot read the credentials file" in done.stderr and "Traceback" not in done.stderr


def test_smoke_account_stays_out_of_listing_leaderboard_and_report(served: Served) -> None:
    creds = json.loads(served.credentials.read_text())
    with httpx.Client(base_url=served.url, timeout=10) as client:
        listed = client.get("/api/v1/quizzes", params={"per_page": 100}).json()["items"]
        ids = {item["id"] for item in listed}
        assert creds["quiz_id"] not in ids and len(ids) == 2  # the demo's two quizzes
        capitals = next(item["id"] for item in listed if item["title"] == "European capitals")
        # The smoke account takes a real quiz too: still nowhere in its leaderboard or report.
        smoke_auth = sign_in(client, creds["email"], creds["password"])
        attempt = _take(client, capitals, smoke_auth)
        assert attempt["status"] == "submitted"
        board = client.get(f"/api/v1/quizzes/{capitals}/leaderboard").json()
        assert board["items"] == []
        teacher = sign_in(client, **DEMO_TEACHER)
        report = client.get(f"/api/v1/quizzes/{capitals}/report", headers=teacher).json()
        assert report["attempts"] == 0 and report["scores"] == []
        # Its own quiz's leaderboard and report are empty after the journeys above.
        own = client.get(f"/api/v1/quizzes/{creds['quiz_id']}/leaderboard").json()
        assert own["items"] == []
        mine = client.get(f"/api/v1/quizzes/{creds['quiz_id']}/report", headers=smoke_auth)
        assert mine.json()["attempts"] == 0


def _take(client: httpx.Client, quiz_id: str, auth: dict[str, str]) -> Any:
    r = client.post(f"/api/v1/quizzes/{quiz_id}/attempts", headers=auth)
    assert r.status_code in (200, 201), r.text
    attempt = r.json()
    r = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_setup_is_idempotent_and_keeps_a_working_password(served: Served) -> None:
    before = served.credentials.read_text()
    done = quiz(
        ["smoke", "setup", "--credentials-file", str(served.credentials)], served.env, served.tmp
    )
    assert "already set up" in done.stdout
    assert served.credentials.read_text() == before
    assert stat.S_IMODE(os.stat(served.credentials).st_mode) == 0o600


def test_setup_resets_a_password_that_no_longer_signs_in(served: Served, tmp_path: Path) -> None:
    stale = tmp_path / "stale.json"
    good = json.loads(served.credentials.read_text())
    stale.write_text(json.dumps({**good, "password": "an old password, long gone"}))
    done = quiz(["smoke", "setup", "--credentials-file", str(stale)], served.env, served.tmp)
    assert "set a new password" in done.stdout
    fresh = json.loads(stale.read_text())
    assert fresh["password"] != good["password"] and fresh["quiz_id"] == good["quiz_id"]
    served.credentials.write_text(stale.read_text())  # the old password is gone now
    passed = smoke(served, served.url, "--credentials-file", str(served.credentials))
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_setup_refuses_a_real_account(served: Served, tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    env = served.env
    args = ["smoke", "setup", "--email", DEMO_TEACHER["email"], "--credentials-file", str(target)]
    with pytest.raises(subprocess.CalledProcessError) as failed:
        quiz(args, env, served.tmp)
    assert "is a real account" in failed.value.stdout + failed.value.stderr
    assert not target.exists()
