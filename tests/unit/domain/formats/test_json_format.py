"""The platform's JSON format, and the read_quiz / write_quiz dispatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from quizplatform.domain.formats import (
    FORMATS,
    FormatError,
    ParseIssue,
    UnsupportedQuestion,
    read_json,
    read_quiz,
    write_json,
    write_quiz,
)
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    QuizSettings,
    ShowCorrectAnswers,
    TextAnswer,
)

QT = QuestionType


def sample() -> QuizContent:
    return QuizContent(
        title="Sample",
        description="All types",
        tags=["demo"],
        settings=QuizSettings(
            time_limit_seconds=600,
            max_attempts=2,
            shuffle_options=True,
            opens_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC),
            closes_at=datetime(2030, 1, 2, 12, 30, 15, 500, tzinfo=timezone(timedelta(hours=2))),
            show_correct_answers=ShowCorrectAnswers.AFTER_CLOSE,
        ),
        questions=[
            Question(
                QT.SINGLE_CHOICE,
                "Capital?",
                points=2,
                id="q1",
                options=[Choice("Paris", 100.0, "Yes", id="o1"), Choice("Lyon", id="o2")],
            ),
            Question(QT.MULTIPLE_CHOICE, "M", options=[Choice("a", 50.0), Choice("b", 50.0)]),
            Question(QT.TRUE_FALSE, "T", answer=False, wrong_feedback="w", right_feedback="r"),
            Question(
                QT.SHORT_ANSWER, "S", case_sensitive=True, text_answers=[TextAnswer("x", 50.0)]
            ),
            Question(QT.NUMERIC, "N", numeric_answers=[NumericAnswer(3.14, 0.01, 100.0, "pi")]),
            Question(QT.MATCHING, "Ma", pairs=[Pair("a", "1", id="p1"), Pair("b", "2")]),
            Question(QT.ORDERING, "O", items=[Item("first", id="i1"), Item("second")]),
            Question(QT.ESSAY, "E", feedback="by hand", tags=["long"], category="c"),
            Question(QT.DESCRIPTION, "D", points=0, text_format="html"),
        ],
    )


def errors(text: str) -> list[tuple[int, str]]:
    with pytest.raises(FormatError) as info:
        read_json(text)
    return [(i.line, i.message) for i in info.value.issues]


def test_roundtrip_of_every_type_with_settings() -> None:
    quiz = sample()
    assert read_json(write_json(quiz)) == quiz


def test_document_layout_and_field_names() -> None:
    doc = json.loads(write_json(sample()))
    assert list(doc) == [
        "format", "version", "title", "description", "tags", "settings", "questions",
    ]  # fmt: skip
    assert (doc["format"], doc["version"]) == ("quizplatform", 1)
    assert doc["settings"]["opens_at"] == "2030-01-01T09:00:00Z"
    assert doc["settings"]["closes_at"] == "2030-01-02T10:30:15.000500Z"
    assert doc["settings"]["show_correct_answers"] == "after_close"
    q1, _, tf, short, numeric, matching, ordering, essay, _ = doc["questions"]
    assert q1 == {
        "type": "single_choice",
        "prompt": "Capital?",
        "points": 2,
        "title": None,
        "feedback": None,
        "tags": [],
        "category": None,
        "text_format": "moodle",
        "options": [
            {"text": "Paris", "weight": 100.0, "feedback": "Yes", "id": "o1"},
            {"text": "Lyon", "weight": 0.0, "feedback": None, "id": "o2"},
        ],
        "id": "q1",
    }
    assert {"answer", "wrong_feedback", "right_feedback"} <= set(tf)
    assert "options" not in tf
    assert short["text_answers"] == [{"text": "x", "weight": 50.0, "feedback": None}]
    assert short["case_sensitive"] is True
    assert numeric["numeric_answers"] == [
        {"value": 3.14, "tolerance": 0.01, "weight": 100.0, "feedback": "pi"}
    ]
    assert matching["pairs"] == [
        {"left": "a", "right": "1", "id": "p1"},
        {"left": "b", "right": "2"},
    ]
    assert ordering["items"] == [{"text": "first", "id": "i1"}, {"text": "second"}]
    assert essay["tags"] == ["long"] and essay["category"] == "c"


def test_fields_of_other_types_are_kept_when_set() -> None:
    q = Question(QT.ESSAY, "E", options=[Choice("stale", 100.0)], answer=True)
    quiz = QuizContent(title="t", questions=[q])
    text = write_json(quiz)
    assert '"options"' in text and '"answer": true' in text
    assert read_json(text) == quiz


def test_minimal_document_uses_defaults() -> None:
    quiz = read_json('{"format": "quizplatform", "version": 1, "title": "T"}')
    assert quiz == QuizContent(title="T")
    quiz = read_json(
        '{"format": "quizplatform", "version": 1, "title": "T", "questions": '
        '[{"type": "true_false", "prompt": "P", "answer": true, "points": 3}]}'
    )
    assert quiz.questions == [Question(QT.TRUE_FALSE, "P", points=3.0, answer=True)]


def test_datetimes_with_offsets_are_read_as_utc() -> None:
    quiz = read_json(
        '{"format": "quizplatform", "version": 1, "title": "T", '
        '"settings": {"opens_at": "2030-01-01T10:00:00+01:00",\n'
        '"closes_at": "2030-01-01t09:00:00z"}}'
    )
    assert quiz.settings.opens_at == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert quiz.settings.opens_at is not None and quiz.settings.opens_at.tzinfo is UTC
    assert quiz.settings.closes_at == datetime(2030, 1, 1, 9, tzinfo=UTC)


def test_naive_datetimes_are_written_as_utc() -> None:
    quiz = QuizContent(title="T", settings=QuizSettings(opens_at=datetime(2030, 1, 1)))
    assert '"opens_at": "2030-01-01T00:00:00Z"' in write_json(quiz)


BAD_DOC = """\
{
  "format": "quizplatform",
  "version": 1,
  "title": "T",
  "colour": "red",
  "settings": {
    "time_limit_seconds": 1.5,
    "opens_at": "2030-01-01 09:00",
    "show_correct_answers": "sometimes"
  },
  "questions": [
    {"type": "true_false", "prompt": "ok", "answer": true},
    {
      "type": "single_choice",
      "prompt": "P",
      "options": [
        {"text": "a", "weight": "100"},
        {"text": "b", "correct": true}
      ]
    },
    {"type": "riddle", "prompt": "?"},
    {
      "type": "multiple_choice",
      "prompt": "weights do not add up",
      "options": [{"text": "a", "weight": 10}, {"text": "b", "weight": 10}]
    },
    {"prompt": "no type", "points": true},
    "not an object"
  ]
}
"""


def test_strict_validation_reports_every_problem_with_its_line() -> None:
    assert errors(BAD_DOC) == [
        (1, "document: unknown field 'colour'"),
        (6, "settings.time_limit_seconds: expected an integer"),
        (
            6,
            "settings.opens_at: expected an RFC 3339 date-time with offset, "
            "e.g. 2030-01-01T09:00:00Z",
        ),
        (6, "settings.show_correct_answers: expected one of never, after_submit, after_close"),
        (11, "questions[5]: expected an object"),  # not an object: the line of the list
        (17, "questions[1].options[0].weight: expected a number"),
        (18, "questions[1].options[1]: unknown field 'correct'"),
        (21, "questions[2].type: expected one of " + ", ".join(t.value for t in QT)),
        (22, "questions[3] (question 4): the positive weights must sum to 100 (they sum to 20)"),
        (27, "questions[4]: missing field 'type'"),
        (27, "questions[4].points: expected a number"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "invalid JSON"),
        ('{\n  "title": "x",\n  oops\n}', 3, "invalid JSON"),
        ("[1, 2]", 1, "must be a JSON object"),
        ('{"format": "quizplatform", "version": 1, "title": NaN}', 1, "NaN is not allowed"),
        ('{"format": "gift", "version": 1, "title": "T"}', 1, '"format" must be "quizplatform"'),
        ('{"format": "quizplatform", "version": 2, "title": "T"}', 1, '"version" must be 1'),
        ('{"format": "quizplatform", "version": true, "title": "T"}', 1, '"version" must be 1'),
        ('{"format": "quizplatform", "version": 1}', 1, "missing field 'title'"),
        ('{"format": "quizplatform", "version": 1, "title": "T",\n"title": "U"}', 1, "duplicate"),
        ('{"format": "quizplatform", "version": 1, "title": "T", "questions": {}}', 1, "a list"),
        ('{"format": "quizplatform", "version": 1, "title": "T",\n"tags": [1]}', 2, "a string"),
    ],
)
def test_malformed_documents(text: str, line: int, message: str) -> None:
    found = errors(text)
    assert any(ln == line and message in msg for ln, msg in found), found


def test_invalid_question_reports_the_line_of_its_object() -> None:
    text = (
        '{"format": "quizplatform", "version": 1, "title": "T", "questions": [\n'
        '  {"type": "essay", "prompt": "fine"},\n'
        '  {"type": "essay", "prompt": "   "}\n'
        "]}"
    )
    assert errors(text) == [(3, "questions[1] (question 2): prompt must not be empty")]


# --------------------------------------------------------------------------- dispatch


def test_formats_and_dispatch() -> None:
    assert FORMATS[:3] == ("gift", "aiken", "json")  # then the package formats (Moodle XML, ...)
    quiz = sample()
    assert read_quiz("json", write_quiz("json", quiz)).quiz == quiz
    gift = write_quiz("gift", QuizContent(title="T", questions=quiz.questions[:6]))
    assert [q.type for q in read_quiz("gift", gift).quiz.questions] == [
        q.type for q in quiz.questions[:6]
    ]
    aiken = write_quiz("aiken", QuizContent(title="T", questions=quiz.questions[:1]))
    assert read_quiz("aiken", aiken).quiz.questions[0].options[0].text == "Paris"
    with pytest.raises(UnsupportedQuestion, match="question 7 \\(ordering\\)"):
        write_quiz("gift", quiz)


@pytest.mark.parametrize("fmt", ["xml", "GIFT", ""])
def test_unknown_format(fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown quiz format"):
        read_quiz(fmt, "")
    with pytest.raises(ValueError, match="unknown quiz format"):
        write_quiz(fmt, QuizContent(title="T"))


def test_format_error_rendering() -> None:
    err = FormatError([ParseIssue(5, "b"), ParseIssue(2, "a")])
    assert isinstance(err, ValueError)
    assert str(err) == "line 2: a\nline 5: b"
    assert [i.line for i in err.issues] == [2, 5]


def test_readers_ignore_a_byte_order_mark() -> None:
    bom = "\ufeff"
    assert read_quiz("gift", bom + "// c\nQ {T}").quiz.questions[0].prompt == "Q"
    assert read_quiz("aiken", bom + "Q\nA. a\nB. b\nANSWER: A").quiz.questions[0].prompt == "Q"
    assert read_quiz("json", bom + write_json(sample())).quiz == sample()
