"""GIFT writer: layout, escaping, exact numbers and what GIFT cannot express."""

from __future__ import annotations

import pytest

from quizplatform.domain.formats import UnsupportedQuestion, read_gift, write_gift
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
)

QT = QuestionType


def quiz(*questions: Question, title: str = "Imported quiz") -> QuizContent:
    return QuizContent(title=title, questions=list(questions))


def roundtrip(q: QuizContent) -> QuizContent:
    return read_gift(write_gift(q))


def single(prompt: str = "Capital of France?", **kw: object) -> Question:
    return Question(
        QT.SINGLE_CHOICE,
        prompt,
        options=[Choice("Paris", 100.0, "Yes"), Choice("Lyon", 25.0), Choice("Berlin")],
        **kw,  # type: ignore[arg-type]
    )


def test_layout_of_a_choice_question() -> None:
    text = write_gift(quiz(single(title="Q1", feedback="General"), title="My quiz"))
    assert text == (
        "// My quiz\n\n"
        "::Q1::Capital of France? {\n"
        "\t=Paris#Yes\n"
        "\t~%25%Lyon\n"
        "\t~Berlin\n"
        "\t####General\n"
        "}\n"
    )


def test_quiz_title_comment_is_one_line_and_ignored_by_the_reader() -> None:
    q = quiz(single(), title="Two\nlines [tag:x] {T}")
    text = write_gift(q)
    assert text.startswith("// Two lines [tag:x] {T}\n\n")
    back = read_gift(text)
    assert back.title == "Imported quiz"
    assert back.questions == q.questions


def test_escapes_special_characters() -> None:
    q = Question(
        QT.TRUE_FALSE,
        "a~b=c#d{e}f:g\\h\nnext line",
        answer=True,
        title="t: {x}",
        right_feedback="ok #1",
    )
    text = write_gift(quiz(q))
    assert "::t\\: \\{x\\}::a\\~b\\=c\\#d\\{e\\}f\\:g\\\\h\\nnext line {TRUE##ok \\#1}" in text
    assert roundtrip(quiz(q)).questions == [q]


def test_true_false_feedback_order() -> None:
    q = Question(
        QT.TRUE_FALSE, "S", answer=False, wrong_feedback="W", right_feedback="R", feedback="G"
    )
    assert "S {FALSE#W#R####G}" in write_gift(quiz(q))
    only_wrong = Question(QT.TRUE_FALSE, "S", answer=True, wrong_feedback="W")
    assert "S {TRUE#W}" in write_gift(quiz(only_wrong))
    assert roundtrip(quiz(q, only_wrong)).questions == [q, only_wrong]


def test_missing_word_block_goes_where_the_blank_is() -> None:
    q = Question(
        QT.SHORT_ANSWER,
        "Two plus _____ equals four.",
        text_answers=[TextAnswer("two"), TextAnswer("2", 50.0)],
    )
    text = write_gift(quiz(q))
    assert "Two plus {\n\t=two\n\t=%50%2\n} equals four." in text
    assert roundtrip(quiz(q)).questions == [q]


def test_blank_at_the_very_end_is_kept() -> None:
    q = Question(QT.ESSAY, "The answer is _____")
    assert "The answer is _____{}" in write_gift(quiz(q))
    assert roundtrip(quiz(q)).questions == [q]


def test_numbers_are_written_exactly() -> None:
    q = Question(
        QT.NUMERIC,
        "N",
        numeric_answers=[
            NumericAnswer(3.0, 0.0),
            NumericAnswer(0.1 + 0.2, 1e-300, 33.333333333333336, "fb"),
            NumericAnswer(-1e300, 2.5, 1e-05),
        ],
    )
    text = write_gift(quiz(q))
    assert "=%100%3#" not in text
    assert "\t=%100%3\n" in text
    assert "=%33.333333333333336%0.30000000000000004:1e-300#fb" in text
    assert "=%0.00001%-1e+300:2.5" in text
    assert roundtrip(quiz(q)).questions == [q]


