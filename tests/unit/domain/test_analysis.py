from __future__ import annotations

import math
import statistics

import pytest

from quizplatform.domain.analysis import (
    AttemptItems,
    OptionCount,
    QuestionInfo,
    analyse,
    pearson,
)

QUESTIONS = [
    QuestionInfo("q1", 1.0, option_ids=("a", "b", "c")),
    QuestionInfo("q2", 2.0),
    QuestionInfo("q3", 1.0, option_ids=("x", "y", "z")),  # multiple choice
    QuestionInfo("intro", 0.0),  # a description
]

# Hand-made: totals 4, 2, 3, 0, 3 of 4 -> 100, 50, 75, 0, 75 percent.
ATTEMPTS = [
    AttemptItems({"q1": 1, "q2": 2, "q3": 1, "intro": 0}, {"q1": ["a"], "q3": ["x", "y"]}),
    AttemptItems({"q1": 1, "q2": 1, "q3": 0}, {"q1": ["a"], "q3": ["z"]}),
    AttemptItems({"q1": 0, "q2": 2, "q3": 1}, {"q1": ["b"], "q3": ["x", "y"]}),
    AttemptItems({"q1": 0, "q2": 0, "q3": 0}, {"q1": ["b"], "q3": []}),
    AttemptItems({"q1": 1, "q2": 2, "q3": 0}, {"q1": ["a"], "q3": ["gone", "x"]}),
]


def test_hand_computed_example() -> None:
    result = analyse(QUESTIONS, ATTEMPTS)
    assert result.attempts == 5
    assert result.mean_percent == 60.0
    q1, q2, q3, intro = result.questions

    # q1: items 1,1,0,0,1 (mean 0.6); rests 3,1,3,0,2 (mean 1.8).
    # Sxy = .4*1.2 + .4*-.8 + -.6*1.2 + -.6*-1.8 + .4*.2 = 0.6
    # Sxx = 3*.16 + 2*.36 = 1.2; Syy = 1.44+.64+1.44+3.24+.04 = 6.8
    # r = 0.6 / sqrt(1.2 * 6.8) = 0.210042...
    assert q1.facility == 0.6
    assert q1.mean_score == 0.6
    assert q1.discrimination == pytest.approx(0.6 / math.sqrt(1.2 * 6.8), abs=1e-4)
    assert q1.discrimination == pytest.approx(
        statistics.correlation([1, 1, 0, 0, 1], [3, 1, 3, 0, 2]), abs=1e-4
    )
    assert q1.options == [OptionCount("a", 3), OptionCount("b", 2), OptionCount("c", 0)]

    assert q2.facility == 0.7  # mean 1.4 of 2
    assert q2.discrimination == pytest.approx(
        statistics.correlation([2, 1, 2, 0, 2], [2, 1, 1, 0, 1]), abs=1e-4
    )
    assert q2.options == []

    assert q3.facility == 0.4
    assert q3.discrimination == pytest.approx(
        statistics.correlation([1, 0, 1, 0, 0], [3, 2, 2, 0, 3]), abs=1e-4
    )
    # every option listed, 0 included; ids that are not options ignored
    assert q3.options == [OptionCount("x", 3), OptionCount("y", 2), OptionCount("z", 1)]

    # worth 0 points: no facility, and a constant item cannot discriminate
    assert intro.facility is None
    assert intro.discrimination is None
    assert intro.mean_score == 0.0


def test_discrimination_needs_five_attempts() -> None:
    result = analyse(QUESTIONS, ATTEMPTS[:4])
    assert result.attempts == 4
    assert all(q.discrimination is None for q in result.questions)
    assert result.questions[0].facility == 0.5
    assert result.mean_percent == pytest.approx((100 + 50 + 75 + 0) / 4)


def test_zero_variance_item_gives_none() -> None:
    attempts = [AttemptItems({"q1": 1, "q2": s}) for s in (0, 1, 2, 2, 1)]
    result = analyse(QUESTIONS[:2], attempts)
    q1, q2 = result.questions
    assert q1.facility == 1.0
    assert q1.discrimination is None  # everyone got q1 right
    assert q2.discrimination is None  # q2's rest (q1) does not vary


def test_float_residue_is_not_variance() -> None:
    # (0.1 + 0.2) - 0.1 is 0.20000000000000004: the rest must still count as constant.
    questions = [QuestionInfo("q1", 1.0), QuestionInfo("q2", 1.0)]
    attempts = [AttemptItems({"q1": x, "q2": 0.2}) for x in (0.1, 0.7, 0.3, 0.9, 0.6)]
    q1, q2 = analyse(questions, attempts).questions
    assert q1.discrimination is None
    assert q2.discrimination is None
    assert q1.facility == pytest.approx(0.52)


def test_missing_scores_count_zero() -> None:
    questions = [QuestionInfo("q1", 2.0), QuestionInfo("q2", 2.0)]
    result = analyse(questions, [AttemptItems({"q1": 2}), AttemptItems({"q2": 1, "other": 9})])
    assert result.mean_percent == pytest.approx((50 + 25) / 2)
    assert [q.facility for q in result.questions] == [0.5, 0.25]


def test_no_attempts() -> None:
    result = analyse(QUESTIONS, [])
    assert result.attempts == 0
    assert result.mean_percent is None
    q1 = result.questions[0]
    assert (q1.facility, q1.discrimination, q1.mean_score) == (None, None, None)
    assert q1.options == [OptionCount("a", 0), OptionCount("b", 0), OptionCount("c", 0)]


def test_quiz_worth_nothing_has_no_mean_percent() -> None:
    result = analyse([QuestionInfo("intro", 0.0)], [AttemptItems({})])
    assert result.mean_percent is None


def test_perfect_discrimination() -> None:
    questions = [QuestionInfo("q1", 1.0), QuestionInfo("q2", 1.0), QuestionInfo("q3", 1.0)]
    attempts = [AttemptItems({"q1": s, "q2": s, "q3": s}) for s in (1.0, 0.0, 1.0, 0.0, 1.0, 0.0)]
    assert all(q.discrimination == 1.0 for q in analyse(questions, attempts).questions)


def test_pearson_matches_statistics() -> None:
    xs = [0.0, 0.5, 1.0, 1.0, 0.25, 0.75, 0.0]
    ys = [3.0, 4.5, 7.0, 6.0, 2.0, 5.5, 4.0]
    assert pearson(xs, ys) == pytest.approx(statistics.correlation(xs, ys))
    assert pearson([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.0)
    assert pearson([1.0], [1.0]) is None
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    with pytest.raises(ValueError, match="same length"):
        pearson([1.0, 2.0], [1.0])
