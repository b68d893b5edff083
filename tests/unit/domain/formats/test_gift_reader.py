"""GIFT reader: one test per feature, Moodle's documented examples, a full fixture, errors."""

from __future__ import annotations

import pytest

from quizplatform.domain.formats import FormatError, read_gift
from quizplatform.domain.questions import (
    MISSING_WORD_BLANK,
    Choice,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)

QT = QuestionType


def one(text: str) -> Question:
    quiz = read_gift(text)
    assert len(quiz.questions) == 1, quiz.questions
    return quiz.questions[0]


def weights(q: Question) -> list[float]:
    return [o.weight for o in q.options]


def errors(text: str) -> list[tuple[int, str]]:
    with pytest.raises(FormatError) as info:
        read_gift(text)
    return [(i.line, i.message) for i in info.value.issues]


# --------------------------------------------------------------------------- features


def test_quiz_title_defaults_and_empty_file() -> None:
    quiz = read_gift("")
    assert quiz.title == "Imported quiz"
    assert quiz.questions == []
    assert read_gift("// only a comment\n\n\n").questions == []


def test_comment_lines_are_ignored_even_inside_a_question() -> None:
    q = one("// heading\nWhat's 2 plus 2? {\n// the answer\n=4\n  // indented comment\n}")
    assert q.type is QT.SHORT_ANSWER
    assert q.prompt == "What's 2 plus 2?"
    assert [a.text for a in q.text_answers] == ["4"]


def test_category_applies_to_following_questions_until_changed() -> None:
    quiz = read_gift(
        "Q0 {T}\n\n$CATEGORY: tom/dick\n\nQ1 {T}\n\nQ2 {F}\n\n"
        "$CATEGORY: harry\n\nQ3 {T}\n\n$CATEGORY:\n\nQ4 {T}"
    )
    assert [q.category for q in quiz.questions] == [None, "tom/dick", "tom/dick", "harry", None]


def test_category_line_directly_above_a_question() -> None:
    # Moodle's context prefix and root category are not part of the path we keep.
    quiz = read_gift("$CATEGORY: $course$/top/Maths\nQ {T}")
    assert quiz.questions[0].category == "Maths"


def test_title() -> None:
    q = one("::Kanji Origins::Japanese characters originally came from what country? {=China}")
    assert q.title == "Kanji Origins"
    assert q.prompt == "Japanese characters originally came from what country?"
    assert one("No title {T}").title is None


@pytest.mark.parametrize("fmt", ["html", "moodle", "plain", "markdown"])
def test_text_format_prefix(fmt: str) -> None:
    q = one(f"::T::[{fmt}]Who's buried in **Grant's tomb**?{{=no one}}")
    assert q.text_format == fmt
    assert q.prompt == "Who's buried in **Grant's tomb**?"


def test_text_format_defaults_to_moodle_and_unknown_prefix_is_text() -> None:
    assert one("Plain {T}").text_format == "moodle"
    q = one("[latex]x {T}")
    assert (q.text_format, q.prompt) == ("moodle", "[latex]x")


def test_format_prefix_on_answers_and_feedback_is_dropped() -> None:
    q = one("[html]<b>Q</b>{=[html]<i>a</i>#[html]<u>good</u> ~[plain]b}")
    assert q.options[0] == Choice("<i>a</i>", 100.0, "<u>good</u>")
    assert q.options[1].text == "b"


def test_single_choice_equals_is_correct_tilde_wrong() -> None:
    q = one("Who's buried in Grant's tomb?{~Grant ~Jefferson =no one}")
    assert q.type is QT.SINGLE_CHOICE
    assert [o.text for o in q.options] == ["Grant", "Jefferson", "no one"]
    assert weights(q) == [0, 0, 100]
    assert q.points == 1.0


def test_partial_credit_weights_on_wrong_options() -> None:
    q = one("Difficult question.{~wrong answer ~%50%half credit answer =full credit answer}")
    assert q.type is QT.SINGLE_CHOICE
    assert weights(q) == [0, 50, 100]


