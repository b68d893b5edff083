"""``quiz capacity``: instances, cores, connections, Redis memory and cost for N students,
from the figures ``make bench`` measured on this machine (ops/capacity.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quizplatform.ops.autoscaler import Policy
from quizplatform.ops.capacity import (
    CapacityInputError,
    Deployment,
    Plan,
    Workload,
    plan,
)
from quizplatform.ops.capacity_inputs import load_measurements
from quizplatform.runtime.settings import Settings

console = Console()
err = Console(stderr=True)


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


def capacity(
    students: Annotated[int, typer.Option(help="Students in total.")],
    online_share: Annotated[
        float, typer.Option(help="Share online at the peak (1 = everyone sits at once).")
    ] = Workload.online_share,
    questions: Annotated[int, typer.Option(help="Questions per exam.")] = Workload.questions,
    autosave_seconds: Annotated[
        float, typer.Option(help="Seconds between autosaves; 0 = a save with every answer.")
    ] = Workload.autosave_seconds,
    exam_minutes: Annotated[float, typer.Option(help="Exam length.")] = Workload.exam_minutes,
    start_window_minutes: Annotated[
        float, typer.Option(help="Minutes in which everyone signs in and starts.")
    ] = Workload.start_window_minutes,
    submit_window_seconds: Annotated[
        float, typer.Option(help="Seconds in which everyone submits at the deadline.")
    ] = Workload.submit_window_seconds,
    headroom: Annotated[
        float, typer.Option(help="Multiplier on the peak (load tests at twice the load).")
    ] = Workload.headroom,
    target_utilisation: Annotated[
        float, typer.Option(help="Highest share of a core each component may be busy.")
    ] = Workload.target_utilisation,
    price_per_core_hour: Annotated[
        float, typer.Option(help="Price of one core for one hour (any currency).")
    ] = Workload.price_per_core_hour,
    peak_hours: Annotated[
        float, typer.Option(help="Hours a month the extra (scaled) instances run.")
    ] = Workload.peak_hours_per_month,
    pool_size: Annotated[
        int, typer.Option(help="db_pool_size per instance (the app's default).")
    ] = _default("db_pool_size"),
    max_overflow: Annotated[
        int, typer.Option(help="db_max_overflow per instance (the app's default).")
    ] = _default("db_max_overflow"),
    max_connections: Annotated[
        int, typer.Option(help="PostgreSQL max_connections (the deploy configs' 200).")
    ] = Deployment.max_connections,
    cpu_slots: Annotated[
        int, typer.Option(help="cpu_slots per instance (the app's default).")
    ] = _default("cpu_slots"),
    bench_dir: Annotated[Path, typer.Option(help="Where `make bench` wrote latest.json.")] = Path(
        "var/bench"
    ),
    stack_results: Annotated[
        Path, typer.Option(help="Where `make bench-stack` wrote stack-*.json (optional).")
    ] = Path("bench/results"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Plan instances, cores, connections, Redis memory and cost for an exam workload.

    Exit 2 when the measurements are missing or unusable, or an input is out of range."""
    workload = Workload(
        students=students,
        online_share=online_share,
        questions=questions,
        autosave_seconds=autosave_seconds,
        exam_minutes=exam_minutes,
        start_window_minutes=start_window_minutes,
        submit_window_seconds=submit_window_seconds,
        headroom=headroom,
        target_utilisation=target_utilisation,
        price_per_core_hour=price_per_core_hour,
        peak_hours_per_month=peak_hours,
    )
    policy = Policy()
    deployment = Deployment(
        pool_size=pool_size,
        max_overflow=max_overflow,
        max_connections=max_connections,
        min_instances=policy.min_instances,
        max_instances=policy.max_instances,
        cpu_slots=cpu_slots,
    )
    try:
        workload.check()
        result = plan(workload, load_measurements(bench_dir, stack_results), deployment)
    except CapacityInputError as exc:
        err.print(f"[red]quiz capacity:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(plan_dict(result), indent=2))
    else:
        print_plan(result)


def plan_dict(p: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data."""
    return {
        "workload": asdict(p.workload),
        "deployment": asdict(p.deployment) | {"other_connections": p.deployment.other_connections},
        "phases": [asdict(phase) for phase in p.phases],
        "peak": p.peak,
        "instances": p.instances,
        "cores": dict(p.cores),
        "total_cores": p.total_cores,
        "instance_ram_mb": p.instance_ram_mb,
        "connections": {
            "per_instance": p.connections_per_instance,
            "total": p.connections_total,
            "max_connections": p.deployment.max_connections,
            "fits": p.pool_fits,
            "pool_size_that_fits": p.pool_size_that_fits,
        },
        "redis": {"estimate_mb": p.redis_mb, "maxmemory_mb": p.redis_maxmemory_mb},
        "cost_per_month": {
            "always_on": p.cost_always_on,
            "scaled": p.cost_scaled,
            "always_on_per_1000_students": p.per_thousand(p.cost_always_on),
            "scaled_per_1000_students": p.per_thousand(p.cost_scaled),
        },
        "assumptions": list(p.assumptions),
        "sources": dict(p.sources),
        "warnings": list(p.warnings),
        "cross_checks": list(p.cross_checks),
    }


def print_plan(p: Plan) -> None:
    """Rich tables: the peaks, the resources, then assumptions and sources."""
    w = p.workload
    console.print(
        f"[bold]Capacity plan[/bold] for {w.students:,} students, "
        f"{w.online:,.0f} online at the peak"
    )
    peaks = Table("phase", "requests/s", "app cores", "PostgreSQL+Redis cores", "HAProxy cores")
    for phase in p.phases:
        rates = "\n".join(f"{route} {rate:,.1f}" for route, rate in phase.rates.items())
        mark = " (peak)" if phase.name == p.peak else ""
        peaks.add_row(
            phase.name + mark,
            rates,
            f"{phase.instance_cores:.2f}",
            f"{phase.backend_cores:.3f}",
            f"{phase.haproxy_cores:.3f}",
        )
    console.print(peaks)
    console.print(_resources(p))
    for title, lines in (
        ("warnings", p.warnings),
        ("cross-checks", p.cross_checks),
        ("assumptions", p.assumptions),
    ):
        if lines:
            style = "yellow" if title == "warnings" else "bold"
            console.print(f"[{style}]{title}[/{style}]")
            for line in lines:
                console.print(f"  - {line}", highlight=False)
    console.print("[bold]sources[/bold]")
    for figure, where in p.sources.items():
        console.print(f"  - {figure}: {where}", highlight=False)


def _resources(p: Plan) -> Table:
    table = Table("resource", "plan", title=f"sized for the {p.peak} peak x{p.workload.headroom:g}")
    table.add_row("app instances", f"{p.instances} (1 core, {p.instance_ram_mb:.0f} MB RAM each)")
    for component, cores in p.cores.items():
        table.add_row(f"cores: {component}", f"{cores:g}")
    table.add_row("cores: total", f"{p.total_cores:g}")
    fits = "fits" if p.pool_fits else "[red]does NOT fit[/red]"
    table.add_row(
        "database connections",
        f"{p.instances} x {p.connections_per_instance} + {p.deployment.other_connections} = "
        f"{p.connections_total} of max_connections {p.deployment.max_connections}: {fits}",
    )
    table.add_row(
        "Redis memory", f"~{p.redis_mb:.1f} MB; maxmemory {p.redis_maxmemory_mb:.0f} MB or more"
    )
    table.add_row(
        "cost / month, always on",
        f"{p.cost_always_on:,.2f} ({p.per_thousand(p.cost_always_on):,.2f} per 1,000 students)",
    )
    table.add_row(
        "cost / month, scaled",
        f"{p.cost_scaled:,.2f} ({p.per_thousand(p.cost_scaled):,.2f} per 1,000 students)",
    )
    return table
