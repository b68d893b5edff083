"""The Jinja2 environment and the one way pages are rendered (``render``).

``render`` adds what every template needs (the signed-in user, the CSRF token, asset
URLs, the notice named in ``?notice=``), compresses the HTML for the client, and sets
the pre-session cookie when the page created one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.responses import Response

from quizplatform.web import rich_text
from quizplatform.web.assets import StaticAssets
from quizplatform.web.compression import compress_html
from quizplatform.web.session import apply_cookies, csrf_token, optional_user
from quizplatform.web.state import get_web

# Kept as they are in a redirect URL: reserved characters and an existing %-escape.
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"

HTML = "text/html; charset=utf-8"

# Messages shown after a redirect (``?notice=<key>``): fixed texts, so a link cannot make
# the site say something it did not mean.
NOTICES = {
    "signed_in": "You are signed in.",
    "signed_out": "You have signed out.",
    "welcome": "Your account is ready. Welcome!",
    "submitted": "Your answers have been submitted.",
    "time_up": "Time was up, so your saved answers were submitted automatically.",
    "graded": "The grade is saved and the attempt's score updated.",
    "password_changed": "Your password is changed. Every other device is signed out.",
    "session_ended": "That session is signed out.",
    "session_gone": "That session had already ended.",
    "signed_out_everywhere": "You are signed out on every device.",
    "mfa_off": "Two-step sign-in is off.",
    "password_reset": "Your password is set. Sign in with it; every other session has ended.",
    "user_changed": "The account is changed, and its sessions are signed out.",
    "user_erased": "The account is erased: its personal data is gone, its attempts stay anonymous.",
    "erase_unconfirmed": "Nothing was erased: tick the box to confirm first.",
    "user_unchanged": "That account could not be changed (it is yours, or it is gone).",
}


def build_templates(assets: StaticAssets) -> Environment:
    """The app's Jinja2 environment: autoescaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("quizplatform.web", "templates"),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = assets.url
    env.globals["csrf_field"] = csrf_field
    env.filters["when"] = format_when
    env.filters["duration"] = format_duration
    env.filters["number"] = format_number
    env.filters["clock"] = format_clock
    env.filters["iso"] = lambda value: value.isoformat(timespec="milliseconds")
    env.filters["capfirst"] = lambda text: text[:1].upper() + text[1:] if text else text
    rich_text.register(env)  # rich, inline, plain: question texts in their text format
    return env


@pass_context
def csrf_field(context: Context) -> Markup:
    """``{{ csrf_field() }}``: the hidden CSRF input of a form (any template, no import)."""
    token = escape(context.get("csrf_token", ""))
    return Markup(f'<input type="hidden" name="csrf_token" value="{token}">')  # noqa: S704


def format_when(value: datetime | None) -> str:
    """``3 Mar 2026, 14:05 UTC`` (times are stored in UTC)."""
    if value is None:
        return "—"
    value = value.astimezone(UTC)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def format_duration(seconds: float | int | None) -> str:
    """``75`` -> ``1 min 15 s``; ``3600`` -> ``1 h``."""
    if seconds is None:
        return "—"
    total = max(0, math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(p for p in parts if p)


def format_clock(seconds: int | None) -> str:
    """A countdown's text: ``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    total = max(0, int(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_number(value: float | int | None, digits: int = 1) -> str:
    """``2.0`` -> ``2``; ``2.25`` -> ``2.3`` (one decimal unless whole)."""
    if value is None:
        return "—"
    rounded = round(float(value), digits)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.{digits}f}"


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render ``template`` (a full page or an htmx fragment) as a compressed response."""
    web = get_web(request)
    user = await optional_user(request)
    notice_key = request.query_params.get("notice", "")
    values = {
        "request": request,
        "user": user,
        "csrf_token": csrf_token(request),
        "notice": NOTICES.get(notice_key),
        "settings": web.settings,
        "path": request.url.path,
        # Shows the "saving is paused" banner while the database has no leader.
        "read_only": web.services.db.leader.read_only,
        **(context or {}),
    }
    html = web.templates.get_template(template).render(values)
    return html_response(request, html, status=status, headers=headers)


def html_response(
    request: Request,
    html: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An HTML response, compressed when the client accepts it. Pages hold CSRF tokens
    and personal data: never stored by shared caches."""
    body, encoding = compress_html(html.encode(), request.headers.get("accept-encoding", ""))
    all_headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding, Cookie"}
    if encoding is not None:
        all_headers["Content-Encoding"] = encoding
    all_headers.update(headers or {})
    response = Response(body, status_code=status, headers=all_headers, media_type=HTML)
    apply_cookies(request, response)
    return response


def see_other(request: Request, url: str) -> Response:
    """Redirect after a POST. For htmx requests an ``HX-Redirect`` (htmx then loads the
    page itself); for plain forms a 303. Characters outside ASCII are percent-encoded
    (headers are Latin-1; a ``next`` or a name in the URL may be anything)."""
    url = quote(url, safe=URL_SAFE)
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = Response(status_code=303, headers={"Location": url})
    apply_cookies(request, response)
    return response