def test_decimal_weights() -> None:
    q = one("Q {~%33.33333%a ~%33.33333%b ~%33.33334%c ~%-12.5%d}")
    assert q.type is QT.MULTIPLE_CHOICE
    assert weights(q) == [33.33333, 33.33333, 33.33334, -12.5]


def test_multiple_choice_all_tilde_with_weights_including_negative() -> None:
    q = one(
        "What two people are entombed in Grant's tomb? {\n"
        "  ~%-50%No one\n  ~%50%Grant\n  ~%50%Grant's wife\n  ~%-50%Grant's father }"
    )
    assert q.type is QT.MULTIPLE_CHOICE
    assert [o.text for o in q.options] == ["No one", "Grant", "Grant's wife", "Grant's father"]
    assert weights(q) == [-50, 50, 50, -50]


def test_per_answer_feedback() -> None:
    q = one("Q {=yellow # right; good! ~red # wrong, it's yellow}")
    assert q.options == [
        Choice("yellow", 100.0, "right; good!"),
        Choice("red", 0.0, "wrong, it's yellow"),
    ]


def test_general_feedback() -> None:
    q = one("Q {=a ~b ####Think about it.}")
    assert q.feedback == "Think about it."
    assert [o.text for o in q.options] == ["a", "b"]
    assert one("How are you? {\n####We hope you're feeling well.\n}").feedback == (
        "We hope you're feeling well."
    )


@pytest.mark.parametrize(
    ("block", "answer"), [("T", True), ("TRUE", True), ("F", False), ("FALSE", False)]
)
def test_true_false(block: str, answer: bool) -> None:
    q = one(f"The sun rises in the east.{{{block}}}")
    assert q.type is QT.TRUE_FALSE
    assert q.answer is answer
    assert q.wrong_feedback is None and q.right_feedback is None


def test_true_false_feedbacks_first_is_for_wrong_answers() -> None:
    # Moodle: {TRUE#feedback shown when the answer is wrong#feedback shown when it is right}
    q = one("Grant is buried in Grant's tomb.{FALSE#No one is buried there.#Right!####Fun fact}")
    assert q.answer is False
    assert q.wrong_feedback == "No one is buried there."
    assert q.right_feedback == "Right!"
    assert q.feedback == "Fun fact"
    q = one("Q {T##only right}")
    assert (q.wrong_feedback, q.right_feedback) == (None, "only right")


def test_short_answer_several_answers_and_partial_credit() -> None:
    q = one(
        "::Jesus' hometown:: Jesus Christ was from {\n"
        "    =Nazareth#Yes! That's right!\n"
        "    =%75%Nazereth#Right, but misspelled.\n"
        "    =%25%Bethlehem#He was born here, but not raised here.}."
    )
    assert q.type is QT.SHORT_ANSWER
    assert q.prompt == f"Jesus Christ was from {MISSING_WORD_BLANK}."
    assert q.text_answers == [
        TextAnswer("Nazareth", 100.0, "Yes! That's right!"),
        TextAnswer("Nazereth", 75.0, "Right, but misspelled."),
        TextAnswer("Bethlehem", 25.0, "He was born here, but not raised here."),
    ]
    assert q.case_sensitive is False


def test_short_answer_without_equals_sign() -> None:
    q = one("1 + 2 \\= {3}")
    assert q.type is QT.SHORT_ANSWER
    assert q.prompt == "1 + 2 ="
    assert q.text_answers == [TextAnswer("3")]


def test_numeric_exact() -> None:
    q = one("What is pi to two places? {#3.14}")
    assert q.type is QT.NUMERIC
    assert q.numeric_answers == [NumericAnswer(3.14, 0.0, 100.0)]


def test_numeric_value_and_tolerance() -> None:
    q = one("When was Ulysses S. Grant born?{#1822:5}")
    assert q.numeric_answers == [NumericAnswer(1822.0, 5.0)]


def test_numeric_range_is_midpoint_and_half_width() -> None:
    q = one("::Q6:: What is a number from 1 to 5? {#1..5}")
    assert q.numeric_answers == [NumericAnswer(3.0, 2.0)]
    q = one("Q {#-5..-1}")
    assert q.numeric_answers == [NumericAnswer(-3.0, 2.0)]


