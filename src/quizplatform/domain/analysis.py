"""Item analysis for the teacher's report (pure: no I/O).

For each question of a quiz, over the submitted attempts:

- ``facility``: mean item score / max score (0 = nobody scored, 1 = everybody full);
- ``discrimination``: the point-biserial (Pearson) correlation between the item score
  and the rest-of-test score (the attempt's total minus that item), so that an item
  does not correlate with itself; None below ``MIN_ATTEMPTS_FOR_DISCRIMINATION``
  attempts or when either score does not vary;
- for choice questions, how many attempts chose each option.

A question drawn at random from a bank (``QuestionInfo.drawn``) is analysed over the
attempts that saw it (``AttemptItems.seen``) only, and an attempt's total and maximum
count the drawn questions it saw: every figure of a drawn question compares the students
who had it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

MIN_ATTEMPTS_FOR_DISCRIMINATION = 5
_DECIMALS = 4
_SCORE_DECIMALS = 6


@dataclass(frozen=True)
class QuestionInfo:
    """A question as the analysis needs it.

    ``option_ids`` lists a choice question's options in display order (empty for
    other types); every one of them appears in the counts, chosen or not.
    """

    id: str
    max_score: float
    option_ids: Sequence[str] = ()
    drawn: bool = False  # shown to some attempts only (``AttemptItems.seen``)


@dataclass(frozen=True)
class AttemptItems:
    """One submitted attempt.

    ``scores`` maps question id to the item score (a question missing counts 0);
    ``choices`` maps a choice question's id to the option ids chosen in this attempt.
    """

    scores: Mapping[str, float]
    choices: Mapping[str, Collection[str]] = field(default_factory=dict)
    seen: Collection[str] = frozenset()  # the drawn questions this attempt showed
    # Every question this attempt showed, when not all of the quiz's (a live game skips
    # the types it cannot play): then the others count neither 0 nor in its maximum.
    only: Collection[str] | None = None


@dataclass(frozen=True)
class OptionCount:
    """How many attempts chose the option ``id``."""

    id: str
    chosen: int


@dataclass(frozen=True)
class QuestionAnalysis:
    """The analysis of one question; floats are rounded to 4 places."""

    question_id: str
    max_score: float
    mean_score: float | None
    facility: float | None
    discrimination: float | None
    options: list[OptionCount]
    attempts: int = 0  # how many attempts saw the question (all, unless drawn)


@dataclass(frozen=True)
class QuizAnalysis:
    """The analysis of a quiz: ``mean_percent`` (0..100, 2 places) and each question."""

    attempts: int
    mean_percent: float | None
    questions: list[QuestionAnalysis]


def analyse(questions: Sequence[QuestionInfo], attempts: Sequence[AttemptItems]) -> QuizAnalysis:
    """Analyse ``attempts`` of a quiz made of ``questions`` (in report order).

    An attempt's total is the sum of its scores for ``questions``; scores for other
    question ids, and chosen ids that are not options of the question, are ignored.
    ``mean_percent`` is the mean of the attempts' percentages (None without attempts
    or when the quiz is worth 0 points).
    """
    seen = [
        {
            q.id
            for q in questions
            if (not q.drawn or q.id in a.seen) and (a.only is None or q.id in a.only)
        }
        for a in attempts
    ]
    # Scores are rounded to 6 places (as scoring does) so that float residue of sums
    # and differences cannot pass for variation.
    rows = [
        {q.id: _round(a.scores.get(q.id, 0.0)) for q in questions if q.id in shown}
        for a, shown in zip(attempts, seen, strict=True)
    ]
    totals = [math.fsum(row.values()) for row in rows]
    maxima = [math.fsum(q.max_score for q in questions if q.id in shown) for shown in seen]

    mean_percent: float | None = None
    percents = [t / m * 100 for t, m in zip(totals, maxima, strict=True) if m > 0]
    if percents:
        mean_percent = round(_mean(percents), 2)

    analysed = []
    for q in questions:
        who = [i for i, row in enumerate(rows) if q.id in row]
        items = [rows[i][q.id] for i in who]
        rests = [_round(totals[i] - x) for i, x in zip(who, items, strict=True)]
        mean = _mean(items) if items else None
        facility = None
        if mean is not None and q.max_score > 0:
            facility = round(mean / q.max_score, _DECIMALS)
        analysed.append(
            QuestionAnalysis(
                question_id=q.id,
                max_score=q.max_score,
                mean_score=None if mean is None else round(mean, _DECIMALS),
                facility=facility,
                discrimination=_discrimination(items, rests),
                options=_option_counts(q, [attempts[i] for i in who]),
                attempts=len(who),
            )
        )
    return QuizAnalysis(attempts=len(attempts), mean_percent=mean_percent, questions=analysed)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation of two equally long samples.

    None when there are fewer than two pairs or either sample does not vary (values
    all equal); the result is clamped to -1..1 against rounding.
    """
    if len(xs) != len(ys):
        raise ValueError("the samples must have the same length")
    if len(xs) < 2 or _constant(xs) or _constant(ys):
        return None
    mx, my = _mean(xs), _mean(ys)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _discrimination(items: Sequence[float], rests: Sequence[float]) -> float | None:
    if len(items) < MIN_ATTEMPTS_FOR_DISCRIMINATION:
        return None
    r = pearson(items, rests)
    return None if r is None else round(r, _DECIMALS)


def _option_counts(q: QuestionInfo, attempts: Sequence[AttemptItems]) -> list[OptionCount]:
    counts = dict.fromkeys(q.option_ids, 0)
    for attempt in attempts:
        for option_id in set(attempt.choices.get(q.id, ())):
            if option_id in counts:
                counts[option_id] += 1
    return [OptionCount(id=option_id, chosen=n) for option_id, n in counts.items()]


def _mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def _constant(xs: Sequence[float]) -> bool:
    # Compare values, not the variance: rounded scores like 0.1 leave float residue.
    return max(xs) == min(xs)


def _round(x: float) -> float:
    return round(float(x), _SCORE_DECIMALS)
