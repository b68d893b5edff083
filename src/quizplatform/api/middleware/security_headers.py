"""The security headers every response gets (those the app did not set itself), and the
Content-Security-Policy that fits it: HTML pages, the API docs page, or JSON."""

from __future__ import annotations

Headers = list[tuple[bytes, bytes]]

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
CSP_API = b"default-src 'none'; frame-ancestors 'none'"
CSP_HTML = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (the interactive API docs, api/docs.py) is served from this site; its scripts
# are files, but it writes inline styles, so only that page allows them (not scripts).
CSP_DOCS = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Adds the security headers to a response's headers."""

    def __init__(self, docs_path: str) -> None:
        self.docs_path = docs_path

    def add(self, raw: Headers, names: set[bytes], path: str, tls: bool) -> None:
        """Append to ``raw`` (whose lower-cased header names are ``names``) the headers it
        lacks; Strict-Transport-Security only over TLS."""
        raw.extend(h for h in self._common(tls) if h[0] not in names)
        if b"content-security-policy" not in names:
            raw.append((b"content-security-policy", self._policy(raw, path)))

    @staticmethod
    def _common(tls: bool) -> Headers:
        return [*_COMMON_HEADERS, _HSTS] if tls else _COMMON_HEADERS

    def _policy(self, raw: Headers, path: str) -> bytes:
        if path == self.docs_path:
            return CSP_DOCS
        is_html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in raw)
        return CSP_HTML if is_html else CSP_API
