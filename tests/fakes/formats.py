"""Small FAKE quiz formats, registered for one test by monkeypatching the format registry
(``FORMAT_INFO`` and the reader table), to test the import paths that only real formats
of other branches exercise: a binary zip package (as QTI will be) and a format with
question types the platform lacks (as Moodle XML has), i.e. ``skip_unsupported``.

They are NOT the real Moodle XML or QTI readers: they borrow those names so format
detection (a zip is "qti", XML is "moodle_xml") picks them, and they restore whatever
is registered under those names after the test.

- ``fake_qti``: a zip of GIFT files (``*.gift``); each file is read with the real GIFT
  reader, and its problems carry the file's name.
- ``fake_xml``: ``<quiz>`` with one ``<question type="...">prompt</question>`` a line;
  ``truefalse`` is a true/false question (answer true), any other type is unsupported.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from quizplatform.domain import formats
from quizplatform.domain.formats import FormatError, FormatInfo, Imported, ParseIssue
from quizplatform.domain.formats.gift import read_gift
from quizplatform.domain.limits import Budget
from quizplatform.domain.questions import Question, QuestionType, QuizContent

_LINE = re.compile(r'\s*<question type="([^"]*)">(.*)</question>\s*$')


def read_fake_qti(data: bytes, budget: Budget | None, skip_unsupported: bool) -> Imported:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise FormatError([ParseIssue(0, "the file is not a zip package")]) from exc
    questions: list[Question] = []
    issues: list[ParseIssue] = []
    for name in sorted(archive.namelist()):
        if not name.endswith(".gift"):
            continue
        try:
            part = read_gift(archive.read(name).decode(), budget)
        except FormatError as exc:
            issues += [ParseIssue(i.line, i.message, name) for i in exc.issues]
            continue
        questions += part.questions
    if issues:
        raise FormatError(issues)
    return Imported(QuizContent(title="Fake QTI package", questions=questions))


def read_fake_xml(data: bytes, budget: Budget | None, skip_unsupported: bool) -> Imported:
    text = data.decode("utf-8")
    questions: list[Question] = []
    issues: list[ParseIssue] = []
    warnings: list[ParseIssue] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            continue
        qtype, prompt = match.groups()
        if qtype == "truefalse":
            questions.append(Question(type=QuestionType.TRUE_FALSE, prompt=prompt, answer=True))
            continue
        message = f"type '{qtype}' is not supported"
        if skip_unsupported:
            warnings.append(ParseIssue(number, message + "; skipped"))
        else:
            issues.append(ParseIssue(number, message))
    if issues:
        raise FormatError(issues)
    return Imported(QuizContent(title="Fake XML", questions=questions), warnings)


def register_fake_qti(monkeypatch: pytest.MonkeyPatch) -> None:
    info = FormatInfo("Fake QTI (test)", "application/zip", "qti.zip", binary=True)
    monkeypatch.setitem(formats.FORMAT_INFO, "qti", info)
    monkeypatch.setitem(formats._READERS, "qti", read_fake_qti)


def register_fake_xml(monkeypatch: pytest.MonkeyPatch) -> None:
    info = FormatInfo("Fake XML (test)", "application/xml", "xml")
    monkeypatch.setitem(formats.FORMAT_INFO, "moodle_xml", info)
    monkeypatch.setitem(formats._READERS, "moodle_xml", read_fake_xml)


def zip_of(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


FAKE_XML = (
    '<?xml version="1.0"?>\n<quiz>\n'
    '<question type="truefalse">The Earth is round.</question>\n'
    '<question type="calculated">What is {x} + 1?</question>\n'
    '<question type="truefalse">Water is wet.</question>\n'
    '<question type="randomsamatch">Random matching</question>\n'
    "</quiz>\n"
)
