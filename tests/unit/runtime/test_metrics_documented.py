"""Every metric family the app exports is documented in docs/operations.md."""

from __future__ import annotations

from pathlib import Path

from quizplatform.runtime.metrics import Metrics

DOCS = Path(__file__).parents[3] / "docs" / "operations.md"
# The client library's own collectors, documented as a group (process_*, python_*).
LIBRARY_PREFIXES = ("process_", "python_")


def test_every_metric_family_is_in_the_operations_docs() -> None:
    text = DOCS.read_text()
    names = {
        metric.name
        for metric in Metrics("0", "c", "test").registry.collect()
        if not metric.name.startswith(LIBRARY_PREFIXES)
    }
    assert len(names) >= 25
    missing = sorted(n for n in names if f"`{n}" not in text)
    assert missing == [], f"document these in {DOCS.name}: {missing}"
