"""Import and export through HTTP: every GIFT feature, line-numbered errors, round trips."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from quizplatform.db import models
from quizplatform.domain.formats import FORMAT_INFO
from tests.api.helpers import Api
from tests.api.samples import all_types_quiz
from tests.fakes.formats import FAKE_XML, register_fake_qti, register_fake_xml, zip_of
from tests.unit.domain.formats.test_qti import zip_bomb

FIXTURES = Path(__file__).parent.parent / "fixtures"


async def test_gift_with_every_feature_imports_with_types_keys_and_weights(api: Api) -> None:
    teacher = await api.user("teacher")
    gift = (FIXTURES / "every_feature.gift").read_text()
    r = await api.http.post(
        "/api/v1/quizzes/import?format=gift&title=Everything",
        content=gift.encode(),
        headers={**teacher.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    quiz = r.json()
    assert quiz["title"] == "Everything" and quiz["status"] == "draft"
    qs = quiz["questions"]
    assert [q["type"] for q in qs] == [
        "single_choice",
        "multiple_choice",
        "true_false",
        "true_false",
        "short_answer",
        "numeric",
        "numeric",
        "numeric",
        "matching",
        "essay",
        "description",
        "single_choice",
        "true_false",
        "single_choice",
    ]
    red = qs[0]
    assert red["title"] == "Red planet" and red["text_format"] == "html"
    assert red["category"] == "Science/Astronomy"  # without Moodle's $course$/ prefix
    assert [(o["text"], o["weight"], o["correct"]) for o in red["options"]] == [
        ("Mars", 100, True),
        ("Jupiter", 50, False),
        ("Venus", 0, False),
    ]
    assert red["options"][0]["feedback"] == "Right, iron oxide."
    assert red["feedback"] == "Mars looks red because of rust."
    assert [o["weight"] for o in qs[1]["options"]] == [50, 50, -100]
    assert qs[2]["answer"] is True
    assert qs[2]["wrong_feedback"] == "Wrong: it is a star." and qs[2]["right_feedback"] == "Right!"
    assert qs[3]["answer"] is False
    assert [(a["text"], a["weight"]) for a in qs[4]["answers"]] == [
        ("Au", 100),
        ("AU", 50),
        ("Gold", 100),
    ]
    assert qs[5]["answers"] == [
        {"value": 3.14, "tolerance": 0.005, "weight": 100, "feedback": None}
    ]
    assert (qs[6]["answers"][0]["value"], qs[6]["answers"][0]["tolerance"]) == (3, 2)
    assert [(a["value"], a["tolerance"], a["weight"]) for a in qs[7]["answers"]] == [
        (1822, 0, 100),
        (1822, 2, 50),
    ]
    assert [(p["left"], p["right"]) for p in qs[8]["pairs"]] == [
        ("cat", "meow"),
        ("dog", "woof"),
        ("cow", "moo"),
    ]
    assert qs[10]["points"] == 0
    assert qs[11]["prompt"] == "Moodle costs _____ to download."
    assert (
        qs[12]["prompt"]
        == "Escapes: 1 = 1, ~ tilde, # hash, {braces} and a colon: fine. Line\nbreak"
    )
    assert qs[13]["prompt"] == "A question\nspread over\nseveral lines"
    assert qs[13]["text_format"] == "markdown"


async def test_malformed_gift_gets_422_with_line_numbers_and_saves_nothing(api: Api) -> None:
    teacher = await api.user("teacher")
    bad = "::Q1:: Fine question {=yes ~no}\n\n::Q2:: Broken {=a ~b\n\n::Q3:: Also fine {T}\n"
    r = await api.http.post(
        "/api/v1/quizzes/import?format=gift",
        content=bad.encode(),
        headers={**teacher.headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert details and all("line" in d and "message" in d for d in details)
    assert 3 in [d["line"] for d in details]
    async with api.services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(models.Quiz)) == 0
        assert await session.scalar(select(func.count()).select_from(models.Question)) == 0


async def test_json_export_reimports_to_an_equal_quiz(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz(time_limit_seconds=600, shuffle_options=True))
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format=json", headers=teacher.headers
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    again = await api.http.post(
        "/api/v1/quizzes/import?format=json",
        content=r.content,
        headers={**teacher.headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201, again.text
    copy = again.json()
    assert _content(copy) == _content(quiz)


async def test_gift_export_of_ordering_question_is_refused_clearly(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz())
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format=gift", headers=teacher.headers
    )
    assert r.status_code == 422
    assert "ordering" in r.json()["error"]["message"]


async def test_multipart_upload_of_aiken(api: Api) -> None:
    teacher = await api.user("teacher")
    aiken = "What is 2+2?\nA. 3\nB. 4\nC. 5\nANSWER: B\n"
    r = await api.http.post(
        "/api/v1/quizzes/import?format=aiken",
        files={"file": ("quiz.txt", aiken.encode(), "text/plain")},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text
    options = r.json()["questions"][0]["options"]
    assert [o["correct"] for o in options] == [False, True, False]


def _content(quiz: dict[str, object]) -> object:
    """A quiz without ids, timestamps and status: what an export must carry."""
    drop = {"id", "right_id", "created_at", "updated_at", "published_at", "status"}

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(quiz)


# -- detection, preview, skip_unsupported, binary packages (issue 16) ---------------------
AIKEN = "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nANSWER: B\n"
GIFT = "::Sun:: The Sun is a star. {T}\n\n::Sum:: 2 + 2 = ? {=4 ~3 ~5}\n"
BROKEN_GIFT = "::Q1:: Fine {=yes ~no}\n\n::Q2:: Broken {=a ~b\n"


async def _count_quizzes(api: Api) -> int:
    """Quizzes (not the teachers' hidden bank rows, which an import fills too)."""
    async with api.services.db.session() as session:
        query = select(func.count()).select_from(models.Quiz).where(models.Quiz.status != "bank")
        return int(await session.scalar(query) or 0)


async def _post(
    api: Api, path: str, body: bytes, headers: dict[str, str], ctype: str = "text/plain"
) -> httpx.Response:
    return await api.http.post(
        f"/api/v1/quizzes/{path}", content=body, headers={**headers, "Content-Type": ctype}
    )


async def test_each_registered_text_format_is_detected_when_format_is_left_out(
    api: Api,
) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz(), publish=False)
    exported = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format=json", headers=teacher.headers
    )
    samples = {"gift": GIFT.encode(), "aiken": AIKEN.encode(), "json": exported.content}
    for fmt, body in samples.items():
        preview = await _post(api, "import/preview", body, teacher.headers)
        assert preview.status_code == 200, preview.text
        seen = preview.json()
        assert (seen["format"], seen["detected"], seen["ok"]) == (fmt, True, True), seen
        r = await _post(api, "import", body, teacher.headers)
        assert r.status_code == 201, (fmt, r.text)
        imported = r.json()["questions"]
        assert [q["type"] for q in imported] == [q["type"] for q in seen["questions"]]
    # a given format is used as given, even where detection would say otherwise
    r = await _post(api, "import/preview?format=gift", AIKEN.encode(), teacher.headers)
    assert r.json()["format"] == "gift" and r.json()["detected"] is False


