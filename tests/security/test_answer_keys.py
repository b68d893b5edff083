"""Answer keys cannot be recovered by replaying how the shown order was made.

Before: matching rights and ordering items were shuffled with ``random.Random(question
id)``, the id being public, so anyone could replay the shuffle on what they were shown and
undo it; attempts used a 31-bit seed, small enough to brute-force."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from quizplatform.db import models
from tests.api.helpers import Api

pytestmark = pytest.mark.parametrize("services", ["sqlite", "postgres"], indirect=True)

# Eight parts: a replayed shuffle that matches the key by chance has odds of 1 in 40,320.
ITEMS = ["alpha", "kilo", "bravo", "lima", "charlie", "mike", "delta", "november"]


def _quiz() -> dict[str, Any]:
    return {
        "title": "Sequences",
        "questions": [
            {"type": "ordering", "prompt": "In order", "items": [{"text": t} for t in ITEMS]},
            {
                "type": "matching",
                "prompt": "Pairs",
                "pairs": [{"left": f"L{t}", "right": f"R{t}"} for t in reversed(ITEMS)],
            },
        ],
    }


def _old_permutation(question_id: str, n: int, *, not_identity: bool) -> list[int]:
    """The permutation the old code applied (``random.Random(question_id)``), replayed on
    indices: shown[k] was original[perm[k]]."""
    rng = random.Random(question_id)
    perm = list(range(n))
    if not not_identity:
        rng.shuffle(perm)
        return perm
    for _ in range(5):
        rng.shuffle(perm)
        if perm != list(range(n)):
            return perm
    return list(reversed(range(n)))


def _undo(shown: list[str], perm: list[int]) -> list[str]:
    original = [""] * len(shown)
    for position, source in enumerate(perm):
        original[source] = shown[position]
    return original


async def test_replaying_the_public_seed_does_not_recover_the_key(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, _quiz())
    owner = {q["type"]: q for q in quiz["questions"]}
    for viewer in (None, await api.user("student")):
        r = await api.http.get(
            f"/api/v1/quizzes/{quiz['id']}", headers=viewer.headers if viewer else {}
        )
        shown = {q["type"]: q for q in r.json()["questions"]}

        ordering = shown["ordering"]
        texts = [i["text"] for i in ordering["items"]]
        perm = _old_permutation(ordering["id"], len(texts), not_identity=True)
        assert _undo(texts, perm) != ITEMS, "the order was recovered by replaying the seed"

        matching = shown["matching"]
        rights = [r["text"] for r in matching["rights"]]
        perm = _old_permutation(matching["id"], len(rights), not_identity=False)
        recovered = dict(
            zip([x["text"] for x in matching["lefts"]], _undo(rights, perm), strict=True)
        )
        key = {p["left"]: p["right"] for p in owner["matching"]["pairs"]}
        assert recovered != key, "the pairs were recovered by replaying the seed"


async def test_attempts_have_secret_256_bit_order_keys_and_their_own_orders(api: Api) -> None:
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, _quiz())
    orders: list[list[str]] = []
    bodies: list[str] = []
    for _ in range(3):
        student = await api.user("student")
        r = await api.http.post(f"/api/v1/quizzes/{quiz['id']}/attempts", headers=student.headers)
        assert r.status_code == 201, r.text
        again = await api.http.get(f"/api/v1/attempts/{r.json()['id']}", headers=student.headers)
        bodies += [r.text, again.text]
        items = {q["type"]: q for q in r.json()["questions"]}["ordering"]["items"]
        shown_again = {q["type"]: q for q in again.json()["questions"]}["ordering"]["items"]
        assert shown_again == items, "an attempt shows the same order every time"
        orders.append([i["text"] for i in items])
    assert len({tuple(o) for o in orders}) > 1, "every attempt showed the same order"
    async with api.services.db.session() as session:
        rows = list(await session.scalars(select(models.Attempt)))
    assert rows
    for row in rows:
        assert row.order_key is not None and len(bytes.fromhex(row.order_key)) == 32
        assert not any(row.order_key in body for body in bodies)
