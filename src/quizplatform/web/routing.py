"""The router every page module uses."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from quizplatform.web.session import verify_csrf


def page_router() -> APIRouter:
    """A page module's router: the CSRF token is checked on every unsafe request."""
    return APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)