async def test_preview_shows_what_an_import_would_create_and_saves_nothing(api: Api) -> None:
    teacher = await api.user("teacher")
    before = await _count_quizzes(api)
    r = await _post(api, "import/preview?title=Stars", GIFT.encode(), teacher.headers)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["title"] == "Stars" and preview["problems"] == []
    assert preview["questions"] == [
        {
            "type": "true_false",
            "title": "Sun",
            "prompt": "The Sun is a star.",
            "points": 1.0,
            "category": None,
            "tags": [],
        },
        {
            "type": "single_choice",
            "title": "Sum",
            "prompt": "2 + 2 = ?",
            "points": 1.0,
            "category": None,
            "tags": [],
        },
    ]
    broken = await _post(api, "import/preview", BROKEN_GIFT.encode(), teacher.headers)
    assert broken.status_code == 200
    seen = broken.json()
    assert seen["ok"] is False and seen["questions"] == [] and seen["skippable"] is None
    assert [p["line"] for p in seen["problems"]] == [3]
    assert await _count_quizzes(api) == before == 0
    # the same file imports as previewed
    r = await _post(api, "import?title=Stars", GIFT.encode(), teacher.headers)
    assert [q["prompt"] for q in r.json()["questions"]] == [
        q["prompt"] for q in preview["questions"]
    ]


