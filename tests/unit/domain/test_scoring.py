from __future__ import annotations

import math

import pytest

from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
    validate_question,
)
from quizplatform.domain.scoring import (
    MAX_TEXT_LENGTH,
    AttemptScore,
    InvalidResponse,
    QuestionScore,
    parse_response,
    score_question,
    total,
    validate_manual_grade,
    wildcard_match,
)
from quizplatform.services.question_views import student_question

# --------------------------------------------------------------------------- fixtures


def single(points: float = 2.0) -> Question:
    return Question(
        type=QuestionType.SINGLE_CHOICE,
        prompt="2 + 2?",
        points=points,
        options=[
            Choice("4", 100, id="a"),
            Choice("3", 0, id="b"),
            Choice("four-ish", 50, id="c"),
            Choice("-4", -50, id="d"),
        ],
    )


def multiple(points: float = 4.0) -> Question:
    return Question(
        type=QuestionType.MULTIPLE_CHOICE,
        prompt="Primes?",
        points=points,
        options=[
            Choice("2", 50, id="a"),
            Choice("3", 50, id="b"),
            Choice("4", -50, id="c"),
            Choice("9", -100, id="d"),
        ],
    )


def true_false(answer: bool = True) -> Question:
    return Question(type=QuestionType.TRUE_FALSE, prompt="Sky is blue", answer=answer)


def short(case_sensitive: bool = False, points: float = 1.0) -> Question:
    return Question(
        type=QuestionType.SHORT_ANSWER,
        prompt="Capital of France?",
        points=points,
        case_sensitive=case_sensitive,
        text_answers=[
            TextAnswer("Paris", 100),
            TextAnswer("  the   city of light ", 50),
            TextAnswer("paris", 60),
            TextAnswer("Lyon", -100),
        ],
    )


def numeric(*answers: NumericAnswer, points: float = 1.0) -> Question:
    return Question(
        type=QuestionType.NUMERIC,
        prompt="Value?",
        points=points,
        numeric_answers=list(answers) or [NumericAnswer(3.0, 0.1)],
    )


def matching(points: float = 3.0) -> Question:
    # Two pairs share the right text "mammal": either of those rights is correct for both.
    return Question(
        type=QuestionType.MATCHING,
        prompt="Match",
        points=points,
        pairs=[
            Pair("cat", "mammal", id="l1", right_id="r9"),
            Pair("dog", "mammal", id="l2", right_id="r4"),
            Pair("trout", "fish", id="l3", right_id="r7"),
        ],
    )


def ordering() -> Question:
    return Question(
        type=QuestionType.ORDERING,
        prompt="Order",
        items=[Item("one", id="i1"), Item("two", id="i2"), Item("three", id="i3")],
    )


def essay(points: float = 5.0) -> Question:
    return Question(type=QuestionType.ESSAY, prompt="Discuss", points=points)


def description() -> Question:
    return Question(type=QuestionType.DESCRIPTION, prompt="Part 2", points=1.0)


# --------------------------------------------------------------------------- single choice


@pytest.mark.parametrize(
    ("option_id", "expected", "correct"),
    [("a", 2.0, True), ("b", 0.0, False), ("c", 1.0, False), ("d", 0.0, False)],
)
def test_single_choice(option_id: str, expected: float, correct: bool) -> None:
    result = score_question(single(), {"option_id": option_id})
    assert result == QuestionScore(expected, 2.0, correct)


def test_single_choice_negative_weight_floors_at_zero() -> None:
    assert score_question(single(), {"option_id": "d"}).score == 0.0


# --------------------------------------------------------------------------- multiple choice


@pytest.mark.parametrize(
    ("chosen", "expected", "correct"),
    [
        (["a", "b"], 4.0, True),
        (["a"], 2.0, False),
        (["a", "b", "c"], 2.0, False),
        ([], 0.0, False),
        (["c"], 0.0, False),  # -50 floors at 0
        (["a", "d"], 0.0, False),  # 50 - 100 floors at 0
        (["a", "b", "c", "d"], 0.0, False),
    ],
)
def test_multiple_choice(chosen: list[str], expected: float, correct: bool) -> None:
    result = score_question(multiple(), {"option_ids": chosen})
    assert result == QuestionScore(expected, 4.0, correct)


