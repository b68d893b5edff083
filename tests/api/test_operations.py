"""Operations endpoints of the contract: health, metrics, version, OpenAPI."""

from __future__ import annotations

from tests.api.helpers import Api


async def test_health_endpoints(api: Api) -> None:
    assert (await api.http.get("/health/live")).status_code == 200
    ready = await api.http.get("/health/ready")
    assert ready.status_code == 200, ready.text
    deep = (await api.http.get("/health")).json()
    assert deep["status"] == "ok"
    assert deep["checks"]["database"]["status"] == "ok"
    assert "latency_ms" in deep["checks"]["cache"]


async def test_probes_answer_head_as_load_balancers_send_it(api: Api) -> None:
    for path in ("/health/live", "/health/ready"):
        answer = await api.http.head(path)
        assert answer.status_code == 200, path
        assert answer.content == b""


async def test_metrics_use_route_templates(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(
        teacher,
        {"title": "T", "questions": [{"type": "true_false", "prompt": "p", "answer": True}]},
    )
    await api.http.get(f"/api/v1/quizzes/{quiz['id']}")
    await api.http.get("/no/such/path")
    text = (await api.http.get("/metrics")).text
    assert 'route="/api/v1/quizzes/{id}"' in text
    assert quiz["id"] not in text
    assert 'route="<unmatched>"' in text
    assert "app_info{" in text


async def test_version_and_openapi(api: Api) -> None:
    version = (await api.http.get("/api/v1/version")).json()
    assert set(version) == {"version", "commit", "environment"}
    spec = (await api.http.get("/api/v1/openapi.json")).json()
    paths = set(spec["paths"])
    for path in (
        "/api/v1/auth/register",
        "/api/v1/quizzes/{id}",
        "/api/v1/attempts/{id}/submit",
        "/api/v1/quizzes/import",
        "/api/v1/quizzes/{id}/leaderboard",
    ):
        assert path in paths
    assert (await api.http.get("/api/v1/docs")).status_code == 200
