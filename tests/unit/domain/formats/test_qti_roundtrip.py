"""Property test: a quiz written as a QTI 2.1 package reads back equal, for every type
(strategies shared with the Moodle XML round trip)."""

from __future__ import annotations

import io
import zipfile
from xml.dom import minidom

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.domain.formats.test_moodle_xml_roundtrip import PROPERTY, TEXT, moodle_questions

from quizplatform.domain.formats import read_quiz, write_quiz
from quizplatform.domain.questions import Question, QuizContent


@PROPERTY
@given(st.lists(moodle_questions(), min_size=1, max_size=6), TEXT)
def test_qti_round_trip(questions: list[Question], title: str) -> None:
    out = write_quiz("qti", QuizContent(title, questions=questions))
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        for name in archive.namelist():
            minidom.parseString(archive.read(name))  # noqa: S318 (our own output)
    imported = read_quiz("qti", out)
    assert imported.warnings == []
    assert imported.quiz.title == title
    assert imported.quiz.questions == questions


@PROPERTY
@given(moodle_questions())
def test_every_supported_type_round_trips_alone(q: Question) -> None:
    out = write_quiz("qti", QuizContent("x", questions=[q]))
    assert write_quiz("qti", QuizContent("x", questions=[q])) == out, "deterministic"
    assert read_quiz("qti", out).quiz.questions == [q]
