"""SecurityHeaders: the common headers, HSTS over TLS, the fitting CSP."""

from __future__ import annotations

from quizplatform.api.middleware.security_headers import (
    CSP_API,
    CSP_DOCS,
    CSP_HTML,
    SecurityHeaders,
)

HEADERS = SecurityHeaders("/api/docs")


def added(
    raw: list[tuple[bytes, bytes]], path: str = "/api/v1/me", tls: bool = False
) -> dict[bytes, bytes]:
    raw = list(raw)
    HEADERS.add(raw, {k.lower() for k, _ in raw}, path, tls)
    return dict(raw)


def test_json_responses_get_the_api_policy_and_the_common_headers() -> None:
    headers = added([(b"content-type", b"application/json")])
    assert headers[b"content-security-policy"] == CSP_API
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"x-frame-options"] == b"DENY"
    assert b"strict-transport-security" not in headers


def test_pages_the_docs_and_tls() -> None:
    assert (
        added([(b"content-type", b"text/html; charset=utf-8")], "/")[b"content-security-policy"]
        == CSP_HTML
    )
    assert (
        added([(b"content-type", b"text/html")], "/api/docs")[b"content-security-policy"]
        == CSP_DOCS
    )
    assert b"strict-transport-security" in added([], tls=True)


def test_headers_the_app_set_are_kept_in_order() -> None:
    raw = [(b"X-Frame-Options", b"SAMEORIGIN"), (b"content-security-policy", b"mine")]
    HEADERS.add(raw, {b"x-frame-options", b"content-security-policy"}, "/", False)
    assert raw[:2] == [(b"X-Frame-Options", b"SAMEORIGIN"), (b"content-security-policy", b"mine")]
    assert [k for k, _ in raw[2:]] == [
        b"x-content-type-options",
        b"referrer-policy",
        b"cross-origin-opener-policy",
    ]
