"""What the request middleware needs of the web interface, handed to it by the
composition root (``quizplatform/app.py``) so that the API layer never imports the web.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# (status, message, request id) -> an HTML error page: the middleware's own refusals of
# web requests (413, 415, 429) are pages, not JSON.
ErrorPageRenderer = Callable[[int, str, str], bytes]


@dataclass(frozen=True)
class WebHooks:
    """The web interface as the middleware sees it: the cookie that carries a signed-in
    user's access token, and how to render an error page."""

    session_cookie: str
    error_page: ErrorPageRenderer
