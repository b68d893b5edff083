"""The geometry of the report's bar charts; ``templates/pages/teacher/charts.html`` draws
them as inline SVG.

Hand-written rather than a charting library: the charts are three kinds of plain bars,
drawn on the server (no script, nothing for the CSP to allow), and a library would add
far more code and weight than these few functions. Coordinates are in the SVG's
viewBox units; colours come from CSS classes, so both colour schemes apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 400.0  # viewBox width of the histogram
ROWS_WIDTH = 340.0  # and of the horizontal bar charts (shown two abreast on a desktop)
ROW_HEIGHT = 26.0  # horizontal bar charts: one row per bar
BAR_THICKNESS = 16.0
HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value's text, and where it is drawn."""

    label: str
    value_text: str
    x: float
    y: float
    width: float
    height: float
    text_x: float  # where the value's text goes
    text_y: float
    kind: str = ""  # "", "negative", "key" (a correct option), "empty" (no value)


@dataclass(frozen=True)
class Tick:
    """A grid line with its label, at ``position`` along the value axis."""

    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A chart ready to draw: its size, bars, value-axis ticks and the plot's box."""

    width: float
    height: float
    bars: list[Bar]
    ticks: list[Tick]
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    horizontal: bool  # bars along x (one row each) or along y (a histogram)
    label_width: float = 0.0
    zero: float = 0.0  # where the value axis is 0
    # A histogram's category axis: the edges of its ranges, labelled.
    edges: list[Tick] = field(default_factory=list)


def histogram_counts(percents: Sequence[float], bins: int = HISTOGRAM_BINS) -> list[int]:
    """How many scores fall in each of ``bins`` equal ranges of 0..100 %; each range
    holds its lower bound, the last one also 100 %."""
    counts = [0] * bins
    width = 100 / bins
    for p in percents:
        index = min(bins - 1, max(0, math.floor(p / width)))
        counts[index] += 1
    return counts


def bin_label(index: int, bins: int = HISTOGRAM_BINS) -> str:
    """``0`` -> ``0-10 %`` with an en dash (the last bin includes 100 %)."""
    width = 100 // bins
    return f"{index * width}\u2013{(index + 1) * width} %"


def nice_step(maximum: float, max_ticks: int = 5) -> float:
    """A round step (1, 2 or 5 times a power of ten) that splits 0..``maximum`` into at
    most ``max_ticks`` intervals."""
    if maximum <= 0:
        return 1.0
    raw = maximum / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def histogram(counts: Sequence[int], *, height: float = 220.0) -> Chart:
    """Vertical bars of ``counts`` (one per score range), with count labels on top."""
    left, right, top, bottom = 34.0, WIDTH - 16.0, 18.0, height - 28.0
    top_value = max(max(counts, default=0), 1)
    step = max(1.0, nice_step(top_value))  # counts are whole numbers
    axis_max = math.ceil(top_value / step) * step
    plot_height = bottom - top
    slot = (right - left) / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        bar_height = plot_height * count / axis_max
        x = left + index * slot + slot * 0.1
        y = bottom - bar_height
        bars.append(
            Bar(
                label=bin_label(index, len(counts)),
                value_text=str(count) if count else "",
                x=round(x, 2),
                y=round(y, 2),
                width=round(slot * 0.8, 2),
                height=round(bar_height, 2),
                text_x=round(x + slot * 0.4, 2),
                text_y=round(y - 4, 2),
                kind="" if count else "empty",
            )
        )
    ticks = [
        Tick(round(bottom - plot_height * v / axis_max, 2), f"{v:g}")
        for v in _steps(0, axis_max, step)
    ]
    edges = [
        Tick(round(left + i * slot, 2), f"{i * 100 // max(len(counts), 1)}")
        for i in range(0, len(counts) + 1, 2)
    ]
    return Chart(
        WIDTH, height, bars, ticks, left, right, top, bottom, horizontal=False, edges=edges
    )


def horizontal_bars(
    rows: Sequence[tuple[str, float | None, str, str]],
    *,
    low: float = 0.0,
    high: float = 1.0,
    step: float = 0.25,
    label_width: float = 56.0,
    tick_format: str = "{:g}",
) -> Chart:
    """One horizontal bar per ``(label, value, value_text, kind)``, on an axis from
    ``low`` to ``high`` (a negative ``low`` puts 0 inside: bars grow left or right).
    A value of None draws no bar, only its text (such as "not enough attempts")."""
    value_width = 64.0
    left, right, top = label_width, ROWS_WIDTH - value_width, 6.0
    height = top + ROW_HEIGHT * max(len(rows), 1) + 22.0
    bottom = height - 22.0
    span = high - low

    def at(value: float) -> float:
        clamped = min(high, max(low, value))
        return left + (right - left) * (clamped - low) / span

    zero = at(0.0)
    bars = []
    for index, (label, value, text, kind) in enumerate(rows):
        y = top + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_THICKNESS) / 2
        if value is None:
            bars.append(Bar(label, text, zero, y, 0.0, BAR_THICKNESS, zero + 4, y + 12, "empty"))
            continue
        end = at(value)
        x, width = (end, zero - end) if value < 0 else (zero, end - zero)
        negative = value < 0
        bars.append(
            Bar(
                label=label,
                value_text=text,
                x=round(x, 2),
                y=round(y, 2),
                width=round(width, 2),
                height=BAR_THICKNESS,
                # The value's text sits just past the bar's end, outside the bar.
                text_x=round(x - 4 if negative else x + width + 4, 2),
                text_y=round(y + 12, 2),
                kind="negative" if negative else kind,
            )
        )
    ticks = [Tick(round(at(v), 2), tick_format.format(v)) for v in _steps(low, high, step)]
    return Chart(
        ROWS_WIDTH,
        height,
        bars,
        ticks,
        left,
        right,
        top,
        bottom,
        horizontal=True,
        label_width=label_width,
        zero=round(zero, 2),
    )


def _steps(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)
    return [round(low + i * step, 10) for i in range(count + 1)]