def test_multiple_choice_never_above_points() -> None:
    q = multiple()
    q.options[2].weight = 100  # an (invalid) over-weighted question still caps at points
    assert score_question(q, {"option_ids": ["a", "b", "c"]}).score == 4.0


def test_multiple_choice_thirds_sum_to_full_points() -> None:
    q = Question(
        type=QuestionType.MULTIPLE_CHOICE,
        prompt="?",
        points=3.0,
        options=[
            Choice("a", 33.33, id="a"),
            Choice("b", 33.33, id="b"),
            Choice("c", 33.33, id="c"),
            Choice("d", -100, id="d"),
        ],
    )
    assert score_question(q, {"option_ids": ["a", "b", "c"]}) == QuestionScore(3.0, 3.0, True)
    assert score_question(q, {"option_ids": ["a"]}).score == 0.9999


def test_multiple_choice_partial_is_rounded() -> None:
    q = multiple(points=1.0)
    q.options[0].weight = 100 / 3
    assert score_question(q, {"option_ids": ["a"]}).score == 0.333333


# --------------------------------------------------------------------------- true / false


@pytest.mark.parametrize(
    ("answer", "value", "expected"),
    [(True, True, 1.0), (True, False, 0.0), (False, False, 1.0), (False, True, 0.0)],
)
def test_true_false(answer: bool, value: bool, expected: float) -> None:
    result = score_question(true_false(answer), {"value": value})
    assert result == QuestionScore(expected, 1.0, expected == 1.0)


# --------------------------------------------------------------------------- short answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", 1.0),
        ("  paris ", 1.0),  # case-insensitive: "Paris" (100) and "paris" (60) match, take max
        ("PARIS", 1.0),
        ("The City   of\tLight", 0.5),  # trimmed and inner whitespace collapsed
        ("the cityof light", 0.0),
        ("Lyon", 0.0),  # negative weight floors at 0
        ("", 0.0),
        ("Pariss", 0.0),
    ],
)
def test_short_answer_case_insensitive(text: str, expected: float) -> None:
    assert score_question(short(), {"text": text}).score == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Paris", 1.0), (" paris", 0.6), ("PARIS", 0.0), ("the city  of light", 0.5)],
)
def test_short_answer_case_sensitive(text: str, expected: float) -> None:
    assert score_question(short(case_sensitive=True), {"text": text}).score == expected


def test_short_answer_partial_is_not_correct() -> None:
    assert score_question(short(), {"text": "the city of light"}).correct is False
    assert score_question(short(), {"text": "paris"}).correct is True


# --------------------------------------------------------------------------- numeric


@pytest.mark.parametrize(
    ("answer", "value", "expected"),
    [
        (NumericAnswer(3.0, 0.1), 3.1, 1.0),  # exactly at the edge; floats would say no
        (NumericAnswer(3.0, 0.1), 2.9, 1.0),
        (NumericAnswer(3.0, 0.1), 3.1000001, 0.0),
        (NumericAnswer(3.0, 0.1), 2.8999999, 0.0),
        (NumericAnswer(0.3, 0.0), 0.3, 1.0),
        (NumericAnswer(0.1, 0.2), 0.3, 1.0),  # 0.3 - 0.1 is 0.19999999999999998 in floats
        (NumericAnswer(1.1, 0.1), 1.2, 1.0),  # 1.2 - 1.1 is 0.09999999999999987 in floats
        (NumericAnswer(1.1, 0.1), 1.0, 1.0),
        (NumericAnswer(100, 0.01), 100.01, 1.0),
        (NumericAnswer(100, 0.01), 99.99, 1.0),
        (NumericAnswer(100, 0.01), 100.011, 0.0),
        (NumericAnswer(-2.5, 0.5), -3, 1.0),
        (NumericAnswer(-2.5, 0.5), -3.01, 0.0),
        (NumericAnswer(42, 0), 42, 1.0),
        (NumericAnswer(42, 0), 42.0, 1.0),
        (NumericAnswer(42, 0), 42.000001, 0.0),
        (NumericAnswer(1e-7, 1e-8), 1.1e-7, 1.0),
    ],
)
def test_numeric_tolerance_is_inclusive_and_decimal(
    answer: NumericAnswer, value: float, expected: float
) -> None:
    assert abs(3.1 - 3.0) > 0.1  # the float trap this guards against
    assert score_question(numeric(answer), {"value": value}).score == expected


