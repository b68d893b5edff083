"""Item analysis for the teacher's report (pure: no I/O).

For each question of a quiz, over the submitted attempts:

- ``facility``: mean item score / max score (0 = nobody scored, 1 = everybody full);
- ``discrimination``: the point-biserial (Pearson) correlation between the item score
  and the rest-of-test score (the attempt's total minus that item), so that an item
  does not correlate with itself; None below ``MIN_ATTEMPTS_FOR_DISCRIMINATION``
  attempts or when either score does not vary;
- for choice questions, how many attempts chose each option.
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


@dataclass(frozen=True)
class AttemptItems:
    """One submitted attempt.

    ``scores`` maps question id to the item score (a question missing counts 0);
    ``choices`` maps a choice question's id to the option ids chosen in this attempt.
    """

    scores: Mapping[str, float]
    choices: Mapping[str, Collection[str]] = field(default_factory=dict)


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
    ids = [q.id for q in questions]
    # Scores are rounded to 6 places (as scoring does) so that float residue of sums
    # and differences cannot pass for variation.
    rows = [[_round(a.scores.get(qid, 0.0)) for qid in ids] for a in attempts]
    totals = [math.fsum(row) for row in rows]
    quiz_max = math.fsum(q.max_score for q in questions)

    mean_percent: float | None = None
    if rows and quiz_max > 0:
        mean_percent = round(_mean([t / quiz_max * 100 for t in totals]), 2)

    analysed = []
    for column, q in enumerate(questions):
        items = [row[column] for row in rows]
        rests = [_round(t - x) for t, x in zip(totals, items, strict=True)]
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
                options=_option_counts(q, attempts),
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