async def test_students_cannot_preview(api: Api) -> None:
    student = await api.user("student")
    r = await _post(api, "import/preview", GIFT.encode(), student.headers)
    assert r.status_code == 403
    r = await api.http.post("/api/v1/quizzes/import/preview", content=GIFT.encode())
    assert r.status_code == 401


async def test_odd_input_gets_a_clear_4xx_and_saves_nothing(api: Api) -> None:
    teacher = await api.user("teacher")
    h = teacher.headers
    for path in ("import", "import/preview"):
        r = await _post(api, path, b"", h)
        assert r.status_code == 422 and "empty" in r.json()["error"]["message"], r.text
        r = await _post(api, path, b"\xef\xbb\xbf \n\t ", h)
        assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
        r = await _post(api, path, b"just some words, no questions", h)
        assert r.status_code == 422
        error = r.json()["error"]
        assert "could not be told" in error["message"]
        assert ["query", "format"] in [d.get("loc") for d in error["details"]]
        r = await _post(api, path + "?format=docx", GIFT.encode(), h)
        assert r.status_code == 422
        assert ["query", "format"] in [d["loc"] for d in r.json()["error"]["details"]]
        r = await _post(api, path, GIFT.encode(), h, ctype="image/png")
        assert r.status_code == 415
        r = await _post(api, path, b"Q1 {T}\n\nQ2 \xff {F}\n", h)
        if path == "import":
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"] == [
                {"line": 3, "message": "the file is not UTF-8 text"}
            ]
        else:
            assert r.json()["problems"] == [
                {"line": 3, "message": "the file is not UTF-8 text", "file": None}
            ]
        r = await api.http.post(
            f"/api/v1/quizzes/{path}",
            files={"other": ("q.gift", GIFT.encode(), "text/plain")},
            headers=h,
        )
        assert r.status_code == 422 and "multipart field 'file'" in r.json()["error"]["message"]
    assert await _count_quizzes(api) == 0


async def test_xml_zip_and_octet_stream_bodies_are_accepted_on_the_import_routes(
    api: Api,
) -> None:
    teacher = await api.user("teacher")
    for ctype in ("application/xml", "text/xml", "application/zip", "application/octet-stream"):
        r = await _post(api, "import/preview", GIFT.encode(), teacher.headers, ctype=ctype)
        assert r.status_code == 200 and r.json()["format"] == "gift", (ctype, r.text)