def test_numeric_first_matching_answer_wins() -> None:
    q = numeric(NumericAnswer(10, 1, weight=50), NumericAnswer(10, 0, weight=100), points=2.0)
    assert score_question(q, {"value": 10}) == QuestionScore(1.0, 2.0, False)
    q = numeric(NumericAnswer(10, 0, weight=100), NumericAnswer(10, 1, weight=50), points=2.0)
    assert score_question(q, {"value": 10}) == QuestionScore(2.0, 2.0, True)
    assert score_question(q, {"value": 10.5}) == QuestionScore(1.0, 2.0, False)
    assert score_question(q, {"value": 12}) == QuestionScore(0.0, 2.0, False)


def test_numeric_negative_weight_floors_at_zero() -> None:
    q = numeric(NumericAnswer(0, 5, weight=-100), NumericAnswer(3, 0))
    assert score_question(q, {"value": 3}).score == 0.0  # first match is the negative one


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        ({"l1": "r9", "l2": "r4", "l3": "r7"}, 3.0),
        ({"l1": "r4", "l2": "r9", "l3": "r7"}, 3.0),  # shared right text: swapped is right
        ({"l1": "r4", "l2": "r4", "l3": "r7"}, 3.0),  # the same right twice, same text
        ({"l1": "r7", "l2": "r4", "l3": "r9"}, 1.0),
        ({"l1": "r7", "l2": "r7", "l3": "r9"}, 0.0),
        ({"l3": "r7"}, 1.0),  # unmatched lefts earn nothing
        ({}, 0.0),
    ],
)
def test_matching(matches: dict[str, str], expected: float) -> None:
    result = score_question(matching(), {"matches": matches})
    assert result == QuestionScore(expected, 3.0, expected == 3.0)


def test_matching_partial_is_rounded() -> None:
    result = score_question(matching(points=1.0), {"matches": {"l1": "r9", "l2": "r4"}})
    assert result == QuestionScore(0.666667, 1.0, False)


def with_distractor() -> Question:
    q = matching()
    q.pairs.append(Pair("", "reptile", id="l4", right_id="r2"))  # Moodle's "= -> reptile"
    return q


def test_a_distractor_is_offered_but_matches_nothing_and_counts_nothing() -> None:
    q = with_distractor()
    assert validate_question(q) == []
    view = student_question(q)
    assert [p["text"] for p in view["lefts"]] == ["cat", "dog", "trout"]
    assert "reptile" in [p["text"] for p in view["rights"]]
    full = {"matches": {"l1": "r9", "l2": "r4", "l3": "r7"}}
    assert score_question(q, parse_response(q, full)) == QuestionScore(3.0, 3.0, True)
    wrong = {"matches": {"l1": "r2", "l2": "r4", "l3": "r7"}}  # the distractor chosen once
    assert score_question(q, parse_response(q, wrong)) == QuestionScore(2.0, 3.0, False)
    with pytest.raises(InvalidResponse):  # the distractor has no left to match
        parse_response(q, {"matches": {"l4": "r2"}})


def test_distractors_alone_do_not_make_a_matching_question() -> None:
    q = Question(
        type=QuestionType.MATCHING,
        prompt="Match",
        pairs=[Pair("cat", "mammal"), Pair("", "fish"), Pair("", "bird")],
    )
    assert validate_question(q) == ["a matching question needs at least two pairs"]
    q.pairs.append(Pair("dog", " "))
    assert "the right side of a pair must not be empty" in validate_question(q)