def test_numeric_weighted_alternatives_and_feedback() -> None:
    q = one("When was Ulysses S. Grant born? {#=1822:0 =%50%1822:2#Close.}")
    assert q.numeric_answers == [
        NumericAnswer(1822.0, 0.0, 100.0),
        NumericAnswer(1822.0, 2.0, 50.0, "Close."),
    ]


def test_numeric_scientific_notation_and_signs() -> None:
    q = one("Q {#-1.5e-3:2E2}")
    assert q.numeric_answers == [NumericAnswer(-0.0015, 200.0)]


def test_matching() -> None:
    q = one("Which animal eats which food? { =cat -> cat food =dog -> dog food }")
    assert q.type is QT.MATCHING
    assert q.pairs == [Pair("cat", "cat food"), Pair("dog", "dog food")]


def test_essay() -> None:
    q = one("Write a short biography of Dag Hammarskjöld. {}")
    assert q.type is QT.ESSAY
    assert q.prompt == "Write a short biography of Dag Hammarskjöld."
    q = one("Essay {\n}")
    assert q.type is QT.ESSAY


def test_description() -> None:
    q = one("::Intro::You can use your pencil and paper for these next math questions.")
    assert q.type is QT.DESCRIPTION
    assert q.points == 0.0
    assert q.title == "Intro"
    assert q.prompt == "You can use your pencil and paper for these next math questions."


def test_missing_word_keeps_the_blank_where_the_block_was() -> None:
    q = one("Grant is {~buried =entombed ~living} in Grant's tomb.")
    assert q.type is QT.SINGLE_CHOICE
    assert q.prompt == "Grant is _____ in Grant's tomb."
    assert one("{=Paris} is the capital of France.").prompt == "_____ is the capital of France."


def test_block_at_the_end_leaves_no_blank() -> None:
    assert one("Who's buried in Grant's tomb?{=no one}").prompt == "Who's buried in Grant's tomb?"


def test_escapes() -> None:
    q = one(
        "::a\\:b:: Which answer equals 5 \\{x\\} \\# \\~ \\\\ ok? {\n"
        "  ~ \\= 2 + 2\n  = \\= 2 + 3#a\\nb\n  ~ \\= 2 + 4 \\: \\~ \\# \\{ \\} }"
    )
    assert q.title == "a:b"
    assert q.prompt == "Which answer equals 5 {x} # ~ \\ ok?"
    assert [o.text for o in q.options] == ["= 2 + 2", "= 2 + 3", "= 2 + 4 : ~ # { }"]
    assert q.options[1].feedback == "a\nb"
    assert weights(q) == [0, 100, 0]


def test_escaped_newline_and_other_backslashes_are_literal() -> None:
    q = one("Line one\\nline two \\alpha {T}")
    assert q.prompt == "Line one\nline two \\alpha"


def test_question_spread_over_several_lines() -> None:
    q = one(
        "::Thanksgiving Date::The American holiday of Thanksgiving is\n"
        "celebrated on the {\n    ~second\n    ~third\n    =fourth\n} Thursday of November."
    )
    assert q.prompt == (
        "The American holiday of Thanksgiving is\ncelebrated on the _____ Thursday of November."
    )
    assert [o.text for o in q.options] == ["second", "third", "fourth"]


def test_questions_are_separated_by_blank_lines() -> None:
    quiz = read_gift("Q1 {T}\n\n\n   \nQ2 {F}\n\t\nQ3 {=x}\r\n\r\nQ4 {}")
    assert [q.prompt for q in quiz.questions] == ["Q1", "Q2", "Q3", "Q4"]


def test_tags_from_comments() -> None:
    q = one("// [tag:maths] [tag:  easy ] [tag:a\\]b]\n// [id:ignored]\nQ {T}")
    assert q.tags == ["maths", "easy", "a]b"]


def test_true_false_is_case_insensitive() -> None:
    assert one("Q {true}").answer is True


# --------------------------------------------------------------------------- Moodle docs

