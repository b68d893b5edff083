"""Carrying a response over to a question's newer version (``domain/regrade.py``)."""

from __future__ import annotations

from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    TextAnswer,
)
from quizplatform.domain.regrade import id_map, latest_versions, translate_response
from quizplatform.domain.scoring import score_question


def _choice(kind: QuestionType, *options: tuple[str, float, str]) -> Question:
    return Question(
        type=kind,
        prompt="?",
        options=[Choice(text, weight, None, i) for text, weight, i in options],
    )


def test_latest_versions_follow_the_chain_and_stop_on_a_cycle() -> None:
    replaced_by = {"v1": "v2", "v2": "v3", "x": "y", "y": "x"}
    found = latest_versions(replaced_by, ["v1", "v2", "v3", "solo", "x"])
    assert found == {"v1": "v3", "v2": "v3", "v3": "v3", "solo": "solo", "x": "y"}


def test_id_map_by_text_then_by_position() -> None:
    old = [("a", "4"), ("b", "5"), ("c", "3")]
    reordered = [("z", "3"), ("x", "4"), ("y", "5")]
    assert id_map(old, reordered) == {"a": "x", "b": "y", "c": "z"}
    typo_fixed = [("x", "four"), ("y", "5"), ("z", "3")]
    assert id_map(old, typo_fixed) == {"a": "x", "b": "y", "c": "z"}
    # One removed, one edited: what is still found by its text maps, the rest is gone.
    assert id_map(old, [("x", "four"), ("y", "5")]) == {"b": "y"}
    duplicates = [("a", "same"), ("b", "same")]
    assert id_map(duplicates, [("x", "same"), ("y", "same")]) == {"a": "x", "b": "y"}


def test_a_fixed_single_choice_key_rescores_the_chosen_option() -> None:
    wrong = _choice(QuestionType.SINGLE_CHOICE, ("4", 0, "a"), ("5", 100, "b"))
    fixed = _choice(QuestionType.SINGLE_CHOICE, ("5", 0, "y"), ("4", 100, "x"))
    payload = translate_response(wrong, fixed, {"option_id": "a"})
    assert payload == {"option_id": "x"}
    assert score_question(wrong, {"option_id": "a"}).score == 0
    assert score_question(fixed, payload).score == 1


def test_multiple_choice_keeps_every_chosen_option() -> None:
    old = _choice(QuestionType.MULTIPLE_CHOICE, ("2", 50, "a"), ("3", 50, "b"), ("4", 0, "c"))
    new = _choice(QuestionType.MULTIPLE_CHOICE, ("2", 50, "x"), ("3", 50, "y"), ("9", 0, "z"))
    assert translate_response(old, new, {"option_ids": ["a", "b"]}) == {"option_ids": ["x", "y"]}


def test_a_response_that_cannot_be_carried_over_is_none() -> None:
    old = _choice(QuestionType.SINGLE_CHOICE, ("4", 100, "a"), ("5", 0, "b"), ("6", 0, "c"))
    fewer = _choice(QuestionType.SINGLE_CHOICE, ("four", 100, "x"), ("5", 0, "y"))
    assert translate_response(old, fewer, {"option_id": "a"}) is None
    as_multiple = _choice(QuestionType.MULTIPLE_CHOICE, ("4", 100, "x"), ("5", 0, "y"))
    assert translate_response(old, as_multiple, {"option_id": "a"}) is None
    garbage = {"option_id": ["not", "an", "id"]}
    same = _choice(QuestionType.SINGLE_CHOICE, ("4", 0, "x"), ("5", 100, "y"), ("6", 0, "z"))
    assert translate_response(old, same, garbage) is None


def test_plain_types_carry_over_as_they_are() -> None:
    tf_old = Question(type=QuestionType.TRUE_FALSE, prompt="?", answer=True)
    tf_new = Question(type=QuestionType.TRUE_FALSE, prompt="?", answer=False)
    assert translate_response(tf_old, tf_new, {"value": True}) == {"value": True}
    sa_old = Question(type=QuestionType.SHORT_ANSWER, prompt="?", text_answers=[TextAnswer("x")])
    sa_new = Question(type=QuestionType.SHORT_ANSWER, prompt="?", text_answers=[TextAnswer("y")])
    assert translate_response(sa_old, sa_new, {"text": "é ☃ y"}) == {"text": "é ☃ y"}
    num = Question(type=QuestionType.NUMERIC, prompt="?", numeric_answers=[NumericAnswer(1.0)])
    assert translate_response(num, num, {"value": 1e308}) == {"value": 1e308}


def test_essays_and_descriptions_are_never_carried_over() -> None:
    essay = Question(type=QuestionType.ESSAY, prompt="?", points=5)
    assert translate_response(essay, essay, {"text": "mine"}) is None
    desc = Question(type=QuestionType.DESCRIPTION, prompt="read this")
    assert translate_response(desc, desc, {}) is None


def test_matching_maps_lefts_and_rights() -> None:
    old = Question(
        type=QuestionType.MATCHING,
        prompt="?",
        pairs=[Pair("cat", "meow", "l1", "r1"), Pair("dog", "woof", "l2", "r2")],
    )
    new = Question(
        type=QuestionType.MATCHING,
        prompt="?",
        pairs=[
            Pair("dog", "woof", "m2", "s2"),
            Pair("cat", "meow", "m1", "s1"),
            Pair("", "moo", "m3", "s3"),
        ],
    )
    payload = translate_response(old, new, {"matches": {"l1": "r2", "l2": "r2"}})
    assert payload == {"matches": {"m2": "s2", "m1": "s2"}}
    assert score_question(new, payload).score == 0.5


def test_ordering_maps_items_by_text() -> None:
    old = Question(
        type=QuestionType.ORDERING, prompt="?", items=[Item("one", "a"), Item("two", "b")]
    )
    new = Question(
        type=QuestionType.ORDERING, prompt="?", items=[Item("two", "y"), Item("one", "x")]
    )
    assert translate_response(old, new, {"item_ids": ["a", "b"]}) == {"item_ids": ["x", "y"]}
    more = Question(
        type=QuestionType.ORDERING,
        prompt="?",
        items=[Item("one", "x"), Item("two", "y"), Item("three", "z")],
    )
    assert translate_response(old, more, {"item_ids": ["a", "b"]}) is None
