"""Aiken reader and writer."""

from __future__ import annotations

import pytest

from quizplatform.domain.formats import FormatError, UnsupportedQuestion, read_aiken, write_aiken
from quizplatform.domain.questions import Choice, Question, QuestionType, QuizContent, TextAnswer

QT = QuestionType

SAMPLE = """\
What is the correct answer to this question?
A. Is it this one?
B. Maybe this answer?
C. Possibly this one?
D. Must be this one!
ANSWER: D

Which LMS has the most quiz import formats?
A) Moodle
B) ATutor
C) Claroline
D) Blackboard
E) WebCT
F) Ilias
ANSWER: A
"""


def errors(text: str) -> list[tuple[int, str]]:
    with pytest.raises(FormatError) as info:
        read_aiken(text)
    return [(i.line, i.message) for i in info.value.issues]


def test_reads_the_documented_example() -> None:
    quiz = read_aiken(SAMPLE)
    assert quiz.title == "Imported quiz"
    first, second = quiz.questions
    assert first.type is QT.SINGLE_CHOICE
    assert first.prompt == "What is the correct answer to this question?"
    assert [o.text for o in first.options] == [
        "Is it this one?",
        "Maybe this answer?",
        "Possibly this one?",
        "Must be this one!",
    ]
    assert [o.weight for o in first.options] == [0, 0, 0, 100]
    assert first.points == 1.0
    assert second.options[0].text == "Moodle"
    assert second.options[0].correct
    assert len(second.options) == 6


def test_multiline_prompt_blank_lines_and_tabs() -> None:
    quiz = read_aiken("\n\nFirst line\n  second line  \n\nA.\tone\nB)  two\n\nanswer: b\n")
    (q,) = quiz.questions
    assert q.prompt == "First line\nsecond line"
    assert q.options == [Choice("one", 0.0), Choice("two", 100.0)]


def test_questions_need_no_blank_line_between_them() -> None:
    quiz = read_aiken("Q1\nA. a\nB. b\nANSWER: A\nQ2\nA. c\nB. d\nANSWER: B")
    assert [q.prompt for q in quiz.questions] == ["Q1", "Q2"]


def test_empty_file() -> None:
    assert read_aiken("").questions == []


def test_errors_have_line_numbers_and_are_collected() -> None:
    text = (
        "Q1\n"  # 1
        "A. a\n"
        "C. c\n"  # 3: out of sequence
        "ANSWER: A\n"
        "\n"
        "Q2\n"  # 6
        "A. a\n"
        "B. b\n"
        "ANSWER: E\n"  # 9: not an option
        "\n"
        "A. orphan\n"  # 11
        "ANSWER: A\n"  # 12: no question
        "Q4\n"  # 13
        "A. only one\n"
        "ANSWER: A\n"  # invalid: one option (reported at 13)
        "Q5\n"  # 16
        "A. x\n"
        "B.\n"  # 18: empty option
        "ANSWER: A\n"
        "Q6\n"  # 20: never answered
        "A. x\n"
        "next question starts\n"  # 22
        "A. x\n"
        "B. y\n"
    )
    found = errors(text)
    assert [line for line, _ in found] == [3, 9, 11, 12, 13, 18, 20, 22]
    messages = dict(found)
    assert "expected option B, found C" in messages[3]
    assert "not 'E'" in messages[9]
    assert "without a question" in messages[11]
    assert "before the question's options" in messages[12]
    assert messages[13].startswith("question 3: ")  # the orphan is no question
    assert "no text" in messages[18]
    assert "no 'ANSWER:' line" in messages[20]
    assert "no 'ANSWER:' line" in messages[22]


def test_writer_layout() -> None:
    quiz = read_aiken(SAMPLE)
    text = write_aiken(quiz)
    assert text.startswith(
        "What is the correct answer to this question?\nA. Is it this one?\n"
        "B. Maybe this answer?\nC. Possibly this one?\nD. Must be this one!\nANSWER: D\n\n"
    )
    assert read_aiken(text) == quiz
    assert write_aiken(QuizContent(title="x")) == ""


def test_writer_drops_what_aiken_cannot_carry() -> None:
    q = Question(
        QT.SINGLE_CHOICE,
        "Q",
        points=3,
        title="T",
        feedback="F",
        options=[Choice("a", 100.0, "fb"), Choice("b")],
    )
    (back,) = read_aiken(write_aiken(QuizContent(title="x", questions=[q]))).questions
    assert back == Question(QT.SINGLE_CHOICE, "Q", options=[Choice("a", 100.0), Choice("b")])


@pytest.mark.parametrize(
    ("question", "why"),
    [
        (Question(QT.SHORT_ANSWER, "Q", text_answers=[TextAnswer("a")]), r"\(short_answer\)"),
        (
            Question(QT.SINGLE_CHOICE, "Q", options=[Choice("a", 100.0), Choice("b", 50.0)]),
            "partial credit",
        ),
        (
            Question(
                QT.SINGLE_CHOICE, "Q", options=[Choice(str(i), 100.0 * (i == 0)) for i in range(27)]
            ),
            "26 options",
        ),
        (
            Question(QT.SINGLE_CHOICE, "Q", options=[Choice("a\nb", 100.0), Choice("c")]),
            "several lines",
        ),
        (
            Question(QT.SINGLE_CHOICE, "Q\nB. no", options=[Choice("a", 100.0), Choice("c")]),
            "prompt line",
        ),
        (
            Question(QT.SINGLE_CHOICE, "Q\n\nx", options=[Choice("a", 100.0), Choice("c")]),
            "prompt line",
        ),
        (
            Question(QT.SINGLE_CHOICE, "Answer: me", options=[Choice("a", 100.0), Choice("c")]),
            "prompt line",
        ),
    ],
)
def test_writer_rejects_what_aiken_cannot_express(question: Question, why: str) -> None:
    quiz = QuizContent(title="x", questions=[*read_aiken(SAMPLE).questions, question])
    with pytest.raises(UnsupportedQuestion, match=r"question 3 .*cannot be written as Aiken"):
        write_aiken(quiz)
    with pytest.raises(UnsupportedQuestion, match=why):
        write_aiken(quiz)
