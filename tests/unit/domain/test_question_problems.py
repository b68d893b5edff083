"""Each validation problem names the field it concerns, so forms can show it there."""

from __future__ import annotations

import pytest

from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
    question_problems,
    validate_question,
)

T = QuestionType

BROKEN = [
    (Question(T.SINGLE_CHOICE, "p", options=[Choice("a", 100), Choice("b", 100)]), "options"),
    (Question(T.MULTIPLE_CHOICE, "p", options=[Choice("a", 50), Choice("b", 20)]), "options"),
    (Question(T.TRUE_FALSE, "p"), "answer"),
    (Question(T.SHORT_ANSWER, "p", text_answers=[TextAnswer("x", 0)]), "answers"),
    (Question(T.NUMERIC, "p", numeric_answers=[NumericAnswer(1, -1)]), "answers"),
    (Question(T.MATCHING, "p", pairs=[Pair("a", "b")]), "pairs"),
    (Question(T.ORDERING, "p", items=[Item("a"), Item(" ")]), "items"),
    (Question(T.ESSAY, " "), "prompt"),
    (Question(T.ESSAY, "p", points=-1), "points"),
    (Question(T.ESSAY, "p", text_format="rtf"), "text_format"),
]


@pytest.mark.parametrize(("question", "field"), BROKEN, ids=[f for _, f in BROKEN])
def test_every_problem_names_its_field(question: Question, field: str) -> None:
    problems = question_problems(question)
    assert problems, "the question should be refused"
    assert {p.field for p in problems} == {field}
    assert validate_question(question) == [p.message for p in problems]


def test_a_valid_question_has_no_problems() -> None:
    question = Question(T.SINGLE_CHOICE, "p", options=[Choice("a", 100), Choice("b")])
    assert question_problems(question) == []
