"""Reading the measured figures for :mod:`quizplatform.ops.capacity` from their files.

Required: ``<bench dir>/latest.json`` (``make bench``). Used when present:
``<bench dir>/capacity-probe.json`` (bench/capacity_probe.py: sign-in CPU, Redis bytes per
key), ``<bench dir>/exam-latest.json`` and ``exam-stack-latest.json`` (the exam scenario),
and the newest ``stack-*.json`` of ``make bench-stack`` (HAProxy's CPU per request). A
missing or unusable ``latest.json`` raises :class:`CapacityInputError`; an unusable
optional file is skipped with a warning in the plan.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quizplatform.ops.capacity import (
    REQUIRED_ROUTES,
    CapacityInputError,
    ExamRun,
    Measurements,
    RouteCost,
    Source,
)

BUSY_BACKGROUND_PCT = 20.0  # others' load before a run above which figures are suspect


def load_measurements(bench_dir: Path, stack_results: Path | None = None) -> Measurements:
    """Every figure the planner uses, from ``bench_dir`` (and ``stack_results``)."""
    latest = bench_dir / "latest.json"
    data = _read(latest, hint="run `make bench` on this machine to measure it")
    source = _source(latest, data)
    routes, cpus, rss = _bench_figures(latest, data)
    notes = list(_bench_warnings(data))
    extra: dict[str, Any] = {}
    probe = bench_dir / "capacity-probe.json"
    if probe.exists():
        extra.update(_optional(probe, _probe_figures, notes) or {})
    exams = [
        exam
        for name in ("exam-latest.json", "exam-stack-latest.json")
        if (bench_dir / name).exists()
        and (exam := _optional(bench_dir / name, _exam_figures, notes)) is not None
    ]
    stack = _newest(stack_results, "stack-*.json") if stack_results else None
    if stack is not None:
        extra.update(_optional(stack, _stack_figures, notes) or {})
    return Measurements(
        routes=routes,
        instance_rss_mb=rss,
        cpus=cpus,
        source=source,
        exams=tuple(exams),
        warnings=tuple(notes),
        **extra,
    )


def _read(path: Path, hint: str) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CapacityInputError(f"{path} not found: {hint}") from None
    except OSError as exc:
        raise CapacityInputError(f"{path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CapacityInputError(f"{path} is not valid JSON ({exc}): {hint}") from None
    if not isinstance(data, dict):
        raise CapacityInputError(f"{path} is not a JSON object: {hint}")
    return data


def _optional(path: Path, reader: Any, notes: list[str]) -> Any:
    """``reader(path, data)``, or None with a note when the file is unusable."""
    try:
        return reader(path, _read(path, hint="skipped"))
    except CapacityInputError as exc:
        notes.append(f"ignored: {exc}")
        return None


def _source(path: Path, data: Mapping[str, Any]) -> Source:
    meta = _dict(data.get("meta"))
    return Source(str(path), str(meta.get("started_at", "?")), str(meta.get("commit", "?")))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CapacityInputError(
            f"{path} is not a usable `make bench` result: {where} is {value!r}, not a number "
            "(run `make bench` again)"
        )
    return float(value)


def _bench_figures(path: Path, data: Mapping[str, Any]) -> tuple[dict[str, RouteCost], int, float]:
    summary = data.get("summary")
    routes = summary.get("routes") if isinstance(summary, dict) else None
    if not isinstance(routes, dict):
        raise CapacityInputError(
            f"{path} is not a `make bench` result (no summary.routes): run `make bench`"
        )
    backend = _backend_ms(data)
    costs = {}
    for name in REQUIRED_ROUTES:
        route = routes.get(name)
        if not isinstance(route, dict):
            raise CapacityInputError(f"{path} has no summary.routes.{name}: run `make bench`")
        where = f"summary.routes.{name}"
        costs[name] = RouteCost(
            rps=_number(route.get("rps_median"), f"{where}.rps_median", path),
            p99_ms=_number(route.get("p99_ms_median"), f"{where}.p99_ms_median", path),
            instance_cpu_ms=_number(
                route.get("cpu_ms_per_request_median"), f"{where}.cpu_ms_per_request_median", path
            ),
            backend_cpu_ms=backend.get(name),
        )
    cpus = int(_number(_dict(data.get("meta")).get("cpus"), "meta.cpus", path))
    rss = _dict(summary).get("instance_rss_max_mb")
    return costs, cpus, _number(rss, "summary.instance_rss_max_mb", path)


def _backend_ms(data: Mapping[str, Any]) -> dict[str, float]:
    """PostgreSQL + Redis CPU ms per request by route, from the measured runs: the
    machine's busy cores minus the instance, the others' load before the run and wrk's
    share per request (the hello route has no database)."""
    runs = data.get("runs")
    cpus = _dict(data.get("meta")).get("cpus")
    if not isinstance(runs, list) or not isinstance(cpus, int) or cpus < 1:
        return {}
    per_route: dict[str, list[float]] = {}
    for run in runs:
        ms = _other_ms(run, cpus) if isinstance(run, dict) else None
        if ms is not None:
            per_route.setdefault(run["route"], []).append(ms)
    if "hello" not in per_route:
        return {}
    wrk = statistics.median(per_route["hello"])
    return {
        route: max(0.0, statistics.median(values) - wrk)
        for route, values in per_route.items()
        if route != "hello"
    }


def _other_ms(run: Any, cpus: int) -> float | None:
    """CPU ms per request of everything but the instance (and the background) in one run."""
    try:
        if run["round"] < 1:
            return None
        extra = run["extra"]
        others = (extra["machine_busy_pct"] - extra["background_busy_pct"]) / 100 * cpus
        others -= extra["server_cpu_pct"] / 100
        rate = extra.get("real_submits_per_s") or run["rps"]
        value = 1000 * others / rate
    except (KeyError, TypeError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def _bench_warnings(data: Mapping[str, Any]) -> list[str]:
    meta = _dict(data.get("meta"))
    routes = _dict(_dict(data.get("summary")).get("routes"))
    notes = []
    background = meta.get("background_busy_pct_median")
    if isinstance(background, int | float) and background > BUSY_BACKGROUND_PCT:
        notes.append(
            f"the machine was {background:.0f}% busy with other work during `make bench`: "
            "its CPU figures are noisy"
        )
    if _dict(routes.get("submit")).get("pool_ran_out"):
        notes.append("`make bench`'s submit pool ran out: the submit cost is understated")
    failing = [name for name, r in routes.items() if isinstance(r, dict) and r.get("errors")]
    if failing:
        notes.append(f"`make bench` saw errors on {', '.join(failing)}: figures may flatter")
    return notes


def _probe_figures(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    if data.get("kind") != "quiz-capacity-probe":
        raise CapacityInputError(f"{path} is not a bench/capacity_probe.py result")
    sizes = data.get("bytes_per_key")
    if not isinstance(sizes, dict) or not sizes:
        raise CapacityInputError(f"{path} has no bytes_per_key")
    return {
        "login_cpu_ms": _number(data.get("login_cpu_ms"), "login_cpu_ms", path),
        "login_wall_ms": _number(data.get("login_wall_ms"), "login_wall_ms", path),
        "redis_bytes": {str(k): _number(v, f"bytes_per_key.{k}", path) for k, v in sizes.items()},
        "probe_source": _source(path, data),
    }


def _exam_figures(path: Path, data: Mapping[str, Any]) -> ExamRun:
    body = _dict(data.get("summary")) or dict(data)

    def optional(key: str) -> float | None:
        value = body.get(key)
        return _number(value, key, path) if value is not None else None

    return ExamRun(
        source=_source(path, data),
        students=int(_number(body.get("students"), "students", path)),
        instances=int(_number(body.get("instances", 1), "instances", path)),
        errors=int(_number(body.get("errors", 0), "errors", path)),
        lost_answers=int(_number(body.get("lost_answers", 0), "lost_answers", path)),
        p95_save_ms=optional("p95_save_ms"),
        p95_submit_ms=optional("p95_submit_ms"),
    )


def _stack_figures(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        groups = data["summary"]["scenarios"]["tls1"]["cpu_ms_per_request_by_group_median"]
        haproxy = _number(groups["haproxy"], "tls1 haproxy CPU ms", path)
    except (KeyError, TypeError):
        raise CapacityInputError(
            f"{path} has no summary.scenarios.tls1 HAProxy CPU per request"
        ) from None
    return {"haproxy_cpu_ms": haproxy, "haproxy_source": _source(path, data)}


def _newest(directory: Path, pattern: str) -> Path | None:
    found = sorted(directory.glob(pattern)) if directory.is_dir() else []
    return found[-1] if found else None
