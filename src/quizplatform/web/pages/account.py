"""The signed-in user's account page: change the password, see the sessions (signed-in
devices) and end one or all of them; and the forgotten-password pages (a reset link by
e-mail). The same service calls as ``/api/v1/me/*`` and ``/api/v1/auth/password-reset``."""

from __future__ import annotations

from fastapi import BackgroundTasks, Request
from markupsafe import Markup
from starlette.responses import Response

from quizplatform.runtime.json import dumps
from quizplatform.runtime.request_context import request_context
from quizplatform.services.accounts import Principal
from quizplatform.services.errors import Conflict, Invalid, NotFound, RateLimited, Unavailable
from quizplatform.services.mfa import Enrolment
from quizplatform.web.forms import FormErrors, errors_from, read_form, text_field
from quizplatform.web.rendering import render, see_other
from quizplatform.web.routing import page_router
from quizplatform.web.session import CurrentUser, MaybeUser, Web, end_session, start_session

router = page_router()


async def _page(
    request: Request, web: Web, user: Principal, errors: FormErrors, status: int = 200
) -> Response:
    sessions = await web.services.accounts.sessions(user)
    mfa_on = await web.services.mfa.enabled(user.user_id)
    context = {"sessions": sessions, "errors": errors, "mfa_enabled": mfa_on}
    return await render(request, "pages/account.html", context, status=status)


@router.get("/account")
async def account_page(request: Request, user: CurrentUser, web: Web) -> Response:
    return await _page(request, web, user, FormErrors())


@router.post("/account/password")
async def change_password(request: Request, user: CurrentUser, web: Web) -> Response:
    form = await read_form(request)
    current = text_field(form, "current_password", max_chars=1024)
    new = text_field(form, "new_password", max_chars=1024)
    errors = FormErrors()
    if not current:
        errors.add("current_password", "Enter your current password.")
    if not new:
        errors.add("new_password", "Enter a new password.")
    if errors:
        return await _page(request, web, user, errors, 422)
    ip = request_context(request.scope).client_ip
    try:
        account = await web.services.accounts.change_password(user, current, new, ip)
    except Invalid as exc:
        return await _page(request, web, user, errors_from(exc), 422)
    except RateLimited:
        errors.add(None, "Too many wrong passwords. For your safety, try again later.")
        return await _page(request, web, user, errors, 429)
    issued = await web.services.accounts.issue_token(
        account, ip=ip, user_agent=request.headers.get("user-agent", "")
    )
    request_context(request.scope).forget_principal()
    response = see_other(request, "/account?notice=password_changed")
    start_session(request, response, issued)
    return response


@router.get("/account/export")
async def export_my_data(user: CurrentUser, web: Web) -> Response:
    """The same JSON as ``GET /api/v1/me/export``, as a download."""
    document = await web.services.privacy.export(user)
    return Response(
        dumps(document),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-quiz-platform-data.json"',
            "Cache-Control": "no-store",
        },
    )


# -- two-step sign-in -------------------------------------------------------------------
@router.post("/account/mfa/enrol")
async def mfa_enrol(request: Request, user: CurrentUser, web: Web) -> Response:
    enrolment = await web.services.mfa.enrol(user)
    return await _setup_page(request, enrolment, FormErrors())


async def _setup_page(
    request: Request, enrolment: Enrolment, errors: FormErrors, status: int = 200
) -> Response:
    # segno draws the QR code as paths; no text of ours is in the SVG.
    qr = Markup(enrolment.qr_svg)  # noqa: S704
    context = {"enrolment": enrolment, "qr": qr, "errors": errors}
    headers = {"Cache-Control": "no-store"}
    return await render(request, "pages/mfa_setup.html", context, status=status, headers=headers)


@router.post("/account/mfa/confirm")
async def mfa_confirm(request: Request, user: CurrentUser, web: Web) -> Response:
    form = await read_form(request)
    code = text_field(form, "code", max_chars=20).strip()
    try:
        codes = await web.services.mfa.confirm(user, code)
    except (Invalid, Conflict) as exc:
        pending = await web.services.mfa.pending(user)
        if pending is None:
            return see_other(request, "/account")
        return await _setup_page(request, pending, errors_from(exc, {"code": "code"}), 422)
    # Confirming signs out every session (they sign in again with the code): this one
    # gets a fresh token.
    account = await web.services.accounts.get_user(user.user_id)
    assert account is not None
    issued = await web.services.accounts.issue_token(
        account, ip=request_context(request.scope).client_ip
    )
    # The page shows this browser signed in with its new token.
    request_context(request.scope).remember_principal(
        await web.services.accounts.resolve_token(issued.access_token)
    )
    context = {"codes": codes}
    response = await render(
        request, "pages/mfa_codes.html", context, headers={"Cache-Control": "no-store"}
    )
    start_session(request, response, issued)
    return response


