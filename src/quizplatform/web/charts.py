"""Bar charts as plain geometry for inline SVG (``templates/macros/charts.html``).

The server computes every rectangle, so the page needs no script and the chart is the
same in every browser; colours come from app.css classes. Each chart also gets a table
of the same numbers on the page (a chart alone is not accessible).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str  # the category (below or beside the bar)
    value_text: str  # the number written at the end of the bar
    x: float
    y: float
    width: float
    height: float
    negative: bool = False


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    # Horizontal charts: where labels end and bars start, and the zero line.
    label_width: float = 0.0
    zero_x: float | None = None
    baseline_y: float | None = None


def score_histogram(percents: Sequence[float], bins: int = 10) -> list[tuple[str, int]]:
    """Counts of scores per band of ``100 / bins`` percent: ``[("0-9", 2), ...]``; 100 %
    falls in the last band."""
    size = 100 / bins
    counts = [0] * bins
    for percent in percents:
        index = min(bins - 1, max(0, int(percent // size)))
        counts[index] += 1
    labels = []
    for i in range(bins):
        low, high = round(i * size), round((i + 1) * size) - (1 if i < bins - 1 else 0)
        labels.append(f"{low}\N{EN DASH}{high}")
    return list(zip(labels, counts, strict=True))


def column_chart(
    items: Sequence[tuple[str, float]], *, width: int = 640, height: int = 220
) -> Chart:
    """Vertical bars (the histogram), scaled to the largest value."""
    top, bottom, gap = 24.0, 28.0, 6.0
    plot = height - top - bottom
    largest = max((v for _, v in items), default=0) or 1
    slot = width / max(1, len(items))
    bars = []
    for index, (label, value) in enumerate(items):
        bar_height = plot * value / largest
        bars.append(
            Bar(
                label=label,
                value_text=_number(value),
                x=round(index * slot + gap / 2, 2),
                y=round(top + plot - bar_height, 2),
                width=round(slot - gap, 2),
                height=round(bar_height, 2),
            )
        )
    return Chart(width, height, bars, baseline_y=top + plot)


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    low: float = 0.0,
    high: float = 1.0,
    width: int = 640,
    row: int = 30,
    label_width: int = 150,
) -> Chart:
    """Horizontal bars between ``low`` and ``high`` (``low`` < 0 draws a zero line:
    discrimination runs from -1 to 1). ``None`` values get no bar and the text "n/a"."""
    value_space = 56.0
    plot = width - label_width - value_space
    zero = label_width + plot * (0 - low) / (high - low)
    bars = []
    for index, (label, value) in enumerate(items):
        y = index * row + 4
        if value is None:
            bars.append(Bar(label, "n/a", zero, y, 0.0, row - 10))
            continue
        clamped = max(low, min(high, value))
        end = label_width + plot * (clamped - low) / (high - low)
        start, stop = sorted((zero, end))
        bars.append(
            Bar(
                label=label,
                value_text=_number(value, 2),
                x=round(start, 2),
                y=y,
                width=round(stop - start, 2),
                height=row - 10,
                negative=value < 0,
            )
        )
    height = max(row, row * len(items)) + 4
    return Chart(
        width,
        height,
        bars,
        label_width=label_width,
        zero_x=round(zero, 2) if low < 0 else None,
    )


def _number(value: float, digits: int = 0) -> str:
    rounded = round(float(value), digits)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.{digits}f}"
