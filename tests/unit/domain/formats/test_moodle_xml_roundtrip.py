"""Property test: a quiz written as Moodle XML reads back equal, for every type."""

from __future__ import annotations

from xml.dom import minidom

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quizplatform.domain.formats import read_quiz, write_quiz
from quizplatform.domain.questions import (
    TEXT_FORMATS,
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
    validate_question,
)

QT = QuestionType
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What XML 1.0 can hold (no other control characters, no carriage return: XML reads it
# as a newline), with the characters that mean something in XML and in Moodle's paths.
_XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\r\ufffe\uffff" + "".join(chr(c) for c in range(32) if c not in (9, 10)),
)
SPECIAL = ["<", ">", "&", "]]>", "<![CDATA[", "&amp;", "&#1;", "$course$/", "top/", "/", "*",
           '"', "'", "\t", "\n", "<p>x</p>", "é", "漢", "😀", "\u2028", "\u00a0"]  # fmt: skip
TEXT = (
    st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(_XML_CHARS, max_size=6)), max_size=5)
    .map(lambda parts: "".join(parts).strip())
    .filter(bool)
)
OPTIONAL = st.none() | TEXT
WEIGHT = st.one_of(
    st.sampled_from([0.0, 50.0, -25.0, 33.33333, 83.33333, 100.0 / 3, -100.0, 1e-05]),
    st.floats(-100, 100, allow_nan=False),
)
NUMBER = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def moodle_questions(draw: st.DrawFn) -> Question:
    qtype = draw(st.sampled_from(list(QT)))
    q = Question(
        qtype,
        draw(TEXT),
        points=draw(st.sampled_from([0.0, 1.0, 2.5]) | st.floats(0, 1e6)),
        title=draw(OPTIONAL),
        feedback=draw(OPTIONAL),
        tags=draw(st.lists(TEXT, max_size=3)),
        category=draw(st.sampled_from([None, "Geography/Rivers", "top", "top/x"]) | OPTIONAL),
        text_format=draw(st.sampled_from(TEXT_FORMATS)),
    )
    if qtype is QT.SINGLE_CHOICE:
        n = draw(st.integers(2, 5))
        correct = draw(st.integers(0, n - 1))
        q.options = [
            Choice(draw(TEXT), 100.0 if i == correct else min(draw(WEIGHT), 99.0), draw(OPTIONAL))
            for i in range(n)
        ]
    elif qtype is QT.MULTIPLE_CHOICE:
        k = draw(st.integers(1, 4))
        others = draw(st.lists(st.sampled_from([0.0, -50.0, -100.0, -33.33333]), max_size=3))
        ws = draw(st.permutations([100.0 / k] * k + others))
        q.options = [Choice(draw(TEXT), w, draw(OPTIONAL)) for w in [*ws, 0.0]]
    elif qtype is QT.TRUE_FALSE:
        q.answer = draw(st.booleans())
        q.wrong_feedback = draw(OPTIONAL)
        q.right_feedback = draw(OPTIONAL)
    elif qtype is QT.SHORT_ANSWER:
        answer_text = TEXT.filter(lambda t: t != "*")
        q.text_answers = [
            TextAnswer(draw(answer_text), 100.0, draw(OPTIONAL)),
            *draw(st.lists(st.builds(TextAnswer, answer_text, WEIGHT, OPTIONAL), max_size=3)),
        ]
        q.case_sensitive = draw(st.booleans())
        q.other_feedback = draw(OPTIONAL)
    elif qtype is QT.NUMERIC:
        q.numeric_answers = draw(
            st.lists(
                st.builds(
                    NumericAnswer,
                    NUMBER,
                    st.floats(0, 1e300, allow_nan=False) | st.just(0.0),
                    WEIGHT,
                    OPTIONAL,
                ),
                min_size=1,
                max_size=4,
            )
        )
        q.other_feedback = draw(OPTIONAL)
    elif qtype is QT.MATCHING:
        q.pairs = [Pair(draw(TEXT), draw(TEXT)) for _ in range(draw(st.integers(2, 4)))]
        q.pairs += [Pair("", draw(TEXT)) for _ in range(draw(st.integers(0, 2)))]
        q.pairs = draw(st.permutations(q.pairs))
    elif qtype is QT.ESSAY:
        q.grader_info = draw(OPTIONAL)
    elif qtype is QT.ORDERING:
        q.items = [Item(t) for t in draw(st.lists(TEXT, min_size=2, max_size=6))]
    assert validate_question(q) == [], (q, validate_question(q))
    return q


@PROPERTY
@given(st.lists(moodle_questions(), min_size=1, max_size=6))
def test_moodle_xml_round_trip(questions: list[Question]) -> None:
    out = write_quiz("moodle_xml", QuizContent("Imported quiz", questions=questions))
    minidom.parseString(out)  # noqa: S318 (our own output): well-formed for another parser
    imported = read_quiz("moodle_xml", out)
    assert imported.warnings == []
    assert imported.quiz.questions == questions


@PROPERTY
@given(moodle_questions())
def test_every_supported_type_round_trips_alone(q: Question) -> None:
    again = read_quiz("moodle_xml", write_quiz("moodle_xml", QuizContent("x", questions=[q])))
    assert again.quiz.questions == [q]
