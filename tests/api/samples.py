"""Request bodies used across the API tests."""

from __future__ import annotations

from typing import Any


def all_types_quiz(**settings: Any) -> dict[str, Any]:
    """A quiz with one question of each of the eight types (plus a description)."""
    return {
        "title": "Every type",
        "description": "Covers the contract's table",
        "tags": ["Sample"],
        "settings": settings,
        "questions": [
            {
                "type": "single_choice",
                "prompt": "2+2?",
                "options": [{"text": "4", "correct": True}, {"text": "5"}, {"text": "3"}],
            },
            {
                "type": "multiple_choice",
                "prompt": "Primes?",
                "points": 2,
                "options": [
                    {"text": "2", "weight": 50},
                    {"text": "3", "weight": 50},
                    {"text": "4", "weight": -100},
                ],
            },
            {"type": "true_false", "prompt": "Sky is blue", "answer": True},
            {
                "type": "short_answer",
                "prompt": "Capital of France",
                "answers": [{"text": "Paris"}, {"text": "Paname", "weight": 50}],
            },
            {
                "type": "numeric",
                "prompt": "Pi to 2 places",
                "answers": [{"value": 3.14, "tolerance": 0.01}],
            },
            {
                "type": "matching",
                "prompt": "Match",
                "points": 3,
                "pairs": [
                    {"left": "cat", "right": "meow"},
                    {"left": "dog", "right": "woof"},
                    {"left": "cow", "right": "moo"},
                ],
            },
            {
                "type": "ordering",
                "prompt": "Order",
                "items": [{"text": "one"}, {"text": "two"}, {"text": "three"}],
            },
            {"type": "essay", "prompt": "Discuss", "points": 5},
        ],
    }


def by_type(quiz: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["type"]: q for q in quiz["questions"]}


def perfect_responses(owner_quiz: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """Full-marks responses for every auto-scored question, from the owner's view."""
    key = by_type(owner_quiz)
    shown = by_type(attempt)
    matching = shown["matching"]
    right_by_text = {r["text"]: r["id"] for r in matching["rights"]}
    pairs = {p["id"]: p["right"] for p in key["matching"]["pairs"]}
    return {
        key["single_choice"]["id"]: {
            "option_id": next(o["id"] for o in key["single_choice"]["options"] if o["correct"])
        },
        key["multiple_choice"]["id"]: {
            "option_ids": [o["id"] for o in key["multiple_choice"]["options"] if o["weight"] > 0]
        },
        key["true_false"]["id"]: {"value": True},
        key["short_answer"]["id"]: {"text": "  paris "},
        key["numeric"]["id"]: {"value": 3.15},
        key["matching"]["id"]: {
            "matches": {left["id"]: right_by_text[pairs[left["id"]]] for left in matching["lefts"]}
        },
        key["ordering"]["id"]: {"item_ids": [i["id"] for i in key["ordering"]["items"]]},
        key["essay"]["id"]: {"text": "Because of Rayleigh scattering."},
    }


def four_question_quiz(title: str = "Answered through a failover") -> dict[str, Any]:
    """Four auto-scored questions a student answers in a few keystrokes (the failover
    drills in the browser): 2+2 = 4, true, Paris, 3.14."""
    return {
        "title": title,
        "settings": {"show_correct_answers": "after_submit"},
        "questions": [
            {
                "type": "single_choice",
                "prompt": "2+2?",
                "options": [{"text": "4", "correct": True}, {"text": "5"}],
            },
            {"type": "true_false", "prompt": "The sky is blue", "answer": True},
            {"type": "short_answer", "prompt": "Capital of France", "answers": [{"text": "Paris"}]},
            {"type": "numeric", "prompt": "Pi to 2 places", "answers": [{"value": 3.14}]},
        ],
    }
