"""Two-step sign-in (TOTP) through the API, on both backends."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.api.helpers import PASSWORD, Api, User

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


def _code(secret: str, steps_ahead: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.generate_otp(int(time.time()) // totp.interval + steps_ahead)


async def _enable(api: Api, user: User) -> tuple[str, list[str]]:
    r = await api.http.post("/api/v1/me/mfa/enrol", headers=user.headers)
    assert r.status_code == 200, r.text
    enrolment = r.json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert enrolment["qr_svg"].startswith("<svg") and "<script" not in enrolment["qr_svg"]
    r = await api.http.post(
        "/api/v1/me/mfa/confirm", json={"code": _code(enrolment["secret"])}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return enrolment["secret"], codes


async def _token(api: Api, email: str, otp: str | None = None) -> tuple[int, dict[str, object]]:
    body: dict[str, object] = {"email": email, "password": PASSWORD}
    if otp is not None:
        body["otp"] = otp
    r = await api.http.post("/api/v1/auth/token", json=body)
    return r.status_code, r.json()


async def test_sign_in_needs_the_code_once_it_is_on(api: Api) -> None:
    student = await api.user("student")
    secret, _ = await _enable(api, student)
    assert (await api.http.get("/api/v1/me", headers=student.headers)).status_code == 401
    status, body = await _token(api, student.email)
    assert status == 401 and body["error"]["code"] == "mfa_required"  # type: ignore[index]
    status, body = await _token(api, student.email, _code(secret, 1))
    assert status == 200, body
    r = await api.http.get(
        "/api/v1/me/mfa", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert r.json() == {"enabled": True}
    assert secret not in r.text


async def test_a_wrong_code_is_refused_and_so_is_the_confirmation_without_a_setup(
    api: Api,
) -> None:
    student = await api.user("student")
    r = await api.http.post(
        "/api/v1/me/mfa/confirm", json={"code": "123456"}, headers=student.headers
    )
    assert r.status_code == 409
    r = await api.http.post("/api/v1/me/mfa/enrol", headers=student.headers)
    secret = r.json()["secret"]
    wrong = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    r = await api.http.post("/api/v1/me/mfa/confirm", json={"code": wrong}, headers=student.headers)
    assert r.status_code == 422
    r = await api.http.post(
        "/api/v1/me/mfa/confirm", json={"code": "12345x"}, headers=student.headers
    )
    assert r.status_code == 422


async def test_turning_it_off_needs_the_password_and_a_code(api: Api) -> None:
    student = await api.user("student")
    secret, codes = await _enable(api, student)
    _, body = await _token(api, student.email, _code(secret, 1))
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    r = await api.http.post(
        "/api/v1/me/mfa/disable",
        json={"password": "not-it-at-all", "code": codes[0]},
        headers=headers,
    )
    assert r.status_code == 422
    r = await api.http.post(
        "/api/v1/me/mfa/disable", json={"password": PASSWORD, "code": codes[0]}, headers=headers
    )
    assert r.status_code == 204
    status, _ = await _token(api, student.email)
    assert status == 200


async def test_new_recovery_codes_replace_the_old(api: Api) -> None:
    student = await api.user("student")
    secret, old = await _enable(api, student)
    _, body = await _token(api, student.email, old[0])
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    r = await api.http.post(
        "/api/v1/me/mfa/recovery-codes", json={"code": _code(secret, 1)}, headers=headers
    )
    assert r.status_code == 200
    new = r.json()["recovery_codes"]
    assert (await _token(api, student.email, old[1]))[0] == 401
    assert (await _token(api, student.email, new[0]))[0] == 200
