"""Which requests belong to the web interface, and the names of its cookies.

Kept free of heavy imports: the request middleware (``api/middleware.py``) uses it on
every request.
"""

from __future__ import annotations

from collections.abc import Callable

# Everything else is a web page or a static asset.
NON_WEB_PREFIXES = ("/api", "/health", "/metrics", "/_diag")
STATIC_PREFIX = "/static/"
# Unsafe web requests that sign someone in or up: the "auth" rate-limit group, like
# /api/v1/auth/*.
AUTH_PATHS = frozenset({"/signin", "/signup"})

SESSION_COOKIE = "qp_session"  # the access token itself (HttpOnly)
PRESESSION_COOKIE = "qp_presession"  # random; binds the CSRF token before sign-in
CSRF_FIELD = "csrf_token"  # hidden form field
CSRF_HEADER = "x-csrf-token"  # sent by htmx (hx-headers on <body>)

# (status, message, request id) -> an HTML error page; given to the request middleware
# so that its own refusals of web requests (413, 415, 429) are pages, not JSON.
ErrorPageRenderer = Callable[[int, str, str], bytes]


def is_web_path(path: str) -> bool:
    """Whether ``path`` is served by the web interface (pages and /static/)."""
    return not path.startswith(NON_WEB_PREFIXES)


def web_route_group(method: str, path: str) -> str | None:
    """The rate-limit group of a web request, like the API's: sign-in/up count as
    ``auth``, an upload to a path ending in ``/import`` as ``import``; assets none."""
    if path.startswith(STATIC_PREFIX):
        return None
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if path in AUTH_PATHS:
        return "auth"
    return "import" if path.endswith("/import") else "write"
