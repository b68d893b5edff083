"""Sign up, sign in and sign out. The same AccountService calls as the API: the same
password rules, the same lockout after failed sign-ins, the same revocable tokens."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Role
from quizplatform.services.errors import (
    Conflict,
    Forbidden,
    Invalid,
    MfaInvalid,
    MfaRequired,
    NotAuthenticated,
    RateLimited,
)
from quizplatform.web.forms import FormErrors, errors_from, read_form, safe_next, text_field
from quizplatform.web.query import with_query
from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import MaybeUser, Web, end_session, start_session

router = page_router()


@router.get("/signin")
async def signin_page(request: Request, user: MaybeUser) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if user is not None:
        return see_other(request, next_url)
    return await render(request, "pages/signin.html", {"next": next_url, "errors": FormErrors()})


@router.post("/signin")
async def signin(request: Request, web: Web) -> Response:
    form = await read_form(request)
    email = text_field(form, "email", max_chars=320)
    password = text_field(form, "password", max_chars=1024)
    otp = text_field(form, "otp", max_chars=20).strip() or None
    next_url = safe_next(text_field(form, "next"))
    errors = FormErrors()
    if not email.strip():
        errors.add("email", "Enter your email address.")
    if not password:
        errors.add("password", "Enter your password.")
    status, headers = 422, {}
    if not errors:
        try:
            user = await web.services.accounts.authenticate(
                email, password, request_context(request.scope).client_ip, otp
            )
        except MfaRequired:
            errors.add("otp", "Enter the code from your authenticator app.")
            status = 401
        except MfaInvalid:
            errors.add("otp", "That code is not right, or was used already. Enter the current one.")
            status = 401
        except NotAuthenticated:
            errors.add(None, "The email or password is not right. Check them and try again.")
            status = 401
        except RateLimited as exc:
            minutes = max(1, round(exc.retry_after / 60))
            errors.add(
                None,
                "Too many failed sign-ins. For your safety, signing in is paused; try again "
                f"in about {minutes} minute{'s' if minutes != 1 else ''}.",
            )
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        else:
            issued = await web.services.accounts.issue_token(
                user,
                ip=request_context(request.scope).client_ip,
                user_agent=request.headers.get("user-agent", ""),
            )
            request_context(request.scope).user_id = user.id  # access log; read-your-writes
            response = see_other(request, _with_notice(next_url, "signed_in"))
            start_session(request, response, issued)
            return response
    context = {"next": next_url, "errors": errors, "email": email}
    return await render(request, "pages/signin.html", context, status=status, headers=headers)


@router.get("/signup")
async def signup_page(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        return see_other(request, "/dashboard")
    return await render(request, "pages/signup.html", {"errors": FormErrors(), "values": {}})


@router.post("/signup")
async def signup(request: Request, web: Web) -> Response:
    form = await read_form(request)
    values = {
        "email": text_field(form, "email", max_chars=320),
        "display_name": text_field(form, "display_name", max_chars=200),
        "role": text_field(form, "role") or "student",
    }
    password = text_field(form, "password", max_chars=1024)
    errors = FormErrors()
    if values["role"] not in (Role.STUDENT.value, Role.TEACHER.value):
        errors.add("role", "Choose student or teacher.")
    if not values["display_name"].strip():
        errors.add("display_name", "Enter the name others will see, such as on leaderboards.")
    status = 422
    if not errors:
        try:
            user = await web.services.accounts.register(
                values["email"], password, values["display_name"], Role(values["role"])
            )
        except Invalid as exc:
            errors = errors_from(exc)
        except Conflict:
            errors.add("email", "An account with this email already exists. Sign in instead.")
            status = 409
        except Forbidden as exc:
            errors.add("role", exc.message[:1].upper() + exc.message[1:] + ".")
            status = 403
        else:
            issued = await web.services.accounts.issue_token(user)
            request_context(request.scope).user_id = user.id
            response = see_other(request, "/dashboard?notice=welcome")
            start_session(request, response, issued)
            return response
    context = {"errors": errors, "values": values}
    return await render(request, "pages/signup.html", context, status=status)


@router.post("/signout")
async def signout(request: Request, web: Web, user: MaybeUser) -> Response:
    if user is not None:
        await web.services.accounts.revoke(user)
    request_context(request.scope).forget_principal()
    response = see_other(request, "/?notice=signed_out")
    end_session(request, response)
    return response


def _with_notice(url: str, notice: str) -> str:
    return with_query(url, "notice", notice)
