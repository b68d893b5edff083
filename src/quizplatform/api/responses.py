"""Fast JSON responses (``runtime/json.py``'s ``dumps``)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from quizplatform.runtime.json import dumps


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(dumps(data), status_code, headers, media_type="application/json")


def raw_json(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code, media_type="application/json")
