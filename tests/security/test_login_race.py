"""The sign-in lockout holds under a race: 40 concurrent wrong passwords for one account
get at most ``login_max_failures`` password checks; the rest are refused before any
check, and so is the right password afterwards.

Before: the count and the check were separate steps, and 30 of 40 were checked."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from quizplatform.services.errors import NotAuthenticated, RateLimited
from tests.api.helpers import PASSWORD, Api

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)


async def test_forty_concurrent_wrong_passwords_are_checked_at_most_the_limit(api: Api) -> None:
    student = await api.user("student")
    limit = api.services.settings.login_max_failures

    async def guess(n: int) -> int:
        r = await api.http.post(
            "/api/v1/auth/token", json={"email": student.email, "password": f"wrong-{n}-guess"}
        )
        return r.status_code

    statuses = Counter(await asyncio.gather(*(guess(n) for n in range(40))))
    assert statuses[401] <= limit, statuses
    assert statuses[401] + statuses[429] == 40, statuses
    right = await api.http.post(
        "/api/v1/auth/token", json={"email": student.email, "password": PASSWORD}
    )
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) >= 1


async def test_a_classroom_behind_one_address_signs_in_at_once(api: Api) -> None:
    """Attempts in flight make others wait rather than fail: 12 students behind one
    address (the per-address limit is 5) all get in."""
    students = [await api.user("student") for _ in range(12)]

    async def sign_in(email: str) -> int:
        r = await api.http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        return r.status_code

    statuses = await asyncio.gather(*(sign_in(s.email) for s in students))
    assert statuses == [200] * 12, statuses


async def test_a_shared_address_may_have_more_failed_sign_ins_than_one_person(api: Api) -> None:
    """A school's NAT address (``shared_addresses``) has the per-address failure limit
    times ``shared_address_factor``; any other address keeps the plain limit."""
    accounts = api.services.accounts
    plain = accounts.settings
    accounts.settings = plain.model_copy(
        update={
            "login_max_failures_per_ip": 2,
            "shared_addresses": ["192.0.2.128/25"],
            "shared_address_factor": 3,
        }
    )
    try:
        students = [await api.user("student") for _ in range(7)]

        async def failures_from(address: str) -> list[int]:
            outcomes = []
            for student in students:
                try:
                    await accounts.authenticate(student.email, "not-the-password", address)
                except NotAuthenticated:
                    outcomes.append(401)
                except RateLimited:
                    outcomes.append(429)
            return outcomes

        assert await failures_from("192.0.2.200") == [401] * 6 + [429]
        assert await failures_from("192.0.2.20") == [401] * 2 + [429] * 5
    finally:
        accounts.settings = plain