# --------------------------------------------------------------------------- wildcards


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*", "", True),
        ("*", "anything at all", True),
        ("gr*t", "great", True),
        ("gr*t", "grt", True),
        ("gr*t", "grease", False),
        ("*t*t*", "tattoo", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("**", "x", True),
        ("", "", True),
        ("", "x", False),
        ("ab", "a", False),
    ],
)
def test_wildcard_match(pattern: str, text: str, expected: bool) -> None:
    assert wildcard_match(pattern, text) is expected


def test_a_short_answer_star_matches_anything_with_its_weight() -> None:
    q = Question(
        type=QuestionType.SHORT_ANSWER,
        prompt="The capital of France?",
        text_answers=[TextAnswer("Paris"), TextAnswer("Par*", 50), TextAnswer("*", 0)],
    )
    assert score_question(q, {"text": "paris"}).score == 1.0
    assert score_question(q, {"text": "Parisss"}).score == 0.5
    assert score_question(q, {"text": "Lyon"}).score == 0.0


def test_a_pattern_of_many_stars_against_a_long_response_is_quick() -> None:
    # A backtracking regex takes polynomial time here; the scan is O(pattern x text).
    pattern, text = "*a" * 200 + "*b", "a" * 20_000
    # With re.fullmatch(".*a" * 200 + ".*b", ...) this did not finish within minutes, even
    # on 2,000 characters: an implementation that backtracks hangs here.
    assert wildcard_match(pattern, text) is False


# --------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("item_ids", "expected"),
    [(["i1", "i2", "i3"], 1.0), (["i2", "i1", "i3"], 0.0), (["i3", "i2", "i1"], 0.0)],
)
def test_ordering(item_ids: list[str], expected: float) -> None:
    assert score_question(ordering(), {"item_ids": item_ids}).score == expected


# --------------------------------------------------------------------------- essay, description


def test_essay_ungraded_counts_zero_with_correct_none() -> None:
    assert score_question(essay(), {"text": "An essay"}) == QuestionScore(0.0, 5.0, None)


def test_essay_graded() -> None:
    assert score_question(essay(), {"text": "x"}, manual_score=3.5) == QuestionScore(
        3.5, 5.0, False
    )
    assert score_question(essay(), {"text": "x"}, manual_score=5) == QuestionScore(5.0, 5.0, True)
    assert score_question(essay(), {"text": "x"}, manual_score=0) == QuestionScore(0.0, 5.0, False)


def test_essay_without_response() -> None:
    assert score_question(essay(), None) == QuestionScore(0.0, 5.0, False)


def test_description_is_zero_of_zero() -> None:
    assert score_question(description(), None) == QuestionScore(0.0, 0.0, None)


# --------------------------------------------------------------------------- no response


@pytest.mark.parametrize(
    "question", [single(), multiple(), true_false(), short(), numeric(), matching(), ordering()]
)
def test_no_response_scores_zero_and_wrong(question: Question) -> None:
    assert score_question(question, None) == QuestionScore(0.0, question.points, False)


def test_zero_point_question_correct_follows_the_credit() -> None:
    assert score_question(single(points=0), {"option_id": "a"}) == QuestionScore(0.0, 0.0, True)
    assert score_question(single(points=0), {"option_id": "b"}) == QuestionScore(0.0, 0.0, False)


def test_stale_ids_score_zero() -> None:
    assert score_question(single(), {"option_id": "gone"}).score == 0.0
    assert score_question(multiple(), {"option_ids": ["gone", "a"]}).score == 2.0
    assert score_question(matching(), {"matches": {"gone": "r9", "l3": "gone"}}).score == 0.0


# --------------------------------------------------------------------------- total