async def test_oversize_files_get_413_quickly_and_nothing_is_saved(api: Api) -> None:
    teacher = await api.user("teacher")
    limit = api.services.settings.max_import_bytes
    body = GIFT.encode() * (limit // len(GIFT) + 1)
    for path in ("import", "import/preview"):
        started = time.perf_counter()
        r = await _post(api, path, body, teacher.headers)
        assert r.status_code == 413, r.text
        assert time.perf_counter() - started < 2.0
        r = await api.http.post(
            f"/api/v1/quizzes/{path}",
            files={"file": ("big.gift", body, "text/plain")},
            headers=teacher.headers,
        )
        assert r.status_code == 413
    # within the byte limit but over the question limit: 413 from the reader
    many = "".join(f"Q{n} {{T}}\n\n" for n in range(501)).encode()
    for path in ("import", "import/preview"):
        r = await _post(api, path, many, teacher.headers)
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"
    assert await _count_quizzes(api) == 0


async def test_export_offers_every_registered_format(api: Api) -> None:
    teacher = await api.user("teacher")
    body = {
        "title": "Sums",
        "questions": [
            {
                "type": "single_choice",
                "prompt": "2 + 2?",
                "options": [{"text": "4", "correct": True}, {"text": "5", "correct": False}],
            }
        ],
    }
    quiz = await api.quiz(teacher, body, publish=False)
    for fmt, info in FORMAT_INFO.items():
        r = await api.http.get(
            f"/api/v1/quizzes/{quiz['id']}/export?format={fmt}", headers=teacher.headers
        )
        assert r.status_code == 200, (fmt, r.text)
        assert r.headers["content-type"].split(";")[0] == info.media_type.split(";")[0]
        disposition = r.headers["content-disposition"]
        assert disposition == f'attachment; filename="quiz-{quiz["id"]}.{info.extension}"'
        again = await api.http.post(
            f"/api/v1/quizzes/import?format={fmt}",
            content=r.content,
            headers={**teacher.headers, "Content-Type": "application/octet-stream"},
        )
        assert again.status_code == 201, (fmt, again.text)
        assert again.json()["questions"][0]["prompt"] == "2 + 2?"
    document = (await api.http.get("/api/v1/openapi.json")).json()
    params = document["paths"]["/api/v1/quizzes/{id}/export"]["get"]["parameters"]
    fmt_param = next(p for p in params if p["name"] == "format")
    assert fmt_param["schema"]["enum"] == list(FORMAT_INFO)
    body_types = document["paths"]["/api/v1/quizzes/import"]["post"]["requestBody"]["content"]
    assert {"application/xml", "application/zip", "multipart/form-data"} <= set(body_types)


async def test_skip_unsupported_with_a_fake_format_that_has_unsupported_types(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAKE reader (tests/fakes/formats.py) registered as "moodle_xml" for this test."""
    register_fake_xml(monkeypatch)
    teacher = await api.user("teacher")
    body = FAKE_XML.encode()
    r = await _post(api, "import", body, teacher.headers, ctype="application/xml")
    assert r.status_code == 422, r.text
    assert [d["line"] for d in r.json()["error"]["details"]] == [4, 6]
    preview = (await _post(api, "import/preview", body, teacher.headers)).json()
    assert preview["format"] == "moodle_xml" and preview["detected"] is True
    assert preview["ok"] is False and preview["skippable"] == 2
    assert [p["line"] for p in preview["problems"]] == [4, 6]
    skipping = await _post(api, "import/preview?skip_unsupported=true", body, teacher.headers)
    seen = skipping.json()
    assert seen["ok"] is True and seen["skip_unsupported"] is True
    assert [q["prompt"] for q in seen["questions"]] == ["The Earth is round.", "Water is wet."]
    assert [w["line"] for w in seen["warnings"]] == [4, 6]
    assert await _count_quizzes(api) == 0
    r = await _post(api, "import?skip_unsupported=true", body, teacher.headers)
    assert r.status_code == 201, r.text
    assert [q["prompt"] for q in r.json()["questions"]] == ["The Earth is round.", "Water is wet."]
    assert await _count_quizzes(api) == 1


async def test_a_binary_package_with_a_fake_zip_format(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAKE zip reader (tests/fakes/formats.py) registered as "qti" for this test."""
    register_fake_qti(monkeypatch)
    teacher = await api.user("teacher")
    package = zip_of({"a.gift": GIFT, "b.gift": "Q3 {F}\n", "readme.txt": "\xff"})
    preview = (await _post(api, "import/preview", package, teacher.headers)).json()
    assert (preview["format"], preview["detected"], preview["ok"]) == ("qti", True, True)
    assert len(preview["questions"]) == 3
    r = await _post(api, "import", package, teacher.headers, ctype="application/zip")
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "Fake QTI package" and len(r.json()["questions"]) == 3
    # multipart, with NUL bytes kept (binary): the zip is intact
    r = await api.http.post(
        "/api/v1/quizzes/import?title=Upload",
        files={"file": ("export.zip", package, "application/zip")},
        headers=teacher.headers,
    )
    assert r.status_code == 201 and r.json()["title"] == "Upload"
    # problems carry the file in the package and its line
    broken = zip_of({"a.gift": GIFT, "b.gift": "Fine {T}\n\nBroken {=a ~b\n"})
    r = await _post(api, "import", broken, teacher.headers, ctype="application/zip")
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"line": 3, "message": r.json()["error"]["details"][0]["message"], "file": "b.gift"}
    ]
    preview = (await _post(api, "import/preview", broken, teacher.headers)).json()
    assert [(p["file"], p["line"]) for p in preview["problems"]] == [("b.gift", 3)]
    not_a_zip = b"PK\x03\x04 but nothing more"
    r = await _post(api, "import", not_a_zip, teacher.headers, ctype="application/zip")
    assert r.status_code == 422 and "zip" in r.json()["error"]["details"][0]["message"]
    assert await _count_quizzes(api) == 2


