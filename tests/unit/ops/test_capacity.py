"""The capacity planner (ops/capacity.py) and the reading of its measured figures
(ops/capacity_inputs.py). The fixture data/bench-latest.json is a real short
``bench/run.py --duration 5 --rounds 1`` result from this machine."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from quizplatform.ops.capacity import (
    CapacityInputError,
    Deployment,
    Measurements,
    RouteCost,
    Source,
    Workload,
    plan,
)
from quizplatform.ops.capacity_inputs import load_measurements

DATA = Path(__file__).parent / "data"


def _measurements(submit_ms: float = 4.0, put_ms: float = 1.0) -> Measurements:
    routes = {
        "hello_mw": RouteCost(6000, 18, 0.15, 0.0),
        "get_quiz": RouteCost(8000, 25, 0.12, 0.01),
        "put_response": RouteCost(1000, 200, put_ms, 0.25),
        "submit": RouteCost(250, 800, submit_ms, 1.0),
    }
    source = Source("fixture.json", "2026-12-05T12:00:00+00:00", "abc1234")
    return Measurements(routes=routes, instance_rss_mb=140.0, cpus=2, source=source)


def _bench_dir(tmp_path: Path, edit: Any = None) -> Path:
    data = json.loads((DATA / "bench-latest.json").read_text())
    if edit is not None:
        edit(data)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "latest.json").write_text(json.dumps(data))
    return tmp_path


def test_instances_never_fall_as_students_grow() -> None:
    m = _measurements()
    counts = [plan(Workload(students=n), m).instances for n in (10, 1000, 10_000, 50_000, 200_000)]
    assert counts == sorted(counts)
    assert counts[0] == Deployment().min_instances  # the failover floor
    assert counts[-1] > counts[0]


def test_doubling_the_students_about_doubles_the_instances() -> None:
    m = _measurements()
    one = plan(Workload(students=100_000), m)
    two = plan(Workload(students=200_000), m)
    busiest = {p.name: p.instance_cores for p in one.phases}[one.peak]
    assert {p.name: p.instance_cores for p in two.phases}[two.peak] == pytest.approx(2 * busiest)
    assert 1.8 <= two.instances / one.instances <= 2.2
    assert two.redis_mb - 5 == pytest.approx(2 * (one.redis_mb - 5))


def test_connection_totals_are_checked_against_max_connections() -> None:
    m = _measurements()
    small = plan(Workload(students=1000), m)
    assert small.pool_fits and not any("max_connections" in w for w in small.warnings)
    big = plan(Workload(students=20_000, online_share=1.0), m, Deployment(max_instances=500))
    assert big.connections_total == big.instances * 20 + 28 > 200
    assert not big.pool_fits
    assert 1 <= big.pool_size_that_fits < 20
    assert big.pool_size_that_fits * big.instances + 28 <= 200
    assert any(f"lower db_pool_size to {big.pool_size_that_fits}" in w for w in big.warnings)
    huge = plan(Workload(students=200_000, online_share=1.0), m, Deployment(max_instances=500))
    assert huge.pool_size_that_fits == 0
    assert any("no pool size fits" in w and "pgbouncer" in w for w in huge.warnings)


def test_the_deadline_is_priced_with_the_measured_submit_cost() -> None:
    cheap = plan(Workload(students=20_000, online_share=1.0), _measurements(submit_ms=4))
    dear = plan(Workload(students=20_000, online_share=1.0), _measurements(submit_ms=40))
    deadline = [{p.name: p for p in x.phases}["deadline"] for x in (cheap, dear)]
    submits = 20_000 / 60
    assert deadline[1].instance_cores - deadline[0].instance_cores == pytest.approx(
        submits * 36 / 1000
    )
    assert dear.peak == "deadline" and dear.instances > cheap.instances


def test_autosave_on_every_answer_saves_once_per_question() -> None:
    w = Workload(students=6000, online_share=0.5, questions=30, exam_minutes=60, autosave_seconds=0)
    steady = {p.name: p for p in plan(w, _measurements()).phases}["steady"]
    assert steady.rates["put_response"] == pytest.approx(3000 * 30 / 3600)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"students": -5}, "--students"),
        ({"online_share": 1.5}, "--online-share"),
        ({"online_share": 0}, "--online-share"),
        ({"headroom": 0.5}, "--headroom"),
        ({"autosave_seconds": -1}, "--autosave-seconds"),
    ],
)
def test_bad_inputs_are_refused_by_name(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CapacityInputError, match=message):
        plan(replace(Workload(students=100), **change), _measurements())


def test_every_plan_states_its_assumptions_and_sources() -> None:
    p = plan(Workload(students=10_000), _measurements())
    text = " ".join(p.assumptions)
    for words in ("30% of the 10,000 students", "a save every 30 s", "headroom x2", "730 h"):
        assert words in text
    assert "fixture.json (2026-12-05T12:00:00+00:00, commit abc1234)" in p.sources.values()


def test_the_figures_come_from_the_file_given(tmp_path: Path) -> None:
    m = load_measurements(_bench_dir(tmp_path / "a"))
    sample = json.loads((DATA / "bench-latest.json").read_text())
    put = sample["summary"]["routes"]["put_response"]
    assert m.routes["put_response"].instance_cpu_ms == put["cpu_ms_per_request_median"]
    assert m.instance_rss_mb == sample["summary"]["instance_rss_max_mb"]
    assert m.source.commit == sample["meta"]["commit"]
    assert str(tmp_path / "a" / "latest.json") in m.source.path

    def dearer(data: dict[str, Any]) -> None:
        data["summary"]["routes"]["submit"]["cpu_ms_per_request_median"] *= 10

    w = Workload(students=10_000, online_share=1.0)
    base = plan(w, m)
    changed = plan(w, load_measurements(_bench_dir(tmp_path / "b", dearer)))
    deadline = [{p.name: p for p in x.phases}["deadline"] for x in (base, changed)]
    assert deadline[1].instance_cores > 5 * deadline[0].instance_cores


def test_database_cpu_is_derived_from_the_runs(tmp_path: Path) -> None:
    routes = load_measurements(_bench_dir(tmp_path)).routes
    put, read = routes["put_response"].backend_cpu_ms, routes["get_quiz"].backend_cpu_ms
    assert put is not None and read is not None
    assert 0 < read < put  # a cached read barely touches PostgreSQL; a save writes to it

    def no_runs(data: dict[str, Any]) -> None:
        del data["runs"]

    bare = load_measurements(_bench_dir(tmp_path / "bare", no_runs))
    assert bare.routes["put_response"].backend_cpu_ms is None
    assert any("as much again" in a for a in plan(Workload(students=10), bare).assumptions)


def test_a_missing_bench_file_says_to_run_make_bench(tmp_path: Path) -> None:
    with pytest.raises(CapacityInputError, match="not found: run `make bench`"):
        load_measurements(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"kind": "something else"}', "not a `make bench` result"),
        (
            '{"meta": {"cpus": 2}, "summary": {"routes": {"hello_mw": {}}}}',
            "summary.routes.hello_mw.rps_median",
        ),
    ],
)
def test_a_foreign_or_corrupt_bench_file_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "latest.json").write_text(content)
    with pytest.raises(CapacityInputError, match=message):
        load_measurements(tmp_path)


def test_nan_figures_are_refused(tmp_path: Path) -> None:
    def nan(data: dict[str, Any]) -> None:
        data["summary"]["routes"]["submit"]["cpu_ms_per_request_median"] = float("nan")

    with pytest.raises(CapacityInputError, match="cpu_ms_per_request_median is nan"):
        load_measurements(_bench_dir(tmp_path, nan))


def test_optional_files_are_used_or_skipped_with_a_warning(tmp_path: Path) -> None:
    bench = _bench_dir(tmp_path)
    exam = {"meta": {"started_at": "t", "commit": "c"}, "students": 500, "instances": 1}
    exam |= {"errors": 0, "lost_answers": 0, "p95_save_ms": 41.0, "p95_submit_ms": 180.0}
    (bench / "exam-latest.json").write_text(json.dumps(exam))
    (bench / "exam-stack-latest.json").write_text("{broken")
    shutil.copy(DATA / "bench-latest.json", bench / "capacity-probe.json")  # a foreign file
    m = load_measurements(bench)
    checks = plan(Workload(students=1000), m).cross_checks
    assert any("500 students on 1 instance(s): p95 save 41 ms" in c for c in checks)
    assert any("exam-stack-latest.json is not valid JSON" in w for w in m.warnings)
    assert any(
        "capacity-probe.json is not a bench/capacity_probe.py result" in w for w in m.warnings
    )
    assert m.probe_source is None


def test_the_start_and_deadline_windows_set_the_rates() -> None:
    m = replace(_measurements(), login_cpu_ms=100.0)
    w = Workload(students=12_000, online_share=0.5, start_window_minutes=10)
    start, _, deadline = plan(w, m).phases
    assert start.rates == {"login": 10.0, "get_quiz": pytest.approx(10 + 6000 * 20 / 3600),
                           "start_attempt": 10.0}  # fmt: skip
    # sign-in = argon2 + a middleware request; a start costs an answer save
    expected = 10 * (100 + 0.15) + start.rates["get_quiz"] * 0.12 + 10 * 1.0
    assert start.instance_cores == pytest.approx(expected / 1000)
    later = plan(replace(w, submit_window_seconds=120), m).phases[2]
    assert later.rates["submit"] == pytest.approx(deadline.rates["submit"] / 2) == 50


def test_slow_password_checks_size_the_instances_by_cpu_slots() -> None:
    m = replace(_measurements(), login_cpu_ms=0.0, login_wall_ms=1000.0)
    w = Workload(students=10_000, online_share=0.3)  # 10 sign-ins/s over 5 min
    assert plan(w, m, Deployment(cpu_slots=2)).instances == 10  # 10/s x 1 s x2 headroom / 2
    assert plan(w, m, Deployment(cpu_slots=4)).instances == 5


def test_more_instances_than_the_autoscaler_allows_is_a_warning() -> None:
    m = _measurements()
    within = plan(Workload(students=1000), m, Deployment(max_instances=10))
    assert not any("max_instances" in w for w in within.warnings)
    beyond = plan(Workload(students=10_000, online_share=1.0), m, Deployment(max_instances=3))
    assert beyond.instances > 3
    assert any("max_instances 3" in w and f"{beyond.peak} peak" in w for w in beyond.warnings)