@router.post("/account/mfa/disable")
async def mfa_disable(request: Request, user: CurrentUser, web: Web) -> Response:
    form = await read_form(request)
    password = text_field(form, "password", max_chars=1024)
    code = text_field(form, "code", max_chars=20).strip()
    try:
        await web.services.mfa.disable(user, password, code)
    except Invalid as exc:
        return await _page(request, web, user, errors_from(exc), 422)
    return see_other(request, "/account?notice=mfa_off")


@router.post("/account/sessions/{session_id}/end")
async def end_one_session(
    request: Request, session_id: str, user: CurrentUser, web: Web
) -> Response:
    try:
        await web.services.accounts.revoke_session(user, session_id[:64])
    except NotFound:
        return see_other(request, "/account?notice=session_gone")
    if session_id == user.token_hash:
        response = see_other(request, "/?notice=signed_out")
        end_session(request, response)
        return response
    return see_other(request, "/account?notice=session_ended")


@router.post("/account/sessions/end-all")
async def end_all_sessions(request: Request, user: CurrentUser, web: Web) -> Response:
    await web.services.accounts.sign_out_everywhere(user)
    request_context(request.scope).forget_principal()
    response = see_other(request, "/signin?notice=signed_out_everywhere")
    end_session(request, response)
    return response


# -- forgotten password -------------------------------------------------------------------
@router.get("/forgot-password")
async def forgot_page(request: Request, web: Web, user: MaybeUser) -> Response:
    context = {
        "errors": FormErrors(),
        "sent": False,
        "enabled": web.services.password_resets.mailer.enabled,
    }
    return await render(request, "pages/forgot_password.html", context)


@router.post("/forgot-password")
async def forgot(request: Request, web: Web, background: BackgroundTasks) -> Response:
    form = await read_form(request)
    email = text_field(form, "email", max_chars=320)
    resets = web.services.password_resets
    errors = FormErrors()
    status, headers, sent = 422, {}, False
    if not email.strip():
        errors.add("email", "Enter the email address of your account.")
    else:
        try:
            normalised = await resets.check_rate(email, request_context(request.scope).client_ip)
        except Unavailable as exc:
            errors.add(None, exc.message[:1].upper() + exc.message[1:] + ".")
            status = 503
        except RateLimited as exc:
            errors.add(None, "Too many reset requests. Try again later.")
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        else:
            background.add_task(resets.request_in_background, normalised, str(request.base_url))
            status, sent = 202, True
    context = {"errors": errors, "sent": sent, "enabled": resets.mailer.enabled}
    response = await render(
        request, "pages/forgot_password.html", context, status=status, headers=headers
    )
    response.background = background
    return response


@router.get("/reset-password")
async def reset_page(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    context = {"errors": FormErrors(), "token": token}
    return await render(
        request, "pages/reset_password.html", context, headers={"Referrer-Policy": "no-referrer"}
    )


@router.post("/reset-password")
async def reset(request: Request, web: Web) -> Response:
    form = await read_form(request)
    token = text_field(form, "token", max_chars=200)
    new = text_field(form, "new_password", max_chars=1024)
    errors = FormErrors()
    status = 422
    if not new:
        errors.add("new_password", "Enter a new password.")
    elif not token:
        errors.add(None, "This reset link is incomplete. Ask for a new one.")
    else:
        try:
            await web.services.password_resets.confirm(token, new)
        except Invalid as exc:
            errors = errors_from(exc)
            if "token" in errors.fields:
                errors.fields.pop("token")
                errors.add(None, "This reset link is invalid, used or expired. Ask for a new one.")
        except Unavailable as exc:
            errors.add(None, exc.message[:1].upper() + exc.message[1:] + ".")
            status = 503
        else:
            response = see_other(request, "/signin?notice=password_reset")
            end_session(request, response)
            return response
    context = {"errors": errors, "token": token}
    return await render(request, "pages/reset_password.html", context, status=status)