def test_simple_numeric_is_one_line() -> None:
    q = Question(QT.NUMERIC, "Pi?", numeric_answers=[NumericAnswer(3.14, 0.01)])
    assert "Pi? {#3.14:0.01}" in write_gift(quiz(q))


def test_matching_and_essay_and_description() -> None:
    qs = [
        Question(QT.MATCHING, "Match", pairs=[Pair("a", "1 -> 2"), Pair("%b", "[html]c")]),
        Question(QT.ESSAY, "Essay", feedback="Graded by hand"),
        Question(QT.DESCRIPTION, "Read this", points=0.0),
        Question(QT.DESCRIPTION, "", points=0.0),
    ]
    text = write_gift(quiz(*qs))
    assert "\t=a -> 1 -> 2\n\t=[moodle]%b -> [html]c\n" in text
    assert "Essay {####Graded by hand}" in text
    assert "\n\nRead this\n" in text
    assert text.endswith("\n\n[moodle]\n")
    assert roundtrip(quiz(*qs)).questions == qs


def test_categories_and_tags() -> None:
    qs = [
        Question(QT.ESSAY, "A"),
        Question(QT.ESSAY, "B", category="unit: 1", tags=["x", "a]b", "sp ace"]),
        Question(QT.ESSAY, "C", category="unit: 1"),
        Question(QT.ESSAY, "D"),
    ]
    text = write_gift(quiz(*qs))
    assert text.count("$CATEGORY:") == 2
    # Not escaped: Moodle's importer does not unescape the $CATEGORY line.
    assert "$CATEGORY: unit: 1\n\n// [tag:x] [tag:a\\]b] [tag:sp ace]\nB {}" in text
    assert "$CATEGORY:\n\nD {}" in text
    assert roundtrip(quiz(*qs)).questions == qs


def test_texts_that_look_like_syntax_are_protected() -> None:
    qs = [
        Question(QT.ESSAY, "// not a comment"),
        Question(QT.ESSAY, "[html] is a format name"),
        Question(QT.ESSAY, "::not a title"),
        Question(QT.ESSAY, "$CATEGORY: no"),
        Question(
            QT.MULTIPLE_CHOICE,
            "M",
            options=[Choice("%50% off", 100.0), Choice("[plain]x", 0.0, "[html]y"), Choice("%z")],
        ),
        Question(
            QT.SHORT_ANSWER,
            "S",
            text_answers=[TextAnswer("a -> b"), TextAnswer("%10%", 100.0, "T")],
        ),
        Question(QT.SHORT_ANSWER, "T", text_answers=[TextAnswer("TRUE")]),
    ]
    assert roundtrip(quiz(*qs)).questions == qs


def test_lossy_fields_are_dropped() -> None:
    q = Question(
        QT.SHORT_ANSWER, "S", points=5, case_sensitive=True, text_answers=[TextAnswer("a")]
    )
    back = roundtrip(quiz(q)).questions[0]
    assert (back.points, back.case_sensitive) == (1.0, False)


def test_ordering_is_unsupported() -> None:
    q = Question(QT.ORDERING, "Order", items=[Item("a"), Item("b")])
    with pytest.raises(UnsupportedQuestion, match=r"question 3 \(ordering\) cannot be written"):
        write_gift(quiz(single(), single(), q))


def test_matching_left_with_arrow_is_unsupported() -> None:
    q = Question(QT.MATCHING, "M", pairs=[Pair("a -> b", "c"), Pair("d", "e")])
    with pytest.raises(UnsupportedQuestion, match=r"question 1 \(matching\).*'->'"):
        write_gift(quiz(q))


@pytest.mark.parametrize("tag", ["", " x", "two\nlines", "ends\\"])
def test_unwritable_tags(tag: str) -> None:
    with pytest.raises(UnsupportedQuestion, match="tag"):
        write_gift(quiz(single(tags=[tag])))
