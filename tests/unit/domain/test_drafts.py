"""Validation of AI-drafted items: the shape, then the meaning; invalid items are dropped
with a reason and valid ones become domain questions that pass the question rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizplatform.domain.drafts import (
    DRAFT_TYPES,
    DraftFormatError,
    item_to_question,
    parse_draft_text,
    plan_types,
    validate_items,
)
from quizplatform.domain.questions import QuestionType, validate_question
from quizplatform.domain.scoring import score_question

ALL = list(DRAFT_TYPES)


def single(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "single_choice",
        "prompt": "Which planet is closest to the Sun?",
        "options": ["Mercury", "Venus", "Earth", "Mars"],
        "correct_options": ["Mercury"],
        "explanation": "Mercury orbits closest to the Sun.",
    }
    item.update(changes)
    return item


def reasons(items: list[Any], types: list[str] = ALL) -> list[str]:
    return [r.reason for r in validate_items(items, allowed_types=types).rejections]


def test_a_good_item_of_each_type_becomes_a_valid_question() -> None:
    items = [
        single(),
        {
            "type": "multiple_choice",
            "prompt": "Which of these are gas giants?",
            "options": ["Jupiter", "Saturn", "Mercury", "Mars"],
            "correct_options": ["Jupiter", "Saturn"],
            "explanation": "Jupiter and Saturn are mostly hydrogen and helium.",
        },
        {"type": "true_false", "prompt": "Mars has two moons.", "true_false_answer": True},
        {
            "type": "short_answer",
            "prompt": "The largest planet is _____.",
            "accepted_answers": ["Jupiter"],
        },
        {"type": "numeric", "prompt": "How many planets orbit the Sun?", "numeric_answer": 8},
    ]
    result = validate_items(items, allowed_types=ALL)
    assert result.rejections == []
    assert [q.type.value for q in result.questions] == ALL
    for question in result.questions:
        assert validate_question(question) == []
        assert "ai-draft" in question.tags
    tf = result.questions[2]
    assert tf.answer is True


def test_keys_score_full_marks_and_wrong_answers_do_not() -> None:
    result = validate_items(
        [
            single(),
            {
                "type": "multiple_choice",
                "prompt": "Which are even?",
                "options": ["2", "4", "5", "7"],
                "correct_options": ["2", "4"],
            },
        ],
        allowed_types=ALL,
    )
    one, many = result.questions
    for question in (one, many):
        for index, option in enumerate(question.options):
            option.id = f"o{index}"
    assert score_question(one, {"option_id": "o0"}).correct is True  # Mercury
    assert score_question(one, {"option_id": "o3"}).score == 0  # Mars
    assert score_question(many, {"option_ids": ["o0", "o1"]}).correct is True
    assert score_question(many, {"option_ids": ["o0", "o1", "o2", "o3"]}).score == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"correct_options": ["Pluto"]}, "key_not_in_options"),
        ({"correct_options": []}, "key_not_in_options"),
        ({"correct_options": ["Mercury", "Venus"]}, "key_count"),
        ({"options": ["Mercury", "mercury ", "Earth", "Mars"]}, "options_not_distinct"),
        ({"options": ["Mercury", "Venus", "Earth", "All of the above"]}, "catch_all_option"),
        ({"options": ["Mercury", "Venus", "Earth", "None of these"]}, "catch_all_option"),
        ({"options": ["Mercury", "Venus", "Earth", "Both A and B"]}, "catch_all_option"),
        (
            {"options": ["Mercury", "Venus", "Earth", "Mars, seen from the far side of " * 3]},
            "options_uneven",
        ),
        ({"options": ["Mercury"]}, "shape"),
        ({"prompt": "   "}, "shape"),
        ({"prompt": 42}, "shape"),
        ({"type": "essay"}, "shape"),
        ({"options": "Mercury, Venus"}, "shape"),
    ],
)
def test_single_choice_rules(changes: dict[str, Any], reason: str) -> None:
    assert reasons([single(**changes)]) == [reason]


def test_multiple_choice_needs_a_wrong_option() -> None:
    item = {
        "type": "multiple_choice",
        "prompt": "Which are planets?",
        "options": ["Mars", "Venus"],
        "correct_options": ["Mars", "Venus"],
    }
    assert reasons([item]) == ["key_count"]


@pytest.mark.parametrize(
    "item",
    [
        {"type": "true_false", "prompt": "Water is wet.", "true_false_answer": "true"},
        {"type": "true_false", "prompt": "Water is wet."},
        {"type": "short_answer", "prompt": "H2O is _____.", "accepted_answers": []},
        {"type": "short_answer", "prompt": "H2O is _____.", "accepted_answers": [" "]},
        {"type": "numeric", "prompt": "Pi?", "numeric_answer": "3.14"},
        {"type": "numeric", "prompt": "Pi?", "numeric_answer": True},
        {"type": "numeric", "prompt": "Pi?", "numeric_answer": 3.14, "numeric_tolerance": -1},
        {"type": "numeric", "prompt": "Pi?", "numeric_answer": float("nan")},
        "not an object",
        None,
    ],
)
def test_shape_errors_are_dropped(item: Any) -> None:
    assert reasons([item]) == ["shape"]


def test_only_the_requested_types_are_kept() -> None:
    tf = {"type": "true_false", "prompt": "Mars is red.", "true_false_answer": True}
    assert reasons([single(), tf], types=["true_false"]) == ["type_not_requested"]


def test_repeated_prompts_are_dropped_within_and_across_rounds() -> None:
    result = validate_items(
        [single(), single(prompt="which planet is  closest to the sun?")], allowed_types=ALL
    )
    assert [r.reason for r in result.rejections] == ["duplicate"]
    again = validate_items([single()], allowed_types=ALL, seen_prompts=[single()["prompt"]])
    assert [r.reason for r in again.rejections] == ["duplicate"]


def test_limit_keeps_only_what_is_missing() -> None:
    items = [single(prompt=f"Question {i}?") for i in range(5)]
    assert len(validate_items(items, allowed_types=ALL, limit=3).questions) == 3


def test_text_is_trimmed_and_keys_match_options_case_insensitively() -> None:
    result = validate_items(
        [single(prompt="  Which \n planet?  ", correct_options=["mercury"])], allowed_types=ALL
    )
    item = result.items[0]
    assert item["prompt"] == "Which planet?"
    assert item["correct_options"] == ["Mercury"]  # the option's own spelling


@pytest.mark.parametrize(
    "text",
    [
        '{"questions": [{"type": "single_choice"',  # truncated
        "Sure! Here are five questions about planets.",
        '{"items": []}',
        "42",
        "",
    ],
)
def test_text_that_is_not_the_json_asked_for_is_a_format_error(text: str) -> None:
    with pytest.raises(DraftFormatError):
        parse_draft_text(text)


def test_json_in_a_markdown_fence_and_bare_lists_are_accepted() -> None:
    assert parse_draft_text('```json\n{"questions": [1]}\n```') == [1]
    assert parse_draft_text("[1, 2]") == [1, 2]


def test_plan_spreads_the_count_over_the_types() -> None:
    assert plan_types(["a", "b", "c"], 7) == {"a": 3, "b": 2, "c": 2}
    assert plan_types(["a", "b", "c"], 2) == {"a": 1, "b": 1}
    assert sum(plan_types(ALL, 50).values()) == 50


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "prompt",
                    "options",
                    "correct_options",
                    "true_false_answer",
                    "accepted_answers",
                    "numeric_answer",
                    "numeric_tolerance",
                    "explanation",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=8,
        )
    ),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=6), st.sampled_from(DRAFT_TYPES))
def test_garbage_never_produces_an_invalid_question(items: list[Any], kind: str) -> None:
    for raw in items:
        if isinstance(raw, dict):
            raw.setdefault("type", kind)
    result = validate_items(items, allowed_types=ALL)
    assert len(result.questions) + len(result.rejections) == len(items)
    for question in result.questions:
        assert validate_question(question) == []
        assert question.prompt.strip()


def test_item_to_question_sets_the_type_fields() -> None:
    question = item_to_question(
        {"type": "numeric", "prompt": "2+2?", "numeric_answer": 4.0, "numeric_tolerance": 0.5}
    )
    assert question.type is QuestionType.NUMERIC
    assert (question.numeric_answers[0].value, question.numeric_answers[0].tolerance) == (4, 0.5)