MOODLE_EXAMPLES: list[tuple[str, QuestionType, dict[str, object]]] = [
    (
        "Who's buried in Grant's tomb?{~Grant ~Jefferson =no one}",
        QT.SINGLE_CHOICE,
        {"options": [Choice("Grant"), Choice("Jefferson"), Choice("no one", 100.0)]},
    ),
    (
        "Grant is {~buried =entombed ~living} in Grant's tomb.",
        QT.SINGLE_CHOICE,
        {
            "prompt": "Grant is _____ in Grant's tomb.",
            "options": [Choice("buried"), Choice("entombed", 100.0), Choice("living")],
        },
    ),
    (
        "The American holiday of Thanksgiving is celebrated on the {\n"
        "    ~second\n    ~third\n    =fourth\n} Thursday of November.",
        QT.SINGLE_CHOICE,
        {
            "prompt": "The American holiday of Thanksgiving is celebrated on the _____ Thursday"
            " of November.",
            "options": [Choice("second"), Choice("third"), Choice("fourth", 100.0)],
        },
    ),
    (
        "Japanese characters originally came from what country? {\n"
        "    ~India\n    =China\n    ~Korea\n    ~Egypt}",
        QT.SINGLE_CHOICE,
        {"options": [Choice("India"), Choice("China", 100.0), Choice("Korea"), Choice("Egypt")]},
    ),
    (
        "Who's buried in Grant's tomb?{=no one =nobody}",
        QT.SHORT_ANSWER,
        {"text_answers": [TextAnswer("no one"), TextAnswer("nobody")]},
    ),
    (
        "Two plus two equals {=four =4}.",
        QT.SHORT_ANSWER,
        {
            "prompt": "Two plus two equals _____.",
            "text_answers": [TextAnswer("four"), TextAnswer("4")],
        },
    ),
    ("Grant is buried in Grant's tomb.{F}", QT.TRUE_FALSE, {"answer": False}),
    ("The sun rises in the east.{T}", QT.TRUE_FALSE, {"answer": True}),
    ("::Q1:: 1+1=2 {T}", QT.TRUE_FALSE, {"title": "Q1", "prompt": "1+1=2", "answer": True}),
    (
        "Matching Question. {\n    =subquestion1 -> subanswer1\n"
        "    =subquestion2 -> subanswer2\n    =subquestion3 -> subanswer3\n    }",
        QT.MATCHING,
        {"pairs": [Pair(f"subquestion{i}", f"subanswer{i}") for i in (1, 2, 3)]},
    ),
    (
        "Match the following countries with their corresponding capitals. {\n"
        "    =Canada -> Ottawa\n    =Italy  -> Rome\n    =Japan  -> Tokyo\n"
        "    =India  -> New Delhi\n    }",
        QT.MATCHING,
        {
            "pairs": [
                Pair("Canada", "Ottawa"),
                Pair("Italy", "Rome"),
                Pair("Japan", "Tokyo"),
                Pair("India", "New Delhi"),
            ]
        },
    ),
    (
        "Match the following countries with their corresponding\n"
        "capitals.{=Canada->Ottawa =Italy->Rome =Japan->Tokyo}",
        QT.MATCHING,
        {
            "prompt": "Match the following countries with their corresponding\ncapitals.",
            "pairs": [Pair("Canada", "Ottawa"), Pair("Italy", "Rome"), Pair("Japan", "Tokyo")],
        },
    ),
    (
        "::Q4:: Which animal eats which food? { =cat -> cat food =dog -> dog food }",
        QT.MATCHING,
        {"pairs": [Pair("cat", "cat food"), Pair("dog", "dog food")]},
    ),
    (
        "When was Ulysses S. Grant born? {#1822}",
        QT.NUMERIC,
        {"numeric_answers": [NumericAnswer(1822.0)]},
    ),
    (
        "When was Ulysses S. Grant born?{#1822:5}",
        QT.NUMERIC,
        {"numeric_answers": [NumericAnswer(1822.0, 5.0)]},
    ),
    (
        "What is the value of pi (to 3 decimal places)? {#3.1415:0.0005}.",
        QT.NUMERIC,
        {
            "prompt": "What is the value of pi (to 3 decimal places)? _____.",
            "numeric_answers": [NumericAnswer(3.1415, 0.0005)],
        },
    ),
    (
        "::Q5:: What is a number from 1 to 5? {#3:2}",
        QT.NUMERIC,
        {"numeric_answers": [NumericAnswer(3.0, 2.0)]},
    ),
    (
        "::Q6:: What is a number from 1 to 5? {#1..5}",
        QT.NUMERIC,
        {"numeric_answers": [NumericAnswer(3.0, 2.0)]},
    ),
    (
        "When was Ulysses S. Grant born? {#\n    =1822:0\n    =%50%1822:2}",
        QT.NUMERIC,
        {"numeric_answers": [NumericAnswer(1822.0, 0.0), NumericAnswer(1822.0, 2.0, 50.0)]},
    ),
    (
        "// Subheading: Numerical questions below\nWhat's 2 plus 2? {#4}",
        QT.NUMERIC,
        {"prompt": "What's 2 plus 2?", "numeric_answers": [NumericAnswer(4.0)]},
    ),
    (
        "::Kanji Origins::Japanese characters originally\ncame from what country? {=China}",
        QT.SHORT_ANSWER,
        {
            "title": "Kanji Origins",
            "prompt": "Japanese characters originally\ncame from what country?",
            "text_answers": [TextAnswer("China")],
        },
    ),
    (
        "What's the answer to this multiple-choice question?{\n"
        "~wrong answer#feedback comment on the wrong answer\n"
        "~another wrong answer#feedback comment on this wrong answer\n"
        "=right answer#Very good!}",
        QT.SINGLE_CHOICE,
        {
            "options": [
                Choice("wrong answer", 0.0, "feedback comment on the wrong answer"),
                Choice("another wrong answer", 0.0, "feedback comment on this wrong answer"),
                Choice("right answer", 100.0, "Very good!"),
            ]
        },
    ),
    (
        "Who's buried in Grant's tomb?{\n=no one#excellent answer!\n=nobody#excellent answer!}",
        QT.SHORT_ANSWER,
        {
            "text_answers": [
                TextAnswer("no one", 100.0, "excellent answer!"),
                TextAnswer("nobody", 100.0, "excellent answer!"),
            ]
        },
    ),
    (
        "[markdown]Who's buried in **Grant's tomb**?{\n"
        "=no one#excellent answer!\n=nobody#excellent answer!}",
        QT.SHORT_ANSWER,
        {"text_format": "markdown", "prompt": "Who's buried in **Grant's tomb**?"},
    ),
    (
        "Grant is buried in Grant's tomb.{FALSE#No one is buried in Grant's tomb.}",
        QT.TRUE_FALSE,
        {
            "answer": False,
            "wrong_feedback": "No one is buried in Grant's tomb.",
            "right_feedback": None,
        },
    ),
    (
        "::Jesus' hometown::Jesus Christ was from {\n"
        "    ~Jerusalem#This was an important city, but the wrong answer.\n"
        "    ~%25%Bethlehem#He was born here, but not raised here.\n"
        "    ~%50%Galilee#You need to be more specific.\n"
        "    =Nazareth#Yes! That's right!}.",
        QT.SINGLE_CHOICE,
        {
            "title": "Jesus' hometown",
            "prompt": "Jesus Christ was from _____.",
            "options": [
                Choice("Jerusalem", 0.0, "This was an important city, but the wrong answer."),
                Choice("Bethlehem", 25.0, "He was born here, but not raised here."),
                Choice("Galilee", 50.0, "You need to be more specific."),
                Choice("Nazareth", 100.0, "Yes! That's right!"),
            ],
        },
    ),
    (
        "What two people are entombed in Grant's tomb? {\n"
        "    ~No one\n    ~%50%Grant\n    ~%50%Grant's wife\n    ~Grant's father }",
        QT.MULTIPLE_CHOICE,
        {
            "options": [
                Choice("No one"),
                Choice("Grant", 50.0),
                Choice("Grant's wife", 50.0),
                Choice("Grant's father"),
            ]
        },
    ),
    (
        "Which answer equals 5? {\n     ~ \\= 2 + 2\n     = \\= 2 + 3\n     ~ \\= 2 + 4  }",
        QT.SINGLE_CHOICE,
        {"options": [Choice("= 2 + 2"), Choice("= 2 + 3", 100.0), Choice("= 2 + 4")]},
    ),
    (
        "::GIFT Control Characters::\n"
        "Which of the following is NOT a control character for the GIFT import format? {\n"
        "   ~ \\~     # \\~ is a control character.\n"
        "   ~ \\=     # \\= is a control character.\n"
        "   ~ \\#     # \\# is a control character.\n"
        "   ~ \\{     # \\{ is a control character.\n"
        "   ~ \\}     # \\} is a control character.\n"
        "   = \\\\     # Correct! \\\\ (backslash) is not a control character.\n}",
        QT.SINGLE_CHOICE,
        {
            "title": "GIFT Control Characters",
            "options": [
                Choice("~", 0.0, "~ is a control character."),
                Choice("=", 0.0, "= is a control character."),
                Choice("#", 0.0, "# is a control character."),
                Choice("{", 0.0, "{ is a control character."),
                Choice("}", 0.0, "} is a control character."),
                Choice("\\", 100.0, "Correct! \\ (backslash) is not a control character."),
            ],
        },
    ),
    (
        "::Grant's Tomb::Grant is {\n      ~buried#No one is buried there.\n"
        "      =entombed#Right answer!\n      ~living#We hope not!\n} in Grant's tomb.",
        QT.SINGLE_CHOICE,
        {
            "prompt": "Grant is _____ in Grant's tomb.",
            "options": [
                Choice("buried", 0.0, "No one is buried there."),
                Choice("entombed", 100.0, "Right answer!"),
                Choice("living", 0.0, "We hope not!"),
            ],
        },
    ),
    (
        "Difficult multiple choice question.{\n"
        "     ~wrong answer           #comment on wrong answer\n"
        "     ~%50%half credit answer #comment on answer\n"
        "     =full credit answer     #well done!}",
        QT.SINGLE_CHOICE,
        {
            "options": [
                Choice("wrong answer", 0.0, "comment on wrong answer"),
                Choice("half credit answer", 50.0, "comment on answer"),
                Choice("full credit answer", 100.0, "well done!"),
            ]
        },
    ),
    ("Write a short biography of Dag Hammarskjöld. {}", QT.ESSAY, {}),
    (
        "You can use your pencil and paper for these next math questions.",
        QT.DESCRIPTION,
        {"points": 0.0},
    ),
]


