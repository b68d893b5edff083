"""Random draws from a question bank: categories, rule checks and the assignment."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from quizplatform.domain.draws import (
    MAX_DRAW_COUNT,
    DrawRule,
    assign,
    category_matches,
    normalise_category,
    rule_problems,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Geography/Capitals", "Geography/Capitals"),
        ("  Geography / Capitals /", "Geography/Capitals"),
        ("$course$/top/Geography/Capitals", "Geography/Capitals"),
        ("$system$/Maths", "Maths"),
        ("top/Maths", "top/Maths"),  # only after a Moodle context
        ("//", None),
        ("", None),
        (None, None),
        ("Géographie/Capitales", "Géographie/Capitales"),
    ],
)
def test_normalise_category(raw: str | None, stored: str | None) -> None:
    assert normalise_category(raw) == stored


@pytest.mark.parametrize(
    ("rule", "question", "matches"),
    [
        ("Geography", "Geography/Capitals", True),
        ("Geography", "Geography", True),
        ("geography/capitals", "Geography/Capitals/Europe", True),
        ("Geography", "Geographyx", False),
        ("Geography/Capitals", "Geography", False),
        ("GÉOGRAPHIE", "géographie/Capitales", True),  # beyond ASCII too
        ("Geography", None, False),
        (None, None, True),
        (None, "Anything", True),
        ("$course$/top/Geography", "Geography/Rivers", True),
    ],
)
def test_category_matching_includes_subcategories(
    rule: str | None, question: str | None, matches: bool
) -> None:
    assert category_matches(rule, question) is matches


def test_rule_problems() -> None:
    assert rule_problems(DrawRule(count=3, category="A")) == []
    assert rule_problems(DrawRule(count=3, tag="t")) == []
    fields = {field for field, _ in rule_problems(DrawRule(count=0, points=0))}
    assert fields == {"count", "points", "category"}
    assert rule_problems(DrawRule(count=MAX_DRAW_COUNT + 1, category="A"))[0][0] == "count"
    assert rule_problems(DrawRule(count=1, category="/ /", tag="  "))[0][0] == "category"


def test_assign_picks_distinct_questions_per_rule() -> None:
    pools = [[f"q{i}" for i in range(10)]]
    chosen = assign(pools, [3], [random.Random(1)])
    assert chosen is not None and len(chosen[0]) == 3 and len(set(chosen[0])) == 3
    assert set(chosen[0]) <= set(pools[0])


def test_assign_is_a_function_of_the_generator_not_of_the_pool_order() -> None:
    pool = [f"q{i}" for i in range(20)]
    first = assign([pool], [5], [random.Random(7)])
    second = assign([list(reversed(pool))], [5], [random.Random(7)])
    assert first == second


def test_assign_is_uniform_enough() -> None:
    pool = [f"q{i}" for i in range(6)]
    counts: Counter[str] = Counter()
    for seed in range(3000):
        chosen = assign([pool], [2], [random.Random(seed)])
        assert chosen is not None
        counts.update(chosen[0])
    # each question is expected 1000 times (2 of 6 over 3000 draws)
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_assign_never_repeats_a_question_shared_by_two_rules() -> None:
    broad = [f"q{i}" for i in range(6)]
    narrow = ["q0", "q1", "q2"]
    for seed in range(200):
        rng = random.Random(seed)
        chosen = assign([broad, narrow], [3, 3], [rng, random.Random(seed + 1)])
        assert chosen is not None
        everything = chosen[0] + chosen[1]
        assert len(set(everything)) == 6
        assert set(chosen[1]) == set(narrow)  # the narrow rule needs all of its pool


def test_assign_reports_impossible_draws() -> None:
    assert assign([["a", "b"]], [3]) is None
    # each rule alone fits; together they need 4 of 3
    assert assign([["a", "b", "c"], ["a", "b"]], [2, 2]) is None
    assert assign([["a", "b", "c"], ["a", "b"]], [1, 2]) is not None
    assert assign([], []) == []
    assert assign([["a"]], [0]) == [[]]


def test_assign_handles_the_largest_draws() -> None:
    # 10 rules x 20 over one shared pool of 200: every question is needed exactly once
    pool = [f"q{i}" for i in range(200)]
    rngs = [random.Random(i) for i in range(10)]
    chosen = assign([pool] * 10, [20] * 10, rngs)
    assert chosen is not None
    assert sorted(q for ids in chosen for q in ids) == sorted(pool)