MOODLE = FIXTURES / "moodle_xml"
needs_real_moodle_xml = pytest.mark.skipif(
    "moodle_xml" not in FORMAT_INFO or not (MOODLE / "mixed_unsupported.xml").exists(),
    reason="the real Moodle XML reader and its fixtures come with the h16-xml branch",
)


@needs_real_moodle_xml
async def test_a_real_moodle_xml_export_is_detected_and_its_unsupported_questions_skipped(
    api: Api,
) -> None:
    """The real reader (not a fake): runs once Moodle XML is registered."""
    teacher = await api.user("teacher")
    data = (MOODLE / "mixed_unsupported.xml").read_bytes()
    preview = (await _post(api, "import/preview", data, teacher.headers)).json()
    assert (preview["format"], preview["detected"], preview["ok"]) == ("moodle_xml", True, False)
    assert preview["skippable"] == 2 and len(preview["problems"]) == 4
    assert all(p["line"] > 0 for p in preview["problems"])
    r = await _post(api, "import", data, teacher.headers, ctype="application/xml")
    assert r.status_code == 422 and len(r.json()["error"]["details"]) == 4
    assert await _count_quizzes(api) == 0
    r = await api.http.post(
        "/api/v1/quizzes/import?skip_unsupported=true",
        files={"file": ("moodle-export.xml", data, "application/xml")},
        headers=teacher.headers,
    )
    assert r.status_code == 201, r.text
    assert [q["type"] for q in r.json()["questions"]] == ["true_false", "essay"]
    everything = (MOODLE / "all_types.xml").read_bytes()
    r = await _post(api, "import", everything, teacher.headers, ctype="text/xml")
    assert r.status_code == 201, r.text
    assert len(r.json()["questions"]) == everything.count(b"<question ") - everything.count(
        b'type="category"'
    )


# -- the real IMS QTI 2.1 packages ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "moodle_xml", "qti"])
async def test_an_export_of_every_type_reimports_to_equal_questions(api: Api, fmt: str) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz(), publish=False)
    r = await api.http.get(
        f"/api/v1/quizzes/{quiz['id']}/export?format={fmt}", headers=teacher.headers
    )
    assert r.status_code == 200, r.text
    info = FORMAT_INFO[fmt]
    assert r.headers["content-type"].split(";")[0] == info.media_type.split(";")[0]
    assert r.headers["content-disposition"].endswith(f'.{info.extension}"')
    again = await api.http.post(  # detected from the file, sent as an upload
        "/api/v1/quizzes/import",
        files={"file": (f"export.{info.extension}", r.content, info.media_type)},
        headers=teacher.headers,
    )
    assert again.status_code == 201, again.text
    assert _content(again.json())["questions"] == _content(quiz)["questions"]  # type: ignore[index]


async def test_a_qti_zip_bomb_is_refused_with_413_quickly_and_nothing_is_saved(api: Api) -> None:
    teacher = await api.user("teacher")
    bomb = zip_bomb()
    for path in ("import", "import/preview"):
        started = time.perf_counter()
        r = await _post(api, path, bomb, teacher.headers, ctype="application/zip")
        assert time.perf_counter() - started < 2.0
        assert r.status_code == 413, r.text
        assert "nothing was decompressed" in r.json()["error"]["message"]
    assert await _count_quizzes(api) == 0
