"""GIFT as Moodle reads it: every example of Moodle's GIFT documentation, and the
constructs of Moodle's own importer tests, import whole and as Moodle reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from quizplatform.domain.formats import read_quiz, write_quiz
from quizplatform.domain.formats.errors import FormatError
from quizplatform.domain.formats.gift import category_path, read_gift, write_gift
from quizplatform.domain.questions import (
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    TextAnswer,
)
from quizplatform.domain.scoring import score_question

QT = QuestionType
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gift"
DOCS = (FIXTURES / "moodle_docs_examples.gift").read_text()
CASES = (FIXTURES / "moodle_importer_cases.gift").read_text()


def _options(q: Question) -> list[tuple[str, float, str | None]]:
    return [(o.text, o.weight, o.feedback) for o in q.options]


@pytest.fixture(scope="module")
def docs() -> list[Question]:
    return read_gift(DOCS).questions


def test_every_documentation_example_imports(docs: list[Question]) -> None:
    assert len(docs) == 43
    assert [q.type for q in docs] == [
        # quick examples Q1-Q8
        QT.TRUE_FALSE, QT.SINGLE_CHOICE, QT.SHORT_ANSWER, QT.MATCHING, QT.NUMERIC,
        QT.NUMERIC, QT.NUMERIC, QT.ESSAY,
        # multiple choice, multiple right answers, short answer, true-false
        QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.SINGLE_CHOICE,
        QT.MULTIPLE_CHOICE, QT.SHORT_ANSWER, QT.SHORT_ANSWER, QT.TRUE_FALSE, QT.TRUE_FALSE,
        # matching, missing word, numerical x4, essay, description, line comment
        QT.MATCHING, QT.SINGLE_CHOICE, QT.NUMERIC, QT.NUMERIC, QT.NUMERIC, QT.NUMERIC,
        QT.ESSAY, QT.DESCRIPTION, QT.NUMERIC,
        # question names, feedback x3, general feedback, text format
        QT.SHORT_ANSWER, QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.SHORT_ANSWER, QT.TRUE_FALSE,
        QT.SHORT_ANSWER, QT.SHORT_ANSWER,
        # weights x3, multiple answers, special characters x2, categories x3, tags
        QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.SHORT_ANSWER, QT.MULTIPLE_CHOICE,
        QT.SINGLE_CHOICE, QT.SINGLE_CHOICE, QT.TRUE_FALSE, QT.TRUE_FALSE, QT.TRUE_FALSE,
        QT.SHORT_ANSWER,
    ]  # fmt: skip
    assert all(q.points == (0.0 if q.type is QT.DESCRIPTION else 1.0) for q in docs)


def test_quick_examples(docs: list[Question]) -> None:
    q1, q2, q3, q4, q5, q6, q7, q8 = docs[:8]
    assert [q.title for q in docs[:8]] == [f"Q{i}" for i in range(1, 9)]
    assert (q1.prompt, q1.answer) == ("1+1=2", True)
    assert _options(q2) == [
        ("yellow", 100.0, "right; good!"),
        ("red", 0.0, "wrong, it's yellow"),
        ("blue", 0.0, "wrong, it's yellow"),
    ]
    assert q3.prompt == "Two plus _____ equals four."
    assert q3.text_answers == [TextAnswer("two"), TextAnswer("2")]
    assert q4.pairs == [Pair("cat", "cat food"), Pair("dog", "dog food")]
    assert q5.numeric_answers == q6.numeric_answers == [NumericAnswer(3.0, 2.0)]
    assert q7.numeric_answers == [
        NumericAnswer(1822.0, 0.0, 100.0, "Correct! Full credit."),
        NumericAnswer(1822.0, 2.0, 50.0, "He was born in 1822. Half credit for being close."),
    ]
    assert (q8.prompt, q8.feedback) == ("How are you?", None)


def test_question_type_sections(docs: list[Question]) -> None:
    tomb, grant_is, thanks, japanese, two_people = docs[8:13]
    assert _options(tomb) == [("Grant", 0, None), ("Jefferson", 0, None), ("no one", 100, None)]
    assert grant_is.prompt == "Grant is _____ in Grant's tomb."
    assert (
        thanks.prompt
        == "The American holiday of Thanksgiving is celebrated on the _____ Thursday of November."
    )
    assert [o.text for o in thanks.options if o.correct] == ["fourth"]
    assert japanese.prompt == "Japanese characters originally came from what country?"
    assert [o.weight for o in japanese.options] == [0, 100, 0, 0]
    assert _options(two_people) == [
        ("No one", -100, None), ("Grant", 50, None), ("Grant's wife", 50, None),
        ("Grant's father", -100, None),
    ]  # fmt: skip
    short, four, f, t = docs[13:17]
    assert [a.text for a in short.text_answers] == ["Grant", "Ulysses S. Grant", "Ulysses Grant"]
    assert four.prompt == "Two plus two equals _____."
    assert [a.text for a in four.text_answers] == ["four", "4"]
    assert (f.answer, t.answer) == (False, True)
    capitals, costs = docs[17:19]
    assert capitals.pairs[3] == Pair("India", "New Delhi")
    assert capitals.feedback == "It's good to know the capitals"
    assert costs.prompt == "Moodle costs _____ to download from moodle.org."
    assert [o.text for o in costs.options if o.correct] == ["nothing"]


def test_numerical_section(docs: list[Question]) -> None:
    born, pi, pi_range, weighted = docs[19:23]
    assert born.numeric_answers == [NumericAnswer(1822.0, 5.0)]
    # Text after the block (the full stop) makes it a missing-word question, as in Moodle.
    assert pi.prompt == pi_range.prompt == "What is the value of pi (to 3 decimal places)? _____."
    assert pi.numeric_answers == [NumericAnswer(3.14159, 0.0005)]
    assert pi_range.numeric_answers == [NumericAnswer(3.1415, 0.0005)]  # 3.141..3.142
    assert weighted.numeric_answers == [
        NumericAnswer(1822.0, 0.0),
        NumericAnswer(1822.0, 2.0, 50.0),
    ]
    essay, description, two_plus_two = docs[23:26]
    assert essay.prompt == "Write a short biography of Dag Hammarskjöld."
    assert (description.prompt, description.points) == (
        "You can use your pencil and paper for these next math questions.", 0.0,
    )  # fmt: skip
    assert two_plus_two.numeric_answers == [NumericAnswer(4.0)]


def test_options_section(docs: list[Question]) -> None:
    kanji, thanksgiving, mc_feedback, sa_feedback, tf_feedback, general, markdown = docs[26:33]
    assert (kanji.title, kanji.prompt) == (
        "Kanji Origins", "Japanese characters originally\ncame from what country?",
    )  # fmt: skip
    assert kanji.text_answers == [TextAnswer("China")]
    assert thanksgiving.title == "Thanksgiving Date"
    assert _options(mc_feedback) == [
        ("wrong answer", 0, "feedback comment on the wrong answer"),
        ("another wrong answer", 0, "feedback comment on this wrong answer"),
        ("right answer", 100, "Very good!"),
    ]
    assert sa_feedback.text_answers == [
        TextAnswer("no one", 100, "excellent answer!"),
        TextAnswer("nobody", 100, "excellent answer!"),
    ]
    assert (tf_feedback.answer, tf_feedback.wrong_feedback, tf_feedback.right_feedback) == (
        False, "No one is buried in Grant's tomb.", None,
    )  # fmt: skip
    assert general.text_answers == [TextAnswer("right answer", 100, "feedback")]
    assert general.feedback == "General feedback for everyone"
    assert (markdown.text_format, markdown.prompt) == (
        "markdown",
        "Who's buried in **Grant's tomb**?",
    )

    difficult, hometown, hometown_short, multiple = docs[33:37]
    assert [o.weight for o in difficult.options] == [0, 50, 100]
    assert hometown.prompt == "Jesus Christ was from _____."
    assert _options(hometown)[1] == ("Bethlehem", 25, "He was born here, but not raised here.")
    assert [(a.text, a.weight) for a in hometown_short.text_answers] == [
        ("Nazareth", 100), ("Nazereth", 75), ("Bethlehem", 25),
    ]  # fmt: skip
    assert [o.weight for o in multiple.options] == [-100, 50, 50, -100]


def test_special_characters_and_categories(docs: list[Question]) -> None:
    equals, control = docs[37:39]
    assert _options(equals) == [("= 2 + 2", 0, None), ("= 2 + 3", 100, None), ("= 2 + 4", 0, None)]
    assert [o.text for o in control.options] == ["~", "=", "#", "{", "}", "\\"]
    assert control.options[0].feedback == "~ is a control character."
    backslash = control.options[5]
    assert backslash.correct
    assert backslash.feedback is not None
    assert backslash.feedback.startswith("Correct! \\ (backslash) is not a control character.")
    assert backslash.feedback.endswith("(as shown in this example).")
    assert [q.category for q in docs[:39]] == [None] * 39
    tom, harry, course_tom, tagged = docs[39:]
    assert tom.category == "tom"
    assert harry.category == "tom/dick/harry"
    assert course_tom.category == "Default for course/tom"  # without $course$/top
    assert tagged.category == "Default for course/tom"
    assert tagged.tags == ["geography", "capitals"]


def test_documentation_examples_survive_a_round_trip(docs: list[Question]) -> None:
    quiz = QuizContent(title="Imported quiz", questions=docs)
    assert read_gift(write_gift(quiz)) == quiz


# --------------------------------------------------------------------------- importer cases


@pytest.fixture(scope="module")
def cases() -> dict[str | None, Question]:
    return {q.title: q for q in read_gift(CASES).questions}


def test_moodle_importer_cases_import_whole(cases: dict[str | None, Question]) -> None:
    assert len(read_gift(CASES).questions) == 18
    assert cases["Feeling"].type is QT.ESSAY


def test_matching_distractor_and_formats(cases: dict[str | None, Question]) -> None:
    rivers = cases["Rivers"]
    assert rivers.type is QT.MATCHING
    assert (rivers.text_format, rivers.prompt) == ("html", "Match the <b>river</b> to its country.")
    assert rivers.pairs == [
        Pair("The longest river of France.", "Loire"),
        Pair("The river through Rome.", "Tiber"),
        Pair("The river through Vienna and Budapest.", "Danube"),
        Pair("The river through *London*.", "Thames"),
        Pair("", "Amazon"),
    ]
    assert rivers.pairs[-1].distractor
    assert rivers.category == "Geography/Rivers"


def test_answer_formats_are_dropped_texts_kept(cases: dict[str | None, Question]) -> None:
    assert _options(cases["Colour"]) == [
        ("yellow", 100, "right; well done!"),
        ("red", 0, "no, it is <i>yellow</i>"),
        ("blue", 0, "no, it is yellow"),
    ]
    assert _options(cases["Spectrum"]) == [
        ("yellow", 50, "right"), ("black", -100, "wrong"), ("violet", 50, "right"),
        ("white", -100, "wrong"),
    ]  # fmt: skip


def test_numeric_feedback_for_any_other_number(cases: dict[str | None, Question]) -> None:
    rng = cases["Range"]
    assert rng.numeric_answers == [NumericAnswer(15.0, 5.0)]
    assert rng.other_feedback == "Not in the range"
    assert rng.prompt == 'What is a number from 10 to 20? _____";'  # Moodle keeps the stray text
    boiling = cases["Boiling"]
    assert boiling.numeric_answers == [
        NumericAnswer(100.0, 0.0, 100.0, "Exactly."),
        NumericAnswer(100.0, 5.0, 50.0, "Close."),
        NumericAnswer(100.0, 10.0, 25.0, "Roughly."),
    ]
    assert (boiling.other_feedback, boiling.feedback) == ("Far off.", "It depends on the pressure.")
    year = cases["Year"]
    assert (year.numeric_answers, year.other_feedback) == (
        [NumericAnswer(1989.0)], "No, it fell in 1989.",
    )  # fmt: skip


def test_numeric_partial_credit_is_scored(cases: dict[str | None, Question]) -> None:
    boiling = cases["Boiling"]
    expected = {100: 1.0, 104: 0.5, 91: 0.25, 80: 0.0}
    for value, fraction in expected.items():
        score = score_question(boiling, {"value": value})
        assert score.score == pytest.approx(fraction * boiling.points), value


def test_short_answer_wildcards(cases: dict[str | None, Question]) -> None:
    pet = cases["Pet"]
    # Moodle's own export of "any other answer": a trailing 0% '*' with feedback.
    assert pet.text_answers == [
        TextAnswer("Cat", 100.0, "Yes!"), TextAnswer("Kitten", 50.0, "A young one, but yes."),
    ]  # fmt: skip
    assert pet.other_feedback == "No, think of a cat."
    starts = cases["Starts with A"]
    assert starts.text_answers == [
        TextAnswer("a*", 100.0, "Any word starting with a."), TextAnswer("A*", 50.0),
    ]  # fmt: skip
    assert score_question(starts, {"text": "apple"}).score == 1.0
    assert score_question(starts, {"text": "pear"}).score == 0.0


def test_true_false_and_html_cases(cases: dict[str | None, Question]) -> None:
    ultimate = cases["Ultimate"]
    assert (ultimate.answer, ultimate.wrong_feedback, ultimate.right_feedback) == (
        False, "It is the answer to life, the universe and everything.", "You are right.",
    )  # fmt: skip
    assert ultimate.feedback == "A Hitchhiker's Guide to the Galaxy reference."
    assert cases["2-08 TSL"].answer is True
    greeting = cases["Greeting"]
    assert greeting.prompt.startswith('<a href="https://example.org/bonjour.mp3">Listen')
    assert greeting.category == "Geography"
    assert cases["Dweller"].text_answers == [TextAnswer("Parisian")]
    assert 'style="font-style: italic;"' in cases["Acronym"].prompt
    code = cases["Code"]
    assert code.type is QT.ESSAY
    assert 'void test() {\n        print("A \\ B");\n    }' in code.prompt
    assert cases[None].prompt == "The capital of Italy is _____ and it is old."
    assert cases["Root"].category is None  # $system$/top is the root


def test_importer_cases_round_trip(cases: dict[str | None, Question]) -> None:
    quiz = read_gift(CASES)
    assert read_gift(write_gift(quiz)) == quiz
    assert read_quiz("gift", write_quiz("gift", quiz)).quiz == quiz


# --------------------------------------------------------------------------- details


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("$course$/top/Geography/Rivers", "Geography/Rivers"),
        ("$system$/Maths", "Maths"),
        ("$module$/top", None),
        ("top", None),
        ("top/x", "x"),
        ("  tom/dick ", "tom/dick"),
        ("topics/x", "topics/x"),
        ("$COURSE$/x", "$COURSE$/x"),  # Moodle's contexts are lower case
        ("", None),
    ],
)
def test_category_path(raw: str, path: str | None) -> None:
    assert category_path(raw) == path


def test_categories_the_reader_would_shorten_are_written_with_moodles_prefix() -> None:
    qs = [
        Question(QT.ESSAY, "A", category="top/x"),
        Question(QT.ESSAY, "B", category="$course$/y"),
        Question(QT.ESSAY, "C", category="Geo/Rivers"),
    ]
    text = write_gift(QuizContent(title="t", questions=qs))
    assert "$CATEGORY: $course$/top/top/x\n" in text
    assert "$CATEGORY: Geo/Rivers\n" in text
    assert [q.category for q in read_gift(text).questions] == ["top/x", "$course$/y", "Geo/Rivers"]


def test_writer_output_for_the_new_fields() -> None:
    qs = [
        Question(
            QT.MATCHING, "M",
            pairs=[Pair("a", "1"), Pair("b", "2"), Pair("", "3")],
        ),
        Question(QT.NUMERIC, "N", numeric_answers=[NumericAnswer(3, 2)], other_feedback="No"),
        Question(
            QT.SHORT_ANSWER, "S",
            text_answers=[TextAnswer("frog"), TextAnswer("*", 0.0)],
            other_feedback="Think again",
        ),
    ]  # fmt: skip
    text = write_gift(QuizContent(title="t", questions=qs))
    assert "\t= -> 3\n" in text
    assert "N {#\n\t=%100%3:2\n\t~#No\n}" in text
    assert "\t=%0%*\n\t=%0%*#Think again\n}" in text
    assert read_gift(text).questions == qs


def test_a_trailing_wildcard_with_feedback_becomes_other_feedback() -> None:
    # The one normalisation of the round trip: the two spellings mean the same.
    (q,) = read_gift("S {=frog =%0%*#Think again}").questions
    assert (q.text_answers, q.other_feedback) == ([TextAnswer("frog")], "Think again")
    (q,) = read_gift("S {=%0%*#First =frog}").questions  # not the last: an answer
    assert q.text_answers[0] == TextAnswer("*", 0.0, "First")
    (q,) = read_gift("S {=*}").questions  # a 100% wildcard: any answer is right
    assert q.text_answers == [TextAnswer("*")]
    (q,) = read_gift("S {=frog =%0%*}").questions  # no feedback: kept as it is
    assert q.text_answers == [TextAnswer("frog"), TextAnswer("*", 0.0)]


@pytest.mark.parametrize(
    ("gift", "message"),
    [
        ("Q {#3 ~Wrong}", "'~#feedback'"),
        ("Q {#~#Only feedback}", "empty numeric answer block"),
        ("Q {#=*#Anything}", "must have the weight %0%"),
        ("Q {#=%50%*}", "must have the weight %0%"),
        ("Q {#=5 =%0%*#a ~#b}", "only one feedback for any other number"),
        ("Q {#=%0%*#a}", "at least one number"),
        ("Q {=a -> b =c -> d = -> }", "text after '->'"),
        ("Q {=a -> b = -> c = -> d}", "at least two pairs"),
    ],
)
def test_errors_for_the_new_syntax(gift: str, message: str) -> None:
    with pytest.raises(FormatError) as info:
        read_gift(gift)
    assert message in str(info.value)


def test_choice_other_feedback_in_numeric_block_keeps_escapes() -> None:
    (q,) = read_gift("Q {#5 ~#Not \\~ or \\# or \\= 5}").questions
    assert q.other_feedback == "Not ~ or # or = 5"
    assert q.options == [] and q.numeric_answers == [NumericAnswer(5.0)]


def test_matching_with_only_distractors_is_not_a_matching_question() -> None:
    with pytest.raises(FormatError):
        read_gift("Q {= -> a = -> b = -> c}")


# --------------------------------------------------------------------------- attacker


def test_odd_inputs_for_the_new_syntax_are_bounded() -> None:
    # Thousands of '~' after a numeric '~#': one feedback text, read in linear time.
    (q,) = read_gift("Q {#5 ~#" + "\\~" * 5_000 + "}").questions
    assert q.other_feedback == "~" * 5_000
    # Distractors count toward the parts limit like any pair.
    block = "=a -> 1 =b -> 2 " + "= -> x " * 1_000
    with pytest.raises(FormatError) as info:
        read_gift("Q {" + block + "}")
    assert "at most" in str(info.value) and "pairs" in str(info.value)
    # A category over the title limit is refused with the question's line.
    with pytest.raises(FormatError) as info:
        read_gift("$CATEGORY: " + "x/" * 500 + "\n\nQ {T}")
    assert "category is longer than" in str(info.value)
    # Odd Unicode in a category path is kept as it is.
    (q,) = read_gift("$CATEGORY: $course$/top/Ünïcode/漢字/😀\u200b\n\nQ {T}").questions
    assert q.category == "Ünïcode/漢字/😀\u200b"


def test_a_numeric_tilde_inside_an_escaped_feedback_is_not_a_catch_all() -> None:
    (q,) = read_gift("Q {#=5#five \\~ exactly}").questions
    assert q.other_feedback is None
    assert q.numeric_answers == [NumericAnswer(5.0, 0.0, 100.0, "five ~ exactly")]
