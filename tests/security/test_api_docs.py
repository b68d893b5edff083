"""The API docs page loads nothing from another site and allows no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.helpers import Api

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"

pytestmark = pytest.mark.parametrize("services", ["sqlite"], indirect=True)


async def test_docs_use_only_same_origin_assets_under_a_strict_script_policy(api: Api) -> None:
    page = await api.http.get("/api/v1/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src is not None and "unsafe-inline" not in script_src.group(1)
    assert "http" not in script_src.group(1)
    assert "<script>" not in page.text, "an inline script"
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/api/v1/docs/") for u in urls), urls
    for url in urls:
        r = await api.http.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
    assert (await api.http.get("/api/v1/docs/assets/..%2Fpyproject.toml")).status_code == 404
    assert (await api.http.get("/api/v1/docs/assets/index.html")).status_code == 404


async def test_docs_api_md_lists_every_operation_the_instance_serves(api: Api) -> None:
    """docs/api.md is written by hand from the OpenAPI document: it must not fall behind."""
    document = (await api.http.get("/api/v1/openapi.json")).json()
    listed = API_MD.read_text()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if f"`{method.upper()} {path.removeprefix('/api/v1')}`" not in listed
    ]
    assert missing == [], f"add these to docs/api.md: {missing}"