def test_total() -> None:
    scores = [
        QuestionScore(1.0, 2.0, False),
        QuestionScore(0.666667, 1.0, False),
        QuestionScore(0.0, 0.0, None),
    ]
    assert total(scores) == AttemptScore(1.666667, 3.0, 55.56)


def test_total_of_nothing() -> None:
    assert total([]) == AttemptScore(0.0, 0.0, 0.0)
    assert total([QuestionScore(0.0, 0.0, None)]) == AttemptScore(0.0, 0.0, 0.0)


def test_total_full() -> None:
    assert total([QuestionScore(0.1, 0.1, True)] * 3) == AttemptScore(0.3, 0.3, 100.0)


# --------------------------------------------------------------------------- parse_response


@pytest.mark.parametrize(
    ("question", "payload", "expected"),
    [
        (single(), {"option_id": "c"}, {"option_id": "c"}),
        (multiple(), {"option_ids": ["b", "a"]}, {"option_ids": ["a", "b"]}),
        (multiple(), {"option_ids": []}, {"option_ids": []}),
        (true_false(), {"value": False}, {"value": False}),
        (short(), {"text": "  Paris "}, {"text": "  Paris "}),
        (numeric(), {"value": 3}, {"value": 3}),
        (numeric(), {"value": -3.25}, {"value": -3.25}),
        (
            matching(),
            {"matches": {"l3": "r7", "l1": "r4"}},
            {"matches": {"l1": "r4", "l3": "r7"}},
        ),
        (matching(), {"matches": {"l1": "r4", "l2": "r4"}}, {"matches": {"l1": "r4", "l2": "r4"}}),
        (ordering(), {"item_ids": ["i3", "i1", "i2"]}, {"item_ids": ["i3", "i1", "i2"]}),
        (essay(), {"text": "x" * MAX_TEXT_LENGTH}, {"text": "x" * MAX_TEXT_LENGTH}),
    ],
)
def test_parse_valid(question: Question, payload: object, expected: dict[str, object]) -> None:
    assert parse_response(question, payload) == expected


INVALID: list[tuple[Question, object, str]] = [
    # single choice
    (single(), None, "JSON object"),
    (single(), ["a"], "JSON object"),
    (single(), {}, "exactly the keys: option_id"),
    (single(), {"option_id": "a", "extra": 1}, "exactly the keys"),
    (single(), {"option_ids": ["a"]}, "exactly the keys"),
    (single(), {"option_id": 1}, "option_id must be a string"),
    (single(), {"option_id": None}, "option_id must be a string"),
    (single(), {"option_id": "zz"}, "option_id must be one of this question's options"),
    # multiple choice
    (multiple(), {"option_ids": "a"}, "option_ids must be a list"),
    (multiple(), {"option_ids": [1]}, "must be a string"),
    (multiple(), {"option_ids": [["a"]]}, "must be a string"),
    (multiple(), {"option_ids": ["a", "a"]}, "must not contain duplicates"),
    (multiple(), {"option_ids": ["a", "zz"]}, "must all be options"),
    (multiple(), {"option_id": "a"}, "exactly the keys: option_ids"),
    # true/false
    (true_false(), {"value": 1}, "true or false"),
    (true_false(), {"value": "true"}, "true or false"),
    (true_false(), {"value": None}, "true or false"),
    (true_false(), {"answer": True}, "exactly the keys: value"),
    # short answer
    (short(), {"text": 5}, "text must be a string"),
    (short(), {"text": None}, "text must be a string"),
    (short(), {"text": "x" * (MAX_TEXT_LENGTH + 1)}, "at most 10,000 characters"),
    (short(), {"text": "a\x00b"}, "NUL"),
    (short(), {"value": "Paris"}, "exactly the keys: text"),
    # numeric
    (numeric(), {"value": True}, "value must be a number"),
    (numeric(), {"value": False}, "value must be a number"),
    (numeric(), {"value": "3"}, "value must be a number"),
    (numeric(), {"value": None}, "value must be a number"),
    (numeric(), {"value": math.nan}, "finite"),
    (numeric(), {"value": math.inf}, "finite"),
    (numeric(), {"value": -math.inf}, "finite"),
    (numeric(), {"value": 10**400}, "finite"),
    (numeric(), {"text": "3"}, "exactly the keys: value"),
    # matching
    (matching(), {"matches": [["l1", "r9"]]}, "matches must be an object"),
    (matching(), {"matches": {"zz": "r9"}}, "key of matches must be a left id"),
    (matching(), {"matches": {"l1": "zz"}}, "value of matches must be a right id"),
    (matching(), {"matches": {"l1": "l2"}}, "value of matches must be a right id"),
    (matching(), {"matches": {"l1": None}}, "value of matches must be a right id"),
    (matching(), {"matches": {"l1": 9}}, "value of matches must be a right id"),
    (matching(), {"matches": {}, "x": 1}, "exactly the keys: matches"),
    # ordering
    (ordering(), {"item_ids": ["i1", "i2"]}, "each item of this question exactly once"),
    (ordering(), {"item_ids": ["i1", "i2", "i3", "i4"]}, "exactly once"),
    (ordering(), {"item_ids": ["i1", "i2", "i2"]}, "must not contain duplicates"),
    (ordering(), {"item_ids": ["i1", "i2", "zz"]}, "exactly once"),
    (ordering(), {"item_ids": ["i1", "i2", 3]}, "must be a string"),
    (ordering(), {"item_ids": "i1,i2,i3"}, "must be a list"),
    # essay
    (essay(), {"text": ["x"]}, "text must be a string"),
    (essay(), {"text": "x" * (MAX_TEXT_LENGTH + 1)}, "at most"),
    (essay(), {}, "exactly the keys: text"),
    # description
    (description(), {}, "description questions take no response"),
    (description(), None, "description questions take no response"),
]


