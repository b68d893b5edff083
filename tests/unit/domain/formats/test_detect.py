"""Format detection: each format by its content, the file name as a hint, only registered
formats named, and hostile inputs (empty, binary noise, huge, unterminated, odd Unicode)
answered quickly with a format or None, never an exception."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quizplatform.domain.formats import read_quiz, write_quiz
from quizplatform.domain.formats.detect import detect_format
from quizplatform.domain.questions import Choice, Question, QuestionType, QuizContent

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
ALL = ("gift", "aiken", "json", "moodle_xml", "qti")
GIFT = b"::Q1:: What is 2 + 2? {=4 ~3 ~5}\n"
AIKEN = b"What is 2 + 2?\nA. 3\nB) 4\nANSWER: B\n"
MOODLE = b'<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n<question type="truefalse"/>\n</quiz>'
ZIP = b"PK\x03\x04\x14\x00\x00\x00rest of a zip"


def _detect(data: bytes, filename: str | None = None) -> str | None:
    return detect_format(data, filename, registered=ALL)


def test_each_format_is_told_by_its_content() -> None:
    assert _detect(GIFT) == "gift"
    assert _detect(AIKEN) == "aiken"
    assert _detect(b'{"format": "quizplatform", "version": 1, "questions": []}') == "json"
    assert _detect(MOODLE) == "moodle_xml"
    assert _detect(b"<quiz><question/></quiz>") == "moodle_xml"
    assert _detect(ZIP) == "qti"
    assert _detect(b"PK\x05\x06" + b"\x00" * 18) == "qti", "an empty zip"


def test_real_files_and_exports_are_told() -> None:
    assert _detect((FIXTURES / "every_feature.gift").read_bytes()) == "gift"
    quiz = QuizContent(
        title="Export",
        questions=[
            Question(
                type=QuestionType.SINGLE_CHOICE,
                prompt="What is 2 + 2?",
                options=[Choice("3", 0), Choice("4", 100)],
            )
        ],
    )
    for fmt in ("gift", "aiken", "json"):
        data = write_quiz(fmt, quiz)
        assert detect_format(data, None) == fmt, (fmt, data)
        assert read_quiz(fmt, data).quiz.questions[0].prompt == "What is 2 + 2?"


def test_a_byte_order_mark_white_space_and_crlf_are_looked_past() -> None:
    assert _detect(b"\xef\xbb\xbf\r\n  " + MOODLE) == "moodle_xml"
    assert _detect(b'\xef\xbb\xbf  {\r\n  "format": "quizplatform"}') == "json"
    assert _detect(AIKEN.replace(b"\n", b"\r\n")) == "aiken"
    assert _detect(b"\xef\xbb\xbf" + GIFT) == "gift"


def test_xml_roots_past_comments_doctypes_and_namespaces() -> None:
    prolog = b'<?xml version="1.0"?>\n<!-- exported <quiz> from Moodle -->\n<!DOCTYPE quiz>\n'
    assert _detect(prolog + b"<quiz/>") == "moodle_xml"
    item = b'<?xml version="1.0"?><qti:assessmentItem xmlns:qti="http://www.imsglobal.org/xsd/imsqti_v2p1"/>'
    assert _detect(item) == "qti"
    assert _detect(b'<assessmentItem identifier="q1"/>') == "qti"
    # An XML file of another kind: Moodle XML's reader then says its root is not <quiz>.
    assert _detect(b'<?xml version="1.0"?><html/>') == "moodle_xml"
    assert _detect(b"<html><body>hi</body></html>") is None
    assert _detect(b"<?xml version=") == "moodle_xml", "cut short"
    assert _detect(b"<!-- never closed " + b"x" * 10_000) is None


def test_the_file_name_is_a_hint() -> None:
    text = b"Some text with no questions in it\n"
    assert _detect(text) is None
    assert _detect(text, "quiz.gift") == "gift"
    assert _detect(text, "C:\\Users\\me\\quiz-1.gift.txt") == "gift"
    assert _detect(text, "quiz-1.aiken.txt") == "aiken"
    assert _detect(text, "bank.XML") == "moodle_xml"
    assert _detect(text, "package.zip") == "qti"
    assert _detect(text, "notes.txt") is None, "a .txt could be GIFT or Aiken"
    # .gift names the format even where the content alone reads as Aiken
    assert _detect(AIKEN, "quiz.gift") == "gift"
    # content that is clearly something else wins over the name
    assert _detect(ZIP, "quiz.gift") == "qti"
    assert _detect(MOODLE, "quiz.json") == "moodle_xml"


def test_only_registered_formats_are_named() -> None:
    text_only = ("gift", "aiken", "json")
    assert detect_format(ZIP, "quiz.zip", registered=text_only) is None
    assert detect_format(MOODLE, "quiz.xml", registered=text_only) is None
    assert detect_format(AIKEN, registered=("gift", "json")) is None, "no answer block"
    assert detect_format(GIFT, registered=()) is None
    # the default is the live registry
    assert detect_format(GIFT, None) == "gift"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 1000,
        b"\xef\xbb\xbf",
        b"\xff\xfe<\x00q\x00u\x00i\x00z\x00>\x00",  # UTF-16, which the readers do not take
        bytes(range(256)) * 100,
        b"PK",
        b"{",
        b"[" * 100_000,
        b"{" * 100_000,
        b"<" * 100_000,
        b"<?" * 100_000,
        b"{" + b"a" * 30_000 + b"{" + b"b" * 30_000,
        "\u202e\u0000\ud7ff\U0010ffff é ANSWER: Z".encode(),
        b"A. x\n" * 50_000,
        b"ANSWER: A\n" * 50_000,
    ],
)
def test_hostile_inputs_get_an_answer_quickly(data: bytes) -> None:
    started = time.perf_counter()
    found = _detect(data, "x" * 10_000)
    assert found is None or found in ALL
    assert time.perf_counter() - started < 0.5


def test_a_two_megabyte_file_is_told_in_well_under_a_second() -> None:
    big = GIFT * (2 * 1024 * 1024 // len(GIFT))
    started = time.perf_counter()
    assert _detect(big) == "gift"
    no_block = b"just words " * (2 * 1024 * 1024 // 11)
    assert _detect(no_block) is None
    assert time.perf_counter() - started < 1.0
