"""bench/exam_stats.py: the exam-day scenario's pure helpers (percentiles, lost answers,
chart buckets, targets, the summary line). bench/ is not a package: the file is loaded
by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).resolve().parents[3] / "bench" / "exam_stats.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("exam_stats", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["exam_stats"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


st = _load()


def test_percentiles_interpolate_and_handle_edges() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert st.percentile(values, 50) == pytest.approx(50.5)
    assert st.percentile(values, 95) == pytest.approx(95.05)
    assert st.percentile(values, 100) == 100.0
    assert st.percentile([7.0], 99) == 7.0
    assert st.percentile([], 50) is None
    with pytest.raises(ValueError):
        st.percentile(values, 101)


def test_latencies_count_only_successful_requests() -> None:
    events = [
        st.Event(0.0, "save", 10.0, "200"),
        st.Event(1.0, "save", 20.0, "200"),
        st.Event(2.0, "save", 5000.0, "500"),
        st.Event(3.0, "save", 30000.0, "timeout"),
    ]
    lat = st.latencies_by_kind(events)
    assert lat["save"]["count"] == 2 and lat["save"]["max_ms"] == 20.0
    assert lat["submit"] == {
        "count": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }
    assert st.errors_by_kind(events) == {"save 500": 1, "save timeout": 1}


def test_an_acknowledged_answer_that_is_missing_or_different_is_lost() -> None:
    acked = {
        ("a1", "q1"): {"option_id": "o1"},
        ("a1", "q2"): {"option_ids": ["o2", "o3"]},
        ("a2", "q1"): {"option_id": "o4"},
    }
    stored = {
        ("a1", "q1"): {"option_id": "o1"},
        ("a1", "q2"): {"option_ids": ["o3", "o2"]},  # not as sent
        ("a3", "q9"): {"option_id": "x"},  # stored but never acknowledged: not counted
    }
    lost = st.compare_answers(acked, stored)
    assert (lost.checked, lost.missing, lost.different, lost.lost) == (3, 1, 1, 2)
    assert {e["problem"] for e in lost.examples} == {"missing", "different"}
    assert st.compare_answers(acked, dict(acked)).lost == 0


def test_buckets_have_rates_errors_and_per_kind_percentiles() -> None:
    events = [
        st.Event(0.5, "save", 10.0, "200"),
        st.Event(4.9, "save", 30.0, "200"),
        st.Event(1.0, "submit", 100.0, "429"),
        st.Event(12.0, "start", 50.0, "201"),
    ]
    rows = st.buckets(events, width=5.0)
    assert [r["t"] for r in rows] == [0.0, 5.0, 10.0]  # the empty middle bucket is kept
    assert rows[0]["rps"] == pytest.approx(0.6) and rows[0]["errors"] == 1
    assert rows[0]["save_p50_ms"] == pytest.approx(20.0) and rows[0]["save_n"] == 2
    assert rows[0]["submit_p95_ms"] is None
    assert rows[1]["rps"] == 0 and rows[1]["save_p95_ms"] is None
    assert rows[2]["start_p50_ms"] == 50.0
    assert st.buckets([]) == []


def _result(**changes: object) -> dict[str, object]:
    result: dict[str, object] = {
        "students": 600,
        "instances": 1,
        "errors": 0,
        "lost_answers": 0,
        "answers_acknowledged": 8399,
        "p95_login_ms": 900.0,
        "p95_start_ms": 20.0,
        "p95_save_ms": 15.3,
        "p95_submit_ms": 14.4,
        "auto_submit": {"attempts": 60, "closed": 60, "delay_max_s": 3.1},
    }
    return result | changes


def test_summary_line_says_met_or_what_was_missed() -> None:
    line = st.summary_line(_result())
    assert line.startswith("exam: 600 students, 1 instance, 0 errors, 0 lost answers of 8,399")
    assert "save p95 15.3 ms" in line and "auto-submit 60/60 closed" in line
    assert line.endswith(": met")
    missed = st.summary_line(_result(lost_answers=1, p95_save_ms=150.0, instances=2))
    assert "2 instances" in missed
    assert missed.endswith("missed: 0 lost, save p95 < 100 ms")
    assert "missed: 0 errors" in st.summary_line(_result(errors=3))
    assert "save p95 n/a" in st.summary_line(_result(p95_save_ms=None))
