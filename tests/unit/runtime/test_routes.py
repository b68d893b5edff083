"""The request-classification table: web paths, import paths, rate-limit groups."""

from __future__ import annotations

from quizplatform.runtime.routes import is_import_path, is_quiet_route, is_web_path, route_group


def test_web_paths_are_everything_outside_the_api_and_operations() -> None:
    assert is_web_path("/") and is_web_path("/dashboard") and is_web_path("/static/a.css")
    for path in ("/api/v1/me", "/health/ready", "/metrics", "/_diag/x", "/apix"):
        assert not is_web_path(path)


def test_import_and_quiet_routes() -> None:
    assert is_import_path("/api/v1/quizzes/import") and is_import_path("/quizzes/import")
    assert not is_import_path("/api/v1/quizzes/important")
    assert is_import_path("/api/v1/quizzes/import/preview") and is_import_path("/teach/import/save")
    assert not is_import_path("/api/v1/quizzes/import/other")
    assert is_quiet_route("/health/ready") and is_quiet_route("/metrics")
    assert not is_quiet_route("/api/v1/me")


def test_route_groups() -> None:
    assert route_group("POST", "/api/v1/auth/token") == "auth"
    assert route_group("GET", "/api/v1/auth/whatever") == "auth"
    assert route_group("POST", "/api/v1/quizzes/import") == "import"
    assert route_group("HEAD", "/api/v1/quizzes") == "read"
    assert route_group("DELETE", "/api/v1/quizzes/x") == "write"
    assert route_group("POST", "/signin") == "auth"
    assert route_group("GET", "/signin") == "read"
    assert route_group("POST", "/quizzes/import") == "import"
    assert route_group("POST", "/api/v1/quizzes/import/preview") == "import"
    assert route_group("POST", "/teach/import/save") == "import"
    assert route_group("POST", "/signout") == "write"
    assert route_group("GET", "/static/app.css") is None
    assert route_group("GET", "/health/ready") is None
    assert route_group("POST", "/apix") is None