@pytest.mark.parametrize(("text", "qtype", "expected"), MOODLE_EXAMPLES)
def test_moodle_documented_examples(
    text: str, qtype: QuestionType, expected: dict[str, object]
) -> None:
    q = one(text)
    assert q.type is qtype
    for name, value in expected.items():
        assert getattr(q, name) == value, name


def test_moodle_numerical_example_with_multiline_feedback() -> None:
    q = one(
        "//this comment will be ignored by the filter\n::Numerical example::\n"
        "When was Ulysses S. Grant born? {#\n"
        "     =1822:0      #Correct! 100% credit\n"
        "     =%50%1822:2  #He was born in 1822.\n"
        "                  You get 50% credit for being close.\n}"
    )
    assert q.title == "Numerical example"
    first, second = q.numeric_answers
    assert first == NumericAnswer(1822.0, 0.0, 100.0, "Correct! 100% credit")
    assert (second.value, second.tolerance, second.weight) == (1822.0, 2.0, 50.0)
    assert second.feedback is not None
    assert second.feedback.startswith("He was born in 1822.\n")
    assert second.feedback.endswith("You get 50% credit for being close.")


def test_moodle_range_example() -> None:
    q = one("What is the value of pi (to 3 decimal places)? {#3.141..3.142}.")
    (a,) = q.numeric_answers
    assert a.value == pytest.approx(3.1415)
    assert a.tolerance == pytest.approx(0.0005)


