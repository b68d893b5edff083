"""BodyPolicy: the URL and body checks, the limits and the guarded receive."""

from __future__ import annotations

import pytest
from tests.unit.api.asgi import chunked_receive, header_map, http_scope

from quizplatform.api.middleware.body import BodyPolicy, BodyTooLarge
from quizplatform.api.middleware.refusal import Refusal
from quizplatform.runtime.settings import Settings

POLICY = BodyPolicy(Settings(max_body_bytes=100, max_import_bytes=1000))


def check(method: str, path: str, **headers: str) -> Refusal | None:
    scope = http_scope(method, path, {k.replace("_", "-"): v for k, v in headers.items()})
    return POLICY.check(scope, header_map(scope))


def test_a_nul_in_the_url_is_refused() -> None:
    scope = http_scope("GET", "/api/v1/quizzes", query=b"q=%00")
    assert POLICY.check(scope, {}) == Refusal(
        400, "bad_request", "the URL contains a NUL character"
    )
    assert check("GET", "/api/v1/quiz\x00zes") is not None


def test_import_paths_take_larger_bodies() -> None:
    assert POLICY.limit("/api/v1/quizzes") == 100
    assert POLICY.limit("/api/v1/quizzes/import") == 1000
    assert POLICY.limit("/quizzes/import") == 1000


def test_the_declared_length_is_checked_against_the_path_s_limit() -> None:
    refusal = check("POST", "/api/v1/quizzes", content_length="101")
    assert refusal == Refusal(413, "payload_too_large", "the request body is larger than 100 bytes")
    assert (
        check("POST", "/api/v1/quizzes/import", content_length="101", content_type="text/plain")
        is None
    )
    assert check("POST", "/api/v1/quizzes", content_length="ten") == Refusal(
        400, "bad_request", "invalid Content-Length"
    )
    assert check("GET", "/api/v1/quizzes", content_length="100000") is None  # no body methods


def test_content_types_by_path() -> None:
    assert check("POST", "/api/v1/quizzes", content_type="application/json; charset=utf-8") is None
    assert check("POST", "/api/v1/quizzes", content_type="application/merge-patch+json") is None
    refused = check("POST", "/api/v1/quizzes", content_type="text/plain")
    assert refused is not None and refused.status == 415
    assert (
        refused.message == "Content-Type 'text/plain' is not accepted here; send application/json"
    )
    assert check("POST", "/api/v1/quizzes/import", content_type="multipart/form-data; b=x") is None
    assert check("POST", "/signin", content_type="application/x-www-form-urlencoded") is None
    web = check("POST", "/signin", content_type="application/json")
    assert web is not None and web.message.endswith("send a form")
    assert check("POST", "/api/v1/quizzes", content_length="0", content_type="text/plain") is None


async def test_the_guarded_receive_counts_the_body() -> None:
    scope = http_scope("POST", "/api/v1/quizzes", {"content-length": "5"})
    sizes = [0, 0]
    receive = await POLICY.guarded_receive(
        scope, header_map(scope), chunked_receive(b"hello"), sizes
    )
    assert (await receive())["body"] == b"hello"
    assert sizes[0] == 5


async def test_a_body_longer_than_declared_is_stopped_while_read() -> None:
    scope = http_scope("POST", "/api/v1/quizzes", {"content-length": "5"})
    sizes = [0, 0]
    receive = await POLICY.guarded_receive(
        scope, header_map(scope), chunked_receive(b"x" * 101), sizes
    )
    with pytest.raises(BodyTooLarge):
        await receive()


async def test_a_chunked_body_is_buffered_and_replayed_or_refused() -> None:
    scope = http_scope("POST", "/api/v1/quizzes")
    sizes = [0, 0]
    receive = await POLICY.guarded_receive(scope, {}, chunked_receive(b"ab", b"cd"), sizes)
    assert [(await receive())["body"], (await receive())["body"]] == [b"ab", b"cd"]
    assert sizes[0] == 4
    with pytest.raises(BodyTooLarge):
        await POLICY.guarded_receive(scope, {}, chunked_receive(b"x" * 60, b"y" * 60), [0, 0])


def test_import_routes_take_quiz_files_of_every_kind() -> None:
    for path in ("/api/v1/quizzes/import", "/api/v1/quizzes/import/preview"):
        for ctype in (
            "text/plain; charset=utf-8",
            "text/xml",
            "application/xml",
            "application/qti+xml",
            "application/zip",
            "application/x-zip-compressed",
            "application/octet-stream",
            "application/json",
        ):
            assert check("POST", path, content_type=ctype) is None, (path, ctype)
        for ctype in ("image/png", "application/pdf", "application/x-www-form-urlencoded"):
            refused = check("POST", path, content_type=ctype)
            assert refused is not None and refused.status == 415, (path, ctype)
            assert "send a quiz file" in refused.message
    # elsewhere on the API, XML and zip stay refused
    for ctype in ("application/xml", "application/zip", "application/octet-stream"):
        refused = check("POST", "/api/v1/quizzes", content_type=ctype)
        assert refused is not None and refused.status == 415


def test_the_web_import_save_step_may_carry_the_file_base64_encoded() -> None:
    assert POLICY.limit("/api/v1/quizzes/import/preview") == 1000
    assert POLICY.limit("/teach/import") == 1000
    # a third more than the file (base64), plus room for the other fields
    assert POLICY.limit("/teach/import/save") == 1334 + 64 * 1024
    assert POLICY.limit("/teach/import/saved") == 100
    refusal = check("POST", "/teach/import/save", content_length=str(1334 + 64 * 1024 + 1))
    assert refusal is not None and refusal.status == 413
