"""Sessions and CSRF protection for the web interface.

Signing in issues the same revocable access token as ``POST /api/v1/auth/token``
(``AccountService.issue_token``) and keeps it in an HttpOnly cookie, so the API and the
pages know the same user and signing out revokes the token everywhere.

Every unsafe web request must carry a CSRF token: an HMAC, keyed with the secret key, of
the session token (or, before sign-in, of a random pre-session cookie). Forms send it as
the hidden field ``csrf_token``; htmx sends it as the ``X-CSRF-Token`` header (set once
with ``hx-headers`` on ``<body>``). Another site can neither read the cookie nor compute
the HMAC, so it cannot forge a request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, cast

from fastapi import Depends, Request
from starlette.responses import Response

from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import IssuedToken, Principal
from quizplatform.services.errors import Forbidden, MfaEnrolmentRequired, NotAuthenticated
from quizplatform.web.paths import CSRF_FIELD, CSRF_HEADER, PRESESSION_COOKIE, SESSION_COOKIE
from quizplatform.web.state import WebState, get_web, web_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejected(Forbidden):
    """An unsafe request without a valid CSRF token (a stale form, or another site)."""

    code = "csrf_failed"


class SignInRequired(NotAuthenticated):
    """The page needs a signed-in user: the error handler redirects to the sign-in page."""


def csrf_token_for(secret: str, binding: str) -> str:
    """The CSRF token bound to ``binding`` (a session token or a pre-session value)."""
    mac = hmac.new(secret.encode(), b"csrf\x00" + binding.encode(), hashlib.sha256)
    return mac.hexdigest()


def _binding(request: Request) -> str | None:
    """What this request's CSRF token is bound to: the session cookie, else the
    pre-session cookie (or the one this response is about to set)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return session
    pending = request_context(request.scope).new_presession
    return pending or request.cookies.get(PRESESSION_COOKIE) or None


def csrf_token(request: Request) -> str:
    """The token to embed in this page's forms; creates a pre-session value if needed
    (``apply_cookies`` then sets it on the response)."""
    web = get_web(request)
    binding = _binding(request)
    if binding is None:
        binding = secrets.token_urlsafe(24)
        request_context(request.scope).new_presession = binding
    return csrf_token_for(web.secret, binding)


async def verify_csrf(request: Request) -> None:
    """Router dependency: refuse an unsafe request whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    binding = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRESESSION_COOKIE)
    if not binding:
        raise CsrfRejected(
            "your browser did not send this site's cookie; allow cookies for this site, "
            "reload the page and try again"
        )
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _has_form(request):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = csrf_token_for(get_web(request).secret, binding)
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfRejected(
            "this form has expired or did not come from this site; go back, reload the "
            "page and try again"
        )


def _has_form(request: Request) -> bool:
    ctype = request.headers.get("content-type", "")
    return ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


# -- who is signed in -------------------------------------------------------------------
async def optional_user(request: Request) -> Principal | None:
    """The signed-in user (from the session cookie), or None."""
    context = request_context(request.scope)
    if context.principal_resolved:  # resolved by the request middleware already
        principal = cast("Principal | None", context.principal)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        principal = None
        if token:
            principal = await get_web(request).services.accounts.resolve_token(token)
        context.remember_principal(principal)
    if principal is not None:
        context.user_id = principal.user_id
    return principal


# The pages an admin of a production site may open before setting up two-step sign-in.
ENROL_ONLY_PAGES = frozenset({"/account", "/account/mfa/enrol", "/account/mfa/confirm", "/signout"})


async def require_user(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_user)],
) -> Principal:
    """The signed-in user; anyone else is sent to the sign-in page (then back)."""
    if principal is None:
        raise SignInRequired("sign in to see this page")
    if principal.enrol_only and request.url.path not in ENROL_ONLY_PAGES:
        raise MfaEnrolmentRequired(
            "admins of this site set up two-step sign-in first, on their account page"
        )
    return principal


MaybeUser = Annotated[Principal | None, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(require_user)]
Web = Annotated[WebState, Depends(web_state)]


# -- cookies ----------------------------------------------------------------------------
def _secure(request: Request) -> bool:
    """Secure cookies when the client reached us over HTTPS (directly or through a
    trusted proxy, as the request middleware decided)."""
    tls = request_context(request.scope).tls
    return tls if tls is not None else request.url.scheme == "https"


def start_session(request: Request, response: Response, issued: IssuedToken) -> None:
    """Put the access token in the session cookie and drop the pre-session cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in,
        path="/",
        httponly=True,
        secure=_secure(request),
        samesite="lax",
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/")
    request_context(request.scope).new_presession = None


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=_secure(request))


def apply_cookies(request: Request, response: Response) -> None:
    """Set the pre-session cookie that ``csrf_token`` created for this response, if any."""
    context = request_context(request.scope)
    pending, context.new_presession = context.new_presession, None
    if pending:
        response.set_cookie(
            PRESESSION_COOKIE,
            pending,
            path="/",
            httponly=True,
            secure=_secure(request),
            samesite="lax",
        )