# --------------------------------------------------------------------------- full fixture

FIXTURE = """\
// Quiz using every GIFT feature
// second comment line

$CATEGORY: course/unit 1

// [tag:geography] [tag:easy]
::Capital::[html]What is the <b>capital</b> of France? {
    =Paris#Correct!
    ~%25%Lyon#Second city.
    ~%-50%Berlin#Wrong country.
    ~Marseille
    ####Paris has been the capital since 987.
}

::Tomb::Grant is {~buried =entombed ~living} in Grant's tomb.

::Pick two::Which are prime? {
    ~%50%2
    ~%50%3
    ~%-100%4
}

::TF::The sun rises in the west.{FALSE#It rises in the east.#Correct, it does not.####Astronomy!}

::Short::Two plus two equals {=four#Yes =%50%4#Digits are half credit}.

::Num::What is pi? {#3.14159:0.001#Close enough}

$CATEGORY: course/unit 2

::Range::A number from 1 to 5? {#1..5}

::Weighted::When was Ulysses S. Grant born? {#
    =1822:0
    =%50%1822:2
}

::Match::[markdown]Match *countries* with capitals. {
    =Canada -> Ottawa
    =Italy -> Rome
    =Japan -> Tokyo
    ####Geography.
}

::Essay::Describe\\: your weekend \\{briefly\\}. {}

::Intro::[plain]The next questions are about numbers \\# and symbols \\~ \\=.

::Multi
line::This question
spans several
lines. {T}
"""


