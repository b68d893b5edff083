"""The names of the web interface's cookies and form fields. Which paths are web pages is
in ``runtime/routes.py`` (the one request-classification table)."""

from __future__ import annotations

SESSION_COOKIE = "qp_session"  # the access token itself (HttpOnly)
PRESESSION_COOKIE = "qp_presession"  # random; binds the CSRF token before sign-in
CSRF_FIELD = "csrf_token"  # hidden form field
CSRF_HEADER = "x-csrf-token"  # sent by htmx (hx-headers on <body>)
