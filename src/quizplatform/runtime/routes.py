"""Which kind of request a path is: the one table the request middleware (body limits,
content types, rate limits, metrics) and the web interface read.

Kept free of heavy imports: it runs on every request.
"""

from __future__ import annotations

from typing import Literal

RouteGroup = Literal["auth", "import", "read", "write"]

# Everything else is a web page or a static asset.
NON_WEB_PREFIXES = ("/api", "/health", "/metrics", "/_diag")
API_PREFIX = "/api/"
API_AUTH_PREFIX = "/api/v1/auth/"
STATIC_PREFIX = "/static/"
# Unsafe web requests that sign someone in or up: the "auth" group, like /api/v1/auth/*.
WEB_AUTH_PATHS = frozenset({"/signin", "/signup"})
# An upload of a quiz file (API and web alike): its own body limit, content types and group.
# "/import/preview" reads a file without saving it; the web page's "/import/save" posts the
# previewed file back (base64-encoded in a form field, so its limit is a third larger).
IMPORT_SUFFIX = "/import"
IMPORT_SUFFIXES = (IMPORT_SUFFIX, "/import/preview", "/import/save")
CARRIED_IMPORT_SUFFIX = "/import/save"
# Operational routes: their successful requests are measured but not written to the
# access log.
QUIET_PREFIXES = ("/health", "/metrics")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_web_path(path: str) -> bool:
    """Whether ``path`` is served by the web interface (pages and /static/)."""
    return not path.startswith(NON_WEB_PREFIXES)


def is_import_path(path: str) -> bool:
    """Whether ``path`` takes a quiz file (a larger body, file and multipart types)."""
    return path.endswith(IMPORT_SUFFIXES)


def is_quiet_route(template: str) -> bool:
    """Whether a route's successful requests stay out of the access log."""
    return template.startswith(QUIET_PREFIXES)


def route_group(method: str, path: str) -> RouteGroup | None:
    """The rate-limit group of a request (None: not limited): sign-in and sign-up count as
    ``auth``, a file upload as ``import``, other requests ``read`` or ``write`` by their
    method; web assets and operational routes none."""
    if path.startswith(API_PREFIX):
        if path.startswith(API_AUTH_PREFIX):
            return "auth"
        if is_import_path(path):
            return "import"
        return "read" if method in READ_METHODS else "write"
    if not is_web_path(path) or path.startswith(STATIC_PREFIX):
        return None
    if method in READ_METHODS:
        return "read"
    if path in WEB_AUTH_PATHS:
        return "auth"
    return "import" if is_import_path(path) else "write"
