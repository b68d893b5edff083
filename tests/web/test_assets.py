"""Static assets: content-hashed names, immutable caching, precompressed bodies; HTML
compressed for clients that accept it; API responses untouched; a strict CSP."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli

from quizplatform.web.assets import STATIC_DIR, StaticAssets, hashed_name
from tests.web.helpers import WebClient

TEMPLATES = Path(STATIC_DIR).parent / "templates"
_ASSET_URL = re.compile(r'(?:href|src)="(/static/[^"]+)"')


async def test_pages_link_hashed_assets_served_immutable_and_precompressed(
    web: WebClient,
) -> None:
    page = await web.http.get("/signin")
    urls = _ASSET_URL.findall(page.text)
    names = {url.rsplit("/", 1)[1] for url in urls}
    assert len(names) == 4, urls  # favicon, app.css, htmx, app.js
    for url in urls:
        hashed = url.rsplit("/", 1)[1]
        original = re.sub(r"\.[0-9a-f]{10}\.", ".", hashed)
        content = (STATIC_DIR / original).read_bytes()
        assert hashed == hashed_name(original, content)
        assert hashlib.sha256(content).hexdigest().startswith(hashed.split(".")[-2])

        plain = await web.http.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-encoding" not in plain.headers
        assert plain.content == content

        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            # Read the raw bytes: httpx would decode them transparently.
            async with web.http.stream("GET", url, headers={"Accept-Encoding": encoding}) as r:
                raw = b"".join([chunk async for chunk in r.aiter_raw()])
            assert r.headers["content-encoding"] == encoding
            assert r.headers["vary"] == "Accept-Encoding"
            assert len(raw) < len(content)
            assert decode(raw) == content


async def test_an_unknown_or_unhashed_asset_is_a_404_page(web: WebClient) -> None:
    for path in ("/static/app.css", "/static/app.0000000000.css", "/static/../app.py"):
        r = await web.http.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")


async def test_the_asset_table_is_computed_once_and_names_change_with_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.css").write_text("body { color: red }\n" * 100)
    first = StaticAssets(tmp_path)
    (tmp_path / "app.css").write_text("body { color: blue }\n" * 100)
    second = StaticAssets(tmp_path)
    assert first.url("app.css") != second.url("app.css")
    assert first.by_name["app.css"].encodings["identity"].startswith(b"body { color: red }")


async def test_html_is_compressed_only_when_accepted(web: WebClient) -> None:
    for encoding in ("br", "gzip"):
        async with web.http.stream("GET", "/signup", headers={"Accept-Encoding": encoding}) as r:
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.headers["content-encoding"] == encoding
        assert "Accept-Encoding" in r.headers["vary"]
        text = brotli.decompress(raw) if encoding == "br" else gzip.decompress(raw)
        assert b"Create an account" in text
    async with web.http.stream("GET", "/signup", headers={"Accept-Encoding": "identity"}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert "content-encoding" not in r.headers
    assert b"Create an account" in raw


async def test_api_responses_are_never_compressed_by_the_web_layer(web: WebClient) -> None:
    r = await web.http.get("/api/v1/quizzes", headers={"Accept-Encoding": "gzip, br"})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert r.headers["content-type"] == "application/json"


async def test_pages_get_a_csp_without_inline_scripts_or_styles(web: WebClient) -> None:
    r = await web.http.get("/signin")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-frame-options"] == "DENY"


def test_templates_have_no_inline_script_style_or_event_handlers() -> None:
    """The CSP would block them in the browser (the browser tests see that too); this
    names the template at once."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    forbidden = [
        (re.compile(r"\sstyle\s*=", re.IGNORECASE), "style attribute"),
        (re.compile(r"<style", re.IGNORECASE), "<style> element"),
        (re.compile(r"\son[a-z]+\s*=", re.IGNORECASE), "inline event handler"),
        (re.compile(r"\bhx-on", re.IGNORECASE), "hx-on (needs eval)"),
        (inline_script, "inline <script>"),
    ]
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates
    for template in templates:
        text = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.DOTALL)  # comments
        for pattern, what in forbidden:
            assert not pattern.search(text), f"{template.name}: {what}"


def test_javascript_and_css_stay_within_the_page_budget() -> None:
    """Issue 6: JavaScript + CSS per page < 60 KB compressed (every page loads all three)."""
    assets = StaticAssets()
    total = sum(assets.compressed_size(n) for n in ("app.css", "app.js", "htmx.min.js"))
    assert total < 60 * 1024, total
