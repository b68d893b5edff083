"""Odd Unicode and out-of-range values in every numeric query parameter of every page and
API route never produce a server error.

The routes are read from the app and the parameter names from the OpenAPI document and
from the web pages' source, so a new page or parameter is covered without editing this
file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from quizplatform.web.pages import PAGE_MODULES
from quizplatform.web.paths import SESSION_COOKIE
from tests.api.helpers import Api
from tests.api.samples import all_types_quiz

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)

# One of each kind: a digit int() refuses, digits of another script, out of range, a
# number that is not an integer, a NUL, an endless number, a bad escape, an emoji.
ODD_VALUES = ["²", "١٢", "-1", "1e9", "\x00", "9" * 400, "%FF", "🙂"]
WEB_SOURCE = Path(__file__).parents[2] / "src" / "quizplatform" / "web"
_PARAM_IN_SOURCE = re.compile(r'(?:query_params\.get\(|positive_int\(request, )"(\w+)"')


def _web_parameter_names() -> set[str]:
    names: set[str] = set()
    for path in WEB_SOURCE.rglob("*.py"):
        names.update(_PARAM_IN_SOURCE.findall(path.read_text()))
    return names


def _get_paths(spec: dict[str, Any]) -> list[str]:
    """Every GET path: the API's from its OpenAPI document, the pages' from their routers."""
    paths = {path for path, item in spec["paths"].items() if "get" in item}
    for module in PAGE_MODULES:
        for route in module.router.routes:
            if isinstance(route, APIRoute) and "GET" in route.methods:
                paths.add(route.path)
    return sorted(paths)


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: ids.get(m.group(1), "x"), path)


async def test_odd_values_in_numeric_query_parameters_never_cause_a_server_error(
    api: Api,
) -> None:
    teacher = await api.user("teacher")
    student = await api.user("student")
    quiz = await api.quiz(teacher, all_types_quiz())
    started = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
    assert started.status_code == 201, started.text
    ids = {
        "quiz_id": quiz["id"],
        "attempt_id": started.json()["id"],
        "question_id": quiz["questions"][0]["id"],
    }
    spec = (await api.http.get("/api/v1/openapi.json")).json()
    api_numeric = {
        p["name"]
        for item in spec["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("schema", {}).get("type") in ("integer", "number")
    }
    names = sorted(api_numeric | _web_parameter_names())
    assert {"page", "per_page", "q"} <= set(names)
    paths = [_fill(p, ids) for p in _get_paths(spec)]
    assert len(paths) > 20
    failures: list[str] = []
    for user in (None, teacher, student):
        api.http.cookies.clear()
        headers = {}
        if user is not None:
            token = user.headers["Authorization"].removeprefix("Bearer ")
            api.http.cookies.set(SESSION_COOKIE, token)
            headers = user.headers
        for path in paths:
            for value in ODD_VALUES:
                r = await api.http.get(path, params=dict.fromkeys(names, value), headers=headers)
                if r.status_code >= 500:
                    failures.append(f"{path} {value!r} as {user and user.email}: {r.status_code}")
    api.http.cookies.clear()
    assert not failures, failures[:20]


async def test_a_notice_in_any_script_is_carried_through_the_redirect(api: Api) -> None:
    """``/?notice=…`` for a signed-in user redirects to the dashboard with the notice: the
    Location header must stay Latin-1 whatever the notice holds."""
    user = await api.user("student")
    api.http.cookies.set(SESSION_COOKIE, user.headers["Authorization"].removeprefix("Bearer "))
    try:
        for notice in ("Привет", "日本語", "a&b=c#d", "\u2028", "🙂"):
            r = await api.http.get("/", params={"notice": notice})
            assert r.status_code == 303, (notice, r.status_code)
            location = r.headers["location"]
            assert location.startswith("/dashboard?notice=")
            assert location.isascii()
            assert "#" not in location and location.count("=") == 1
    finally:
        api.http.cookies.clear()
