"""Pure parts of the teacher pages: a question survives the trip through its form for
every type, and the chart geometry matches its numbers."""

from __future__ import annotations

import pytest

from quizplatform.domain.formats import read_quiz
from quizplatform.domain.questions import Question
from quizplatform.web import charts
from quizplatform.web.question_forms import QuestionForm
from tests.web.test_import_page import FIXTURE

QUESTIONS = read_quiz("gift", FIXTURE.read_text()).quiz.questions


def _with_ids(q: Question, n: int) -> Question:
    q.id = f"q{n}"
    for i, o in enumerate(q.options):
        o.id = f"q{n}o{i}"
    for i, p in enumerate(q.pairs):
        p.id, p.right_id = f"q{n}p{i}", f"q{n}r{i}"
    for i, item in enumerate(q.items):
        item.id = f"q{n}i{i}"
    return q


@pytest.mark.parametrize(
    "question", QUESTIONS, ids=[f"{q.type.value}-{n}" for n, q in enumerate(QUESTIONS)]
)
def test_a_question_comes_back_unchanged_from_its_form(question: Question) -> None:
    """Everything the GIFT reader produces (partial credit, feedback, ranges, html,
    categories) is shown in the form and saved back as it was."""
    original = _with_ids(question, 1)
    form = QuestionForm.from_question(original)
    assert len(form.rows) == len(form.kept_rows()) + (1 if form.spec else 0), "one empty row"
    back, errors = form.to_question(original.id)
    assert not errors, errors
    assert back == original


def test_the_gift_fixture_covers_every_type() -> None:
    assert {q.type.value for q in QUESTIONS} >= {
        "single_choice",
        "multiple_choice",
        "true_false",
        "short_answer",
        "numeric",
        "matching",
        "essay",
        "description",
    }


def test_histogram_bins_hold_their_lower_bound_and_the_last_holds_100() -> None:
    counts = charts.histogram_counts([0, 9.99, 10, 55, 99.9, 100, 100])
    assert counts == [2, 1, 0, 0, 0, 1, 0, 0, 0, 3]
    assert charts.bin_label(9) == "90\u2013100 %"


def test_histogram_bar_heights_are_proportional_to_the_counts() -> None:
    chart = charts.histogram([1, 0, 4, 2, 0, 0, 0, 0, 0, 3])
    plot = chart.plot_bottom - chart.plot_top
    tallest = max(b.height for b in chart.bars)
    assert tallest <= plot
    heights = [b.height for b in chart.bars]
    assert heights[2] == pytest.approx(4 * heights[0], abs=0.02)
    assert heights[9] == pytest.approx(3 * heights[0], abs=0.02)
    assert [b.value_text for b in chart.bars] == ["1", "", "4", "2", "", "", "", "", "", "3"]
    assert all(b.y + b.height == pytest.approx(chart.plot_bottom) for b in chart.bars)
    assert [t.label for t in chart.ticks] == ["0", "1", "2", "3", "4"]
    assert [e.label for e in chart.edges] == ["0", "20", "40", "60", "80", "100"]


def test_horizontal_bars_grow_from_zero_both_ways() -> None:
    chart = charts.horizontal_bars(
        [("Q1", 0.5, "0.50", ""), ("Q2", -0.25, "-0.25", ""), ("Q3", None, "n/a", "")],
        low=-1.0,
        high=1.0,
        step=0.5,
    )
    q1, q2, q3 = chart.bars
    half = (chart.plot_right - chart.plot_left) / 2
    assert chart.zero == pytest.approx(chart.plot_left + half)
    assert (q1.x, q1.width) == (pytest.approx(chart.zero), pytest.approx(half / 2))
    assert q2.kind == "negative" and q2.x + q2.width == pytest.approx(chart.zero)
    assert q2.width == pytest.approx(half / 4)
    assert q3.kind == "empty" and q3.width == 0
    assert [t.label for t in chart.ticks] == ["-1", "-0.5", "0", "0.5", "1"]


@pytest.mark.parametrize(("top", "step"), [(1, 0.2), (4, 1), (7, 2), (12, 5), (60, 20), (0.8, 0.2)])
def test_nice_steps(top: float, step: float) -> None:
    assert charts.nice_step(top) == pytest.approx(step)