def test_fixture_using_every_feature() -> None:
    quiz = read_gift(FIXTURE)
    qs = {q.title: q for q in quiz.questions}
    assert list(qs) == [
        "Capital", "Tomb", "Pick two", "TF", "Short", "Num", "Range", "Weighted", "Match",
        "Essay", "Intro", "Multi\nline",
    ]  # fmt: skip
    assert [q.type for q in quiz.questions] == [
        QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.MULTIPLE_CHOICE, QT.TRUE_FALSE, QT.SHORT_ANSWER,
        QT.NUMERIC, QT.NUMERIC, QT.NUMERIC, QT.MATCHING, QT.ESSAY, QT.DESCRIPTION, QT.TRUE_FALSE,
    ]  # fmt: skip
    assert [q.points for q in quiz.questions] == [1.0] * 10 + [0.0, 1.0]
    assert [q.category for q in quiz.questions] == ["course/unit 1"] * 6 + ["course/unit 2"] * 6

    cap = qs["Capital"]
    assert cap.tags == ["geography", "easy"]
    assert cap.text_format == "html"
    assert cap.prompt == "What is the <b>capital</b> of France?"
    assert cap.options == [
        Choice("Paris", 100.0, "Correct!"),
        Choice("Lyon", 25.0, "Second city."),
        Choice("Berlin", -50.0, "Wrong country."),
        Choice("Marseille", 0.0, None),
    ]
    assert cap.feedback == "Paris has been the capital since 987."
    assert qs["Tomb"].prompt == "Grant is _____ in Grant's tomb."
    assert weights(qs["Pick two"]) == [50, 50, -100]
    tf = qs["TF"]
    assert (tf.answer, tf.wrong_feedback, tf.right_feedback, tf.feedback) == (
        False, "It rises in the east.", "Correct, it does not.", "Astronomy!",
    )  # fmt: skip
    assert qs["Short"].prompt == "Two plus two equals _____."
    assert qs["Short"].text_answers == [
        TextAnswer("four", 100.0, "Yes"), TextAnswer("4", 50.0, "Digits are half credit"),
    ]  # fmt: skip
    assert qs["Num"].numeric_answers == [NumericAnswer(3.14159, 0.001, 100.0, "Close enough")]
    assert qs["Range"].numeric_answers == [NumericAnswer(3.0, 2.0)]
    assert qs["Weighted"].numeric_answers == [
        NumericAnswer(1822.0, 0.0), NumericAnswer(1822.0, 2.0, 50.0),
    ]  # fmt: skip
    match = qs["Match"]
    assert match.text_format == "markdown"
    assert match.pairs == [Pair("Canada", "Ottawa"), Pair("Italy", "Rome"), Pair("Japan", "Tokyo")]
    assert match.feedback == "Geography."
    assert qs["Essay"].prompt == "Describe: your weekend {briefly}."
    intro = qs["Intro"]
    assert (intro.text_format, intro.prompt) == (
        "plain", "The next questions are about numbers # and symbols ~ =.",
    )  # fmt: skip
    assert qs["Multi\nline"].prompt == "This question\nspans several\nlines."
    assert all(not q.tags for q in quiz.questions[1:])