@pytest.mark.parametrize(("question", "payload", "message"), INVALID)
def test_parse_invalid(question: Question, payload: object, message: str) -> None:
    with pytest.raises(InvalidResponse, match=message):
        parse_response(question, payload)


def test_invalid_response_is_a_value_error() -> None:
    assert issubclass(InvalidResponse, ValueError)


def test_unsaved_question_accepts_no_ids() -> None:
    q = single().without_ids()
    with pytest.raises(InvalidResponse):
        parse_response(q, {"option_id": "a"})
    with pytest.raises(InvalidResponse):
        parse_response(ordering().without_ids(), {"item_ids": []})


def test_without_ids_clears_right_ids() -> None:
    assert all(p.right_id is None and p.id is None for p in matching().without_ids().pairs)


@pytest.mark.parametrize(
    ("question", "payload"),
    [
        (single(), {"option_id": "a"}),
        (multiple(), {"option_ids": ["a", "b"]}),
        (true_false(), {"value": True}),
        (short(), {"text": "Paris"}),
        (numeric(), {"value": 3.1}),
        (matching(), {"matches": {"l1": "r4", "l2": "r9", "l3": "r7"}}),
        (ordering(), {"item_ids": ["i1", "i2", "i3"]}),
    ],
)
def test_parsed_full_answers_score_full(question: Question, payload: object) -> None:
    result = score_question(question, parse_response(question, payload))
    assert result.correct is True
    assert result.score == question.points


# --------------------------------------------------------------------------- manual grades


@pytest.mark.parametrize("score", [0, 0.0, 2.5, 5, 5.0])
def test_manual_grade_valid(score: float) -> None:
    assert validate_manual_grade(essay(), score) == float(score)


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (-0.5, "between 0 and 5"),
        (5.01, "between 0 and 5"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (10**400, "finite"),
        (True, "must be a number"),
        ("3", "must be a number"),
        (None, "must be a number"),
    ],
)
def test_manual_grade_invalid(score: object, message: str) -> None:
    with pytest.raises(InvalidResponse, match=message):
        validate_manual_grade(essay(), score)


def test_manual_grade_only_for_essays() -> None:
    with pytest.raises(InvalidResponse, match="only essay"):
        validate_manual_grade(single(), 1)
