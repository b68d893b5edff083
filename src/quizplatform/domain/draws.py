"""Random draws from a teacher's question bank (pure: no I/O).

A quiz may hold, besides its fixed questions, *draw rules*: "``count`` random questions
of the bank's category ``category`` (subcategories included) tagged ``tag``, each worth
``points``". The rule's points are a condition on the candidates, not an override: only
bank questions worth exactly ``points`` are drawn, so every attempt of a quiz has the same
maximum score and a drawn question is graded exactly like a fixed one.

Categories are paths (``"Geography/Capitals"``): ``normalise_category`` trims each
segment, drops empty ones and Moodle's context prefix (``$course$/top/...``). A rule's
category matches a question's category when it is the same path or a prefix of it on
whole segments, ignoring case ("Geography" matches "geography/Capitals", not
"Geographyx").

Several rules may overlap (one question may match two rules): ``assign`` picks distinct
questions for every rule whenever that is possible at all (a maximum bipartite matching
of the rules' slots to questions), trying candidates in the order each rule's generator
gives them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

MAX_DRAWS = 10  # rules per quiz
MAX_DRAW_COUNT = 50  # questions per rule
MAX_DRAWN = 200  # questions drawn per attempt, all rules together
CATEGORY_CHARS = 255
_CONTEXTS = ("$course$", "$system$", "$module$", "$coursecategory$", "$cat1$", "$cat2$")


@dataclass(frozen=True, slots=True)
class DrawRule:
    """One random draw of a quiz (``id`` None until stored)."""

    count: int
    points: float = 1.0
    category: str | None = None
    tag: str | None = None
    id: str | None = None

    def describe(self) -> str:
        """The rule in words, for its owner's messages."""
        where = [f"category {self.category!r}" if self.category else "any category"]
        if self.tag:
            where.append(f"tagged {self.tag!r}")
        return f"{self.count} question(s) worth {self.points:g} from {' '.join(where)}"


def normalise_category(category: str | None) -> str | None:
    """The category as the bank stores it: segments trimmed, empty ones and Moodle's
    ``$course$/top`` prefix dropped; None when nothing is left."""
    if category is None:
        return None
    segments = [s.strip() for s in category.split("/")]
    segments = [s for s in segments if s]
    if segments and segments[0].lower() in _CONTEXTS:
        segments = segments[1:]
        if segments and segments[0].lower() == "top":
            segments = segments[1:]
    path = "/".join(segments)
    return path[:CATEGORY_CHARS] or None


def category_matches(rule_category: str | None, category: str | None) -> bool:
    """Whether a question filed under ``category`` falls in ``rule_category`` (None: any)."""
    wanted = normalise_category(rule_category)
    if wanted is None:
        return True
    have = normalise_category(category)
    if have is None:
        return False
    wanted, have = wanted.casefold(), have.casefold()
    return have == wanted or have.startswith(wanted + "/")


def rule_problems(rule: DrawRule) -> list[tuple[str, str]]:
    """What is wrong with a rule on its own, as (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    if not 1 <= rule.count <= MAX_DRAW_COUNT:
        problems.append(("count", f"must be 1..{MAX_DRAW_COUNT}"))
    if not 0 < rule.points <= 1000:
        problems.append(("points", "must be > 0 and at most 1000"))
    if normalise_category(rule.category) is None and not (rule.tag and rule.tag.strip()):
        problems.append(("category", "a draw needs a category, a tag or both"))
    return problems


def assign(
    candidates: Sequence[Sequence[str]],
    counts: Sequence[int],
    rngs: Sequence[random.Random | None] = (),
) -> list[list[str]] | None:
    """Distinct question ids for each rule: ``counts[i]`` of ``candidates[i]``.

    Each rule's candidates are sorted, then shuffled with ``rngs[i]`` (when given): the
    draw depends on the generator alone, not on the order the database returned. Returns
    None when no assignment exists (too few questions, counting overlaps once).
    """
    if len(candidates) != len(counts):
        raise ValueError("one count per rule")
    orders: list[list[str]] = []
    for index, ids in enumerate(candidates):
        order = sorted(set(ids))
        rng = rngs[index] if index < len(rngs) else None
        if rng is not None:
            rng.shuffle(order)
        orders.append(order)
    # The common impossible cases, without searching: a rule short on its own, or all
    # of them together short of distinct questions.
    if any(len(order) < n for order, n in zip(orders, counts, strict=True)):
        return None
    if sum(counts) > len({qid for order in orders for qid in order}):
        return None
    slots = [rule for rule, n in enumerate(counts) for _ in range(n)]
    owner: dict[str, int] = {}  # question id -> the slot holding it

    def place(slot: int, seen: set[str]) -> bool:
        # Kuhn's augmenting path: a free candidate, or one whose slot can move elsewhere.
        for qid in orders[slots[slot]]:
            if qid in seen:
                continue
            seen.add(qid)
            if qid not in owner or place(owner[qid], seen):
                owner[qid] = slot
                return True
        return False

    for slot in range(len(slots)):
        if not place(slot, set()):
            return None
    chosen: list[list[str]] = [[] for _ in counts]
    by_slot = {slot: qid for qid, slot in owner.items()}
    for slot in range(len(slots)):
        chosen[slots[slot]].append(by_slot[slot])
    return chosen