# --------------------------------------------------------------------------- errors


def test_unclosed_brace_reports_the_line_of_the_brace() -> None:
    assert errors("Q1 {T}\n\nQuestion two\nwith an {=open\n=block") == [
        (4, "answer block opened with '{' is not closed")
    ]


def test_closing_brace_without_opening() -> None:
    assert errors("Q\n} oops") == [(2, "'}' without an opening '{' (write \\} for a brace)")]


def test_nested_and_second_blocks() -> None:
    assert errors("Q {=a\n{=b}}")[0][0] == 2
    ((line, message),) = errors("Q {=a}\nmore {=b}")
    assert line == 2 and "only one answer block" in message


def test_empty_answers() -> None:
    ((line, message),) = errors("Q {\n=a\n~\n}")
    assert line == 3 and "empty answer after '~'" in message
    ((line, message),) = errors("Q {\n=\n}")
    assert line == 2 and "empty answer" in message
    ((line, message),) = errors("Q\n{#\n}")
    assert line == 2 and "empty numeric answer block" in message


def test_bad_weights() -> None:
    ((line, message),) = errors("Q {\n=a\n~%5O%b\n}")
    assert line == 3 and "bad weight '%5O%'" in message
    ((line, message),) = errors("Q {\n=a\n=%150%b\n}")
    assert line == 3 and "bad weight" in message


def test_bad_numbers() -> None:
    ((line, message),) = errors("Q {#\n=1822:0\n=%50%18x22:2\n}")
    assert line == 3 and "bad number '18x22'" in message
    ((line, message),) = errors("Q {#3:abc}")
    assert line == 1 and "tolerance" in message
    ((line, message),) = errors("Q {#5..1}")
    assert line == 1 and "bad range" in message
    ((line, message),) = errors("Q {#nan}")
    assert "bad number" in message


def test_matching_needs_two_pairs_and_arrows() -> None:
    ((line, message),) = errors("Q\n{=a -> b}")
    assert line == 2 and "at least two pairs" in message
    ((line, message),) = errors("Q {\n=a -> b\n=c\n}")
    assert line == 3 and "=left -> right" in message


def test_unclosed_title() -> None:
    ((line, message),) = errors("Q1 {T}\n\n::Title without end {T}")
    assert line == 3 and "title" in message


def test_numeric_tilde_without_feedback_is_reported() -> None:
    # Moodle reads '~#feedback' (feedback for any other number); '~' must be followed by '#'.
    ((line, message),) = errors("Q {#\n=5\n~Wrong\n}")
    assert line == 3 and "'~#feedback'" in message


def test_question_failing_validation_reports_its_first_line() -> None:
    ((line, message),) = errors("Q1 {T}\n\n// comment\n::T2::Q2 {\n~a\n~b\n}")
    assert line == 4
    assert message.startswith("question 2: ")
    assert "sum to 100" in message
    ((line, message),) = errors("Q {=a =b ~c}")
    assert "exactly one correct option" in message
    ((line, message),) = errors("{T}")
    assert "prompt must not be empty" in message


def test_all_errors_of_a_file_are_reported_together() -> None:
    text = (
        "OK {T}\n\n"  # 1
        "Unclosed {=a\n\n"  # 3
        "Weights {\n=a\n~%x%b\n}\n\n"  # 5-8, bad weight line 7
        "Number {#abc}\n\n"  # 10
        "Match {=a -> b}\n\n"  # 12
        "Choice {~a ~b}\n"  # 14
    )
    with pytest.raises(FormatError) as info:
        read_gift(text)
    assert [i.line for i in info.value.issues] == [3, 7, 10, 12, 14]
    rendered = str(info.value)
    assert rendered.splitlines()[0] == "line 3: answer block opened with '{' is not closed"
    assert len(rendered.splitlines()) == 5
