"""Two-step sign-in (TOTP): set it up, turn it off, new recovery codes."""

from __future__ import annotations

from fastapi import APIRouter, Response

from quizplatform.api.deps import CurrentUser, ServicesDep
from quizplatform.api.openapi import COMMON, ON_AN_OBJECT, SIGNED_IN, WITH_A_BODY, error_responses
from quizplatform.api.responses import json_response
from quizplatform.api.v1 import API_PREFIX
from quizplatform.api.v1.documents import enrolment_json
from quizplatform.api.v1.schemas import MfaCodeIn, MfaOffIn

router = APIRouter(
    prefix=API_PREFIX,
    tags=["accounts"],
    responses=error_responses(*COMMON, *SIGNED_IN, *ON_AN_OBJECT, *WITH_A_BODY),
)
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/me/mfa", summary="Whether two-step sign-in is on for the caller")
async def mfa_status(caller: CurrentUser, services: ServicesDep) -> Response:
    return json_response({"enabled": await services.mfa.enabled(caller.user_id)})


@router.post(
    "/me/mfa/enrol",
    summary="Start setting up two-step sign-in: a new secret, its otpauth link and QR code",
)
async def mfa_enrol(caller: CurrentUser, services: ServicesDep) -> Response:
    enrolment = await services.mfa.enrol(caller)
    return json_response(enrolment_json(enrolment), headers=NO_STORE)


@router.post(
    "/me/mfa/confirm",
    summary="Turn two-step sign-in on with a first code; the recovery codes (shown once)",
)
async def mfa_confirm(body: MfaCodeIn, caller: CurrentUser, services: ServicesDep) -> Response:
    codes = await services.mfa.confirm(caller, body.code)
    return json_response({"enabled": True, "recovery_codes": codes}, headers=NO_STORE)


@router.post("/me/mfa/disable", status_code=204, summary="Turn two-step sign-in off")
async def mfa_disable(body: MfaOffIn, caller: CurrentUser, services: ServicesDep) -> Response:
    await services.mfa.disable(caller, body.password, body.code)
    return Response(status_code=204)


@router.post(
    "/me/mfa/recovery-codes",
    summary="New recovery codes (the old ones stop working); shown once",
)
async def mfa_recovery_codes(
    body: MfaCodeIn, caller: CurrentUser, services: ServicesDep
) -> Response:
    codes = await services.mfa.new_recovery_codes(caller, body.code)
    return json_response({"recovery_codes": codes}, headers=NO_STORE)
