"""RefusalWriter: the JSON envelope on the API, the error page on web paths."""

from __future__ import annotations

import orjson
from tests.unit.api.asgi import RecordingSend, http_scope

from quizplatform.api.middleware.refusal import Refusal, RefusalWriter

TOO_MANY = Refusal(429, "rate_limited", "slow down", {"Retry-After": "3"})


def page(status: int, message: str, request_id: str) -> bytes:
    return f"<p>{status} {message} {request_id}</p>".encode()


async def test_api_refusals_are_the_json_envelope() -> None:
    send = RecordingSend()
    await RefusalWriter(page).send(http_scope(path="/api/v1/me"), send, "rid", TOO_MANY)
    assert send.status == 429
    assert send.messages[0]["headers"] == [
        (b"content-type", b"application/json"),
        (b"retry-after", b"3"),
        (b"content-length", str(len(send.body)).encode()),
    ]
    assert send.body == orjson.dumps(
        {
            "error": {
                "code": "rate_limited",
                "message": "slow down",
                "request_id": "rid",
                "details": [],
            }
        }
    )


async def test_web_refusals_are_pages_when_the_web_is_mounted() -> None:
    send = RecordingSend()
    await RefusalWriter(page).send(http_scope(path="/signin"), send, "rid", TOO_MANY)
    assert send.body == b"<p>429 slow down rid</p>"
    assert send.headers[b"content-type"] == b"text/html; charset=utf-8"
    assert send.headers[b"cache-control"] == b"no-store"
    assert send.headers[b"retry-after"] == b"3"
    without_web = RecordingSend()
    await RefusalWriter(None).send(http_scope(path="/signin"), without_web, "rid", TOO_MANY)
    assert without_web.headers[b"content-type"] == b"application/json"
