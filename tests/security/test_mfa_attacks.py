"""Attacks on two-step sign-in: a replayed code, guessing, a reused recovery code, the
secret after set-up, and an admin of a production site without it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from quizplatform.db import models
from tests.api.helpers import Api
from tests.api.test_mfa import _code, _enable, _token

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


async def test_a_code_is_accepted_once(api: Api) -> None:
    student = await api.user("student")
    secret, _ = await _enable(api, student)
    code = _code(secret, 1)
    assert (await _token(api, student.email, code))[0] == 200
    status, body = await _token(api, student.email, code)
    assert status == 401 and body["error"]["code"] == "mfa_invalid"  # type: ignore[index]


async def test_guessing_codes_locks_the_account_like_wrong_passwords(api: Api) -> None:
    student = await api.user("student")
    secret, _ = await _enable(api, student)
    limit = api.services.settings.login_max_failures
    right = {_code(secret, step) for step in (-1, 0, 1)}
    guesses = [f"{n:06d}" for n in range(100) if f"{n:06d}" not in right]
    statuses = [(await _token(api, student.email, guess))[0] for guess in guesses[: limit + 3]]
    assert statuses[:limit] == [401] * limit and set(statuses[limit:]) == {429}
    assert (await _token(api, student.email, _code(secret)))[0] == 429


async def test_a_recovery_code_works_once_and_is_stored_hashed(api: Api) -> None:
    student = await api.user("student")
    _, codes = await _enable(api, student)
    assert (await _token(api, student.email, codes[0]))[0] == 200
    assert (await _token(api, student.email, codes[0]))[0] == 401
    async with api.services.db.session() as session:
        row = await session.scalar(
            select(models.MfaCredential).where(models.MfaCredential.user_id == student.id)
        )
    assert row is not None and len(row.recovery_hashes) == 9
    assert not any(code in str(row.recovery_hashes) for code in codes)
    r = await api.http.post("/api/v1/me/mfa/enrol", headers=student.headers)
    assert r.status_code in (401, 409)  # the old token ended; the secret is not shown again


async def test_a_production_admin_without_mfa_may_only_set_it_up(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = api.services.accounts
    production = accounts.settings.model_copy(update={"env": "production"})
    monkeypatch.setattr(accounts, "settings", production)
    admin = await api.user("admin")
    r = await api.http.get("/api/v1/users", headers=admin.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "mfa_enrolment_required"
    assert (await api.http.get("/api/v1/me", headers=admin.headers)).status_code == 200
    secret, _ = await _enable(api, admin)
    status, body = await _token(api, admin.email, _code(secret, 1))
    assert status == 200
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await api.http.get("/api/v1/users", headers=headers)).status_code == 200
    teacher = await api.user("teacher")  # other roles are not held to it
    assert (
        await api.http.get("/api/v1/quizzes?mine=true", headers=teacher.headers)
    ).status_code == 200
