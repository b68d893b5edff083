"""Fast JSON responses: orjson straight to bytes (FastAPI's encoder costs ~1 ms a page)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=JSON_OPTIONS)


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(dumps(data), status_code, headers, media_type="application/json")


def raw_json(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code, media_type="application/json")
