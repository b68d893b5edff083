"""The sign-in lockout holds under a race: 40 concurrent wrong passwords for one account
get at most ``login_max_failures`` password checks; the rest are refused before any
check, and so is the right password afterwards.

Before: the count and the check were separate steps, and 30 of 40 were checked."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

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
