#!/usr/bin/env python3
"""``make bench-stack``: the cached quiz read through the whole one-host stack.

What it does (details and how to read the output: bench/README.md, "make bench-stack"):

1. ``quiz stack up`` in a temporary directory on free ports (tests/e2e/stack_helpers'
   drill_config: autoscaler off, rate limits off, HAProxy checks every 500 ms), with ONE
   instance (min_instances=1);
2. seeds a teacher, a published quiz and a student through the front door; the measured
   request is ``GET /api/v1/quizzes/{id}`` with the student's token (the instance's
   in-process near cache answers it);
3. for 1, 2 and 4 instances (``Stack.scale_to``; scaling only happens between blocks):
   a short warm-up, then ``--rounds`` interleaved rounds of ``wrk -t1 -c64 -d10s
   --latency`` of three scenarios (order rotated every round):
   - ``ceiling``: HAProxy's own static 200 over TLS (``/_lb/ok``),
   - ``direct``: one instance (always the same one) without TLS or HAProxy,
   - ``tls<n>``: the quiz read through HAProxy/TLS with the block's n instances;
4. per run: requests/s, p99, errors (non-2xx + socket errors), the CPU time of the
   stack's serving processes (instances, HAProxy, the PostgreSQL members with
   their children, Redis) per request, and how busy the whole machine was;
5. prints a Markdown table and the target check (2 instances via TLS >= 1.4 x one
   instance direct) and writes everything to bench/results/stack-<timestamp>.json;
6. always ``quiz stack down`` and removes the stack's cluster data and temp directory.

Exits 0 whether the target passes or not (it is a report), 1 when the benchmark could
not run, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from run import BenchError, ensure_wrk, git_commit
from run import parse_wrk as parse_wrk_output

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGET_RATIO = 1.4  # 2 instances via TLS >= 1.4 x one instance direct
INSTANCE_COUNTS = (1, 2, 4)
# The stack's serving processes whose CPU time counts (monitoring, worker, supervisord
# and the alert receiver are left out: they do not serve the measured request).
GROUPS = ("instances", "haproxy", "postgres", "redis")
# Measured too, reported apart (JSON, log lines): supervisord's own CPU, which is mostly
# copying the instances' and HAProxy's stdout (access logs) into their log files.
SUPERVISORD = "supervisord"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# -- the stack ------------------------------------------------------------------------------
def quiz_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    from tests.e2e.stack_helpers import quiz_cli as run_quiz

    return run_quiz(*args, timeout=timeout)


def stack_up(
    directory: Path, instances: int = 1, instance_env: dict[str, str] | None = None
) -> None:
    """``quiz stack up`` with ``instances`` instances (autoscaler off); ``instance_env``
    is added to the drills' instance environment (rate limits off, diagnostic routes)."""
    from tests.e2e.stack_helpers import drill_config

    config = drill_config(
        instances=instances,
        min_instances=instances,
        autoscale=False,
        check_interval_ms=500,
        # Prometheus at the stack's default pace, not the drills' 1 s: less background work.
        scrape_interval="5s",
        evaluation_interval="5s",
    )
    config.instance_env = {**config.instance_env, **(instance_env or {})}
    given = {k: v for k, v in config.__dict__.items() if k != "env"}
    done = quiz_cli(
        "stack",
        "up",
        "--dir",
        str(directory),
        "--no-autoscale",
        "--instances",
        str(instances),
        "--https-port",
        str(config.https_port),
        "--http-port",
        str(config.http_port),
        "--config-json",
        json.dumps(given),
    )
    if done.returncode != 0:
        raise BenchError(f"quiz stack up failed:\n{done.stdout}\n{done.stderr}")


def stack_down(directory: Path) -> None:
    if not (directory / "stack.json").exists():
        return
    from quizplatform.ops.stack import Stack

    data_root = Stack(directory).config.data_root
    try:
        down = quiz_cli("stack", "down", "--dir", str(directory), timeout=180)
        log("quiz stack down: " + " / ".join(down.stdout.split("\n")).strip(" /"))
        if down.returncode != 0:
            log(f"quiz stack down failed: {down.stderr.strip()}")
    finally:
        if data_root:
            shutil.rmtree(data_root, ignore_errors=True)


def process_groups(stack: Any) -> dict[str, list[int]]:
    """Root PIDs of the processes whose CPU time counts, by group (children are added when
    the CPU time is read)."""
    status = stack.status()
    pids = {c["name"]: c["pid"] for c in status["components"]}
    groups: dict[str, list[int]] = {
        "instances": [i["pid"] for i in status["instances"] if i["pid"]],
        # Every member's postmaster (Patroni's own process is not in the request path).
        "postgres": [m["pid"] for m in status["database"]["members"] if m["pid"]],
        # The Redis data nodes (the sentinels only watch).
        "redis": [pids[n.name] for n in stack.redis.nodes if pids.get(n.name)],
    }
    for name in ("haproxy", SUPERVISORD):
        if not pids.get(name):
            raise BenchError(f"{name} is not running (stack status: {pids})")
        groups[name] = [pids[name]]
    empty = [name for name, roots in groups.items() if not roots]
    if empty:
        raise BenchError(f"not running: {', '.join(empty)} (stack status: {pids})")
    return groups


def own_cpu(pid: int) -> float:
    """CPU seconds of one process alone (not its children)."""
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds of the roots and all their descendants: user + system of every live
    process plus the reaped children's time (cutime/cstime), so a postgres backend that
    exits during a run still counts and nothing counts twice."""
    total = 0.0
    seen: set[int] = set()
    for root in roots:
        try:
            procs = [psutil.Process(root)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def cpu_by_group(groups: dict[str, list[int]]) -> dict[str, float]:
    return {
        name: own_cpu(roots[0]) if name == SUPERVISORD else tree_cpu(roots)
        for name, roots in groups.items()
    }


class MachineCpu:
    """Busy % of all CPUs between two calls (psutil.cpu_times deltas)."""

    def __init__(self) -> None:
        self.last = psutil.cpu_times()

    def busy_since_last(self) -> float:
        now = psutil.cpu_times()
        delta = {k: getattr(now, k) - getattr(self.last, k) for k in now._fields}
        self.last = now
        # guest time is already counted in user (Linux), so it is not added again
        total = sum(v for k, v in delta.items() if k not in ("guest", "guest_nice"))
        idle = delta.get("idle", 0.0) + delta.get("iowait", 0.0)
        return 100.0 * (total - idle) / total if total > 0 else 0.0


# HAProxy's counters ("show stat") read before and after every run: they say what the
# errors were (503 "no server available" while the health checks had the instances DOWN,
# 503s of the instances, connection errors, retries) without costing wrk anything.
_HAPROXY_COUNTERS = (
    "req_tot",
    "hrsp_2xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "chkfail",
    "chkdown",
    "downtime",
)


def haproxy_counters(stack: Any) -> dict[str, dict[str, Any]]:
    """Counters of the https frontend, the app backend and its servers in service."""
    import csv
    import io

    text = stack.haproxy.command("show stat").lstrip("# ")
    out: dict[str, dict[str, Any]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") == "https" and row.get("svname") == "FRONTEND":
            key = "frontend"
        elif row.get("pxname") == "app" and row.get("svname") == "BACKEND":
            key = "backend"
        elif row.get("pxname") == "app" and row.get("status") != "MAINT":
            key = f"server {row['svname']}"
        else:
            continue
        entry: dict[str, Any] = {
            k: int(row[k]) for k in _HAPROXY_COUNTERS if (row.get(k) or "").isdigit()
        }
        entry["status"] = row.get("status")
        entry["check_status"] = row.get("check_status")
        out[key] = entry
    return out


def counters_delta(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    delta: dict[str, dict[str, Any]] = {}
    for key, now in after.items():
        then = before.get(key, {})
        entry = {k: v - then.get(k, 0) for k, v in now.items() if isinstance(v, int)}
        entry = {k: v for k, v in entry.items() if v}
        entry["status"] = now.get("status")
        if now.get("check_status"):
            entry["check_status"] = now["check_status"]
        delta[key] = entry
    return delta


def explain_errors(run: Run) -> str:
    """What HAProxy saw during a run with errors, in a few words."""
    if not run.haproxy:
        return ""
    parts = []
    fe = run.haproxy.get("frontend", {})
    be = run.haproxy.get("backend", {})
    if fe.get("hrsp_5xx") or fe.get("hrsp_4xx"):
        parts.append(f"HAProxy answered {fe.get('hrsp_5xx', 0)} 5xx, {fe.get('hrsp_4xx', 0)} 4xx")
    servers_5xx = sum(
        v.get("hrsp_5xx", 0) for k, v in run.haproxy.items() if k.startswith("server ")
    )
    if servers_5xx:
        parts.append(f"{servers_5xx} of them came from the instances")
    if be.get("chkdown") or be.get("downtime"):
        parts.append(
            f"backend without any server UP {be.get('chkdown', 0)} time(s), "
            f"{be.get('downtime', 0)} s in all"
        )
    for key, value in run.haproxy.items():
        if key.startswith("server ") and (value.get("chkdown") or value.get("chkfail")):
            parts.append(
                f"{key[7:]}: {value.get('chkfail', 0)} failed health checks, "
                f"{value.get('chkdown', 0)} UP->DOWN, last check {value.get('check_status')}"
            )
    for field_name, what in (("econ", "connect errors"), ("eresp", "response errors")):
        if be.get(field_name):
            parts.append(f"{be[field_name]} {what} to instances")
    if be.get("wretr") or be.get("wredis"):
        parts.append(f"{be.get('wretr', 0)} retries, {be.get('wredis', 0)} redispatches")
    return "; ".join(parts)


# -- wrk --------------------------------------------------------------------------------------
def parse_wrk(output: str) -> dict[str, Any]:
    """The numbers of one wrk --latency run, in this benchmark's field names (the parsing
    itself is bench/run.py's)."""
    numbers = parse_wrk_output(output)
    return {
        "rps": numbers["rps"],
        "requests": numbers.get("requests", 0),
        "p50_ms": numbers.get("p50_ms"),
        "p99_ms": numbers.get("p99_ms"),
        "non_2xx": numbers["wrk_non2xx"],
        "socket_errors": numbers["socket_errors"],
    }


@dataclass
class Run:
    block: int  # instances in the stack during the run
    round: int  # 0: warm-up
    scenario: str
    url: str
    rps: float = 0.0
    requests: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    ok_rps: float = 0.0  # 2xx responses per second: wrk's req/s without the errors
    cpu_s: dict[str, float] = field(default_factory=dict)
    haproxy: dict[str, dict[str, Any]] = field(default_factory=dict)  # counter deltas
    error_detail: str = ""
    cpu_ms_per_request: float | None = None
    wrk_cpu_s: float = 0.0
    machine_busy_pct: float = 0.0
    machine_busy_before_pct: float = 0.0
    stack_cpu_pct_of_machine: float = 0.0
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


class Bench:
    def __init__(self, args: argparse.Namespace, wrk: str) -> None:
        self.args = args
        self.wrk = wrk
        self.runs: list[Run] = []
        self.machine = MachineCpu()
        self.wrk_proc: subprocess.Popen[str] | None = None

    def wrk_run(
        self, stack: Any, run: Run, seconds: int, token: str | None, groups: dict[str, list[int]]
    ) -> Run:
        args = [
            self.wrk,
            f"-t{self.args.threads}",
            f"-c{self.args.connections}",
            f"-d{seconds}s",
            "--latency",
        ]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        time.sleep(self.args.pause / 2)
        self.machine.busy_since_last()
        time.sleep(self.args.pause / 2)
        run.machine_busy_before_pct = self.machine.busy_since_last()
        lb_before = haproxy_counters(stack)
        cpu_before = cpu_by_group(groups)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        self.wrk_proc = subprocess.Popen(
            [*args, run.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            output, _ = self.wrk_proc.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"wrk did not finish within {seconds + 30} s") from exc
        finally:
            if self.wrk_proc.poll() is None:
                self.wrk_proc.kill()
                self.wrk_proc.wait(timeout=10)
        run.seconds = time.monotonic() - started
        cpu_after = cpu_by_group(groups)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run.machine_busy_pct = self.machine.busy_since_last()
        run.haproxy = counters_delta(lb_before, haproxy_counters(stack))
        if self.wrk_proc.returncode != 0:
            raise BenchError(f"wrk exited with {self.wrk_proc.returncode}:\n{output}")
        self.wrk_proc = None
        for key, value in parse_wrk(output).items():
            setattr(run, key, value)
        if run.requests:
            run.ok_rps = run.rps * max(0, run.requests - run.non_2xx) / run.requests
        if run.errors:
            run.error_detail = explain_errors(run)
        run.cpu_s = {k: round(cpu_after[k] - cpu_before[k], 3) for k in cpu_after}
        stack_cpu = sum(run.cpu_s.get(g, 0.0) for g in GROUPS)
        run.cpu_ms_per_request = 1000.0 * stack_cpu / run.requests if run.requests else None
        run.wrk_cpu_s = round(
            (children_after.ru_utime - children_before.ru_utime)
            + (children_after.ru_stime - children_before.ru_stime),
            3,
        )
        cpus = psutil.cpu_count() or 1
        run.stack_cpu_pct_of_machine = 100.0 * stack_cpu / (run.seconds * cpus)
        if run.round > 0:
            self.runs.append(run)
        label = "warm-up" if run.round == 0 else f"round {run.round}"
        log(
            f"{run.block} inst. {label:8} {run.scenario:8} {run.rps:9,.0f} req/s  "
            f"p99 {run.p99_ms or 0:7.1f} ms  errors {run.errors}  "
            f"CPU {run.cpu_ms_per_request or 0:.3f} ms/req "
            f"(+ supervisord {1000 * run.cpu_s.get(SUPERVISORD, 0) / max(run.requests, 1):.3f})  "
            f"machine {run.machine_busy_before_pct:3.0f}% before, "
            f"{run.machine_busy_pct:3.0f}% during (stack {run.stack_cpu_pct_of_machine:.0f}%, "
            f"wrk {100 * run.wrk_cpu_s / (run.seconds * cpus):.0f}%)"
        )
        if run.errors:
            log(f"  errors: {run.non_2xx} non-2xx, sockets {run.socket_errors}; {run.error_detail}")
        return run

    def kill_wrk(self) -> None:
        if self.wrk_proc is not None and self.wrk_proc.poll() is None:
            self.wrk_proc.kill()
            self.wrk_proc.wait(timeout=10)

    def measure(self, stack: Any, quiz_id: str, token: str) -> None:
        from quizplatform.ops.stack import Stack

        assert isinstance(stack, Stack)
        direct_instance = min(stack.active_instances(), key=lambda i: i.slot)
        urls = {
            "ceiling": f"{stack.url}/_lb/ok",
            "direct": f"http://127.0.0.1:{direct_instance.port}/api/v1/quizzes/{quiz_id}",
            "tls": f"{stack.url}/api/v1/quizzes/{quiz_id}",
        }
        tokens = {"ceiling": None, "direct": token, "tls": token}
        for count in INSTANCE_COUNTS:
            took = time.monotonic()
            stack.scale_to(count, reason="bench-stack")
            active = stack.active_instances()
            if len(active) != count:
                raise BenchError(f"asked for {count} instances, the stack has {len(active)}")
            stack.wait_lb_up(active, timeout=30)
            log(f"{count} instance(s) up and in rotation ({time.monotonic() - took:.1f} s)")
            groups = process_groups(stack)
            if len(groups["instances"]) != count:
                raise BenchError(f"expected {count} instance PIDs, got {groups['instances']}")
            # scenario name -> kind of request ("tls" with this block's instance count)
            kinds = {"ceiling": "ceiling", "direct": "direct", f"tls{count}": "tls"}
            names = list(kinds)
            if self.args.warmup:  # fills the new instances' near caches, opens connections
                for name in names[1:]:
                    run = Run(count, 0, name, urls[kinds[name]])
                    self.wrk_run(stack, run, self.args.warmup, tokens[kinds[name]], groups)
            for k in range(1, self.args.rounds + 1):
                shift = (k - 1) % len(names)  # rotate the order every round
                for name in names[shift:] + names[:shift]:
                    run = Run(count, k, name, urls[kinds[name]])
                    self.wrk_run(stack, run, self.args.duration, tokens[kinds[name]], groups)


# -- report -----------------------------------------------------------------------------------
LABELS = {
    "ceiling": "HAProxy static 200 over TLS (ceiling)",
    "direct": "1 instance direct, no TLS",
    "tls1": "via HAProxy/TLS, 1 instance",
    "tls2": "via HAProxy/TLS, 2 instances",
    "tls4": "via HAProxy/TLS, 4 instances",
}


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[Run]) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for name in LABELS:
        mine = [r for r in runs if r.scenario == name]
        if not mine:
            continue
        non_2xx = sum(r.non_2xx for r in mine)
        sockets: dict[str, int] = {}
        for r in mine:
            for k, v in r.socket_errors.items():
                sockets[k] = sockets.get(k, 0) + v
        scenarios[name] = {
            "label": LABELS[name],
            "runs": len(mine),
            "rps_median": median([r.ok_rps for r in mine]),  # 2xx responses per second
            "rps_per_run": [r.ok_rps for r in mine],
            "wrk_rps_median": median([r.rps for r in mine]),  # every response, errors too
            "p99_ms_median": median([r.p99_ms for r in mine if r.p99_ms is not None]),
            "p50_ms_median": median([r.p50_ms for r in mine if r.p50_ms is not None]),
            "cpu_ms_per_request_median": median(
                [r.cpu_ms_per_request for r in mine if r.cpu_ms_per_request is not None]
            ),
            "cpu_ms_per_request_by_group_median": {
                g: median([1000.0 * r.cpu_s.get(g, 0.0) / r.requests for r in mine if r.requests])
                for g in (*GROUPS, SUPERVISORD)
            },
            "machine_busy_pct_median": median([r.machine_busy_pct for r in mine]),
            "machine_busy_before_pct_median": median([r.machine_busy_before_pct for r in mine]),
            "stack_cpu_pct_of_machine_median": median([r.stack_cpu_pct_of_machine for r in mine]),
            "errors": non_2xx + sum(sockets.values()),
            "non_2xx": non_2xx,
            "socket_errors": sockets,
            "requests": sum(r.requests for r in mine),
            "error_details": [
                f"{r.block} instances, round {r.round}: {r.errors} errors; {r.error_detail}"
                for r in mine
                if r.errors
            ],
        }
    direct = scenarios.get("direct", {}).get("rps_median")
    for data in scenarios.values():
        data["x_direct"] = data["rps_median"] / direct if direct else None
    # The same comparison inside each block (direct measured next to that block's runs).
    per_block: dict[str, Any] = {}
    for count in INSTANCE_COUNTS:
        d = median([r.ok_rps for r in runs if r.block == count and r.scenario == "direct"])
        t = median([r.ok_rps for r in runs if r.block == count and r.scenario == f"tls{count}"])
        c = median([r.ok_rps for r in runs if r.block == count and r.scenario == "ceiling"])
        if d is not None and t is not None:
            per_block[str(count)] = {
                "direct_rps_median": d,
                "tls_rps_median": t,
                "ceiling_rps_median": c,
                "tls_x_direct": t / d if d else None,
            }
    # Two ratios: against the direct median of the whole run (the table's column) and
    # against the direct runs interleaved with the 2-instance runs (same conditions when
    # other work came or went between blocks). The target holds only if both do.
    tls2 = scenarios.get("tls2", {}).get("x_direct")
    same_block = per_block.get("2", {}).get("tls_x_direct")
    check = {
        "check": f"2 instances via TLS >= {TARGET_RATIO:g} x one instance direct",
        "ratio": tls2,
        "ratio_same_block": same_block,
        "target": TARGET_RATIO,
        "passed": all(r is not None and r >= TARGET_RATIO for r in (tls2, same_block)),
    }
    errors_total = sum(s["errors"] for s in scenarios.values())
    return {
        "scenarios": scenarios,
        "per_block": per_block,
        "checks": [
            check,
            {"check": "no errors", "errors": errors_total, "passed": errors_total == 0},
        ],
    }


def fmt(value: float | None, spec: str) -> str:
    return "?" if value is None else format(value, spec)


def markdown_table(summary: dict[str, Any]) -> str:
    lines = [
        "| scenario | req/s | \u00d7 one direct | p99 ms | CPU ms/req | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for data in summary["scenarios"].values():
        lines.append(
            f"| {data['label']} | {fmt(data['rps_median'], ',.0f')} | "
            f"{fmt(data['x_direct'], '.2f')} | {fmt(data['p99_ms_median'], '.1f')} | "
            f"{fmt(data['cpu_ms_per_request_median'], '.3f')} | {data['errors']} |"
        )
    return "\n".join(lines)


def check_line(summary: dict[str, Any]) -> str:
    c = summary["checks"][0]
    same = c["ratio_same_block"]
    return (
        f"{c['check']}: {'PASS' if c['passed'] else 'FAIL'} "
        f"(measured {fmt(c['ratio'], '.2f')}x; against the direct runs of the 2-instance "
        f"block only: {fmt(same, '.2f')}x)"
    )


def rounds_table(runs: list[Run]) -> str:
    lines = [
        "| instances | round | scenario | req/s | p99 ms | errors | CPU ms/req | "
        "stack CPU % | machine busy % (before) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.block} | {r.round} | {r.scenario} | {r.ok_rps:,.0f} | {fmt(r.p99_ms, '.1f')} | "
            f"{r.errors} | {fmt(r.cpu_ms_per_request, '.3f')} | "
            f"{r.stack_cpu_pct_of_machine:.0f} | {r.machine_busy_pct:.0f} "
            f"({r.machine_busy_before_pct:.0f}) |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per instance count (default 3)")
    p.add_argument(
        "--warmup", type=int, default=2, help="seconds of warm-up per block and route, 0: none"
    )
    p.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    p.add_argument("--threads", type=int, default=1, help="wrk -t (default 1)")
    p.add_argument("--pause", type=float, default=1.0, help="seconds before each run (default 1)")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON results (default bench/results/stack-<timestamp>.json)",
    )
    p.add_argument(
        "--keep-dir", action="store_true", help="keep the stack directory (logs) afterwards"
    )
    args = p.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or args.threads < 1:
        p.error("--duration, --rounds and --threads must be at least 1")
    if args.connections < args.threads:
        p.error("--connections must be at least --threads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.e2e.stack_helpers
    wrk = ensure_wrk()
    started_at = datetime.now(UTC)
    meta: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "commit": git_commit(),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "cpus": psutil.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "python": platform.python_version(),
    }
    received: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    work = Path(tempfile.mkdtemp(prefix="quiz-bench-stack-"))
    directory = work / "stack"
    bench = Bench(args, wrk)
    code = 0
    try:
        log(f"quiz stack up in {directory} (1 instance; takes ~30 s)")
        took = time.monotonic()
        stack_up(directory)
        from tests.e2e.stack_helpers import seed

        from quizplatform.ops.stack import Stack

        stack = Stack(directory)
        meta["stack_up_s"] = round(time.monotonic() - took, 1)
        meta["stack_url"] = stack.url
        meta["instance_env"] = stack.config.instance_env
        meta["cpu_nice"] = stack.config.cpu_nice
        log(f"stack up in {meta['stack_up_s']} s at {stack.url}; seeding")
        data = seed(stack)
        probe = quiz_read_status(stack.url, data.quiz_id, data.student_token)
        if probe != 200:
            raise BenchError(f"GET quiz as the student answered {probe}, not 200")
        meta["load_avg_before_runs"] = os.getloadavg()
        bench.measure(stack, data.quiz_id, data.student_token)
        meta["load_avg_at_end"] = os.getloadavg()
    except KeyboardInterrupt:
        print(f"interrupted ({', '.join(received) or 'SIGINT'})", file=sys.stderr)
        code = 130
    except Exception as exc:  # noqa: BLE001 - BenchError, OpsError, httpx, seed()'s asserts
        print(f"bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # finish cleaning up whatever arrives now
        bench.kill_wrk()
        try:
            stack_down(directory)
        except Exception as exc:  # noqa: BLE001 - report it, still remove what we can
            print(f"could not stop the stack in {directory}: {exc}", file=sys.stderr)
            code = code or 1
        if code == 1 or args.keep_dir:
            log(f"stack directory (logs) kept: {directory}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
    if code != 0 or not bench.runs:
        return code or 1

    summary = summarise(bench.runs)
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["machine_busy_before_pct_median"] = median([r.machine_busy_before_pct for r in bench.runs])
    table = markdown_table(summary)
    print()
    print(f"## make bench-stack, {meta['started_at']} (commit {meta['commit']})")
    print()
    print(table)
    print()
    print(check_line(summary))
    errors = summary["checks"][1]
    print(f"errors: {errors['errors']} ({'PASS' if errors['passed'] else 'FAIL'})")
    for name, data in summary["scenarios"].items():
        for detail in data["error_details"]:
            print(f"  {name}, {detail}")
    print()
    print(rounds_table(bench.runs))
    print()
    print(
        f"machine: {meta['cpus']} CPUs, load average {meta['load_avg_at_start'][0]:.2f} at "
        f"the start; median busy just before a run {meta['machine_busy_before_pct_median']:.0f}%"
    )
    output = args.output or RESULTS / f"stack-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    result = {
        "meta": meta,
        "summary": summary,
        "table_markdown": table,
        "target": check_line(summary),
        "runs": [asdict(r) | {"errors": r.errors} for r in bench.runs],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"results written to {output}")
    return 0


def quiz_read_status(base_url: str, quiz_id: str, token: str) -> int:
    import httpx

    answer = httpx.get(
        f"{base_url}/api/v1/quizzes/{quiz_id}",
        headers={"Authorization": f"Bearer {token}"},
        verify=False,  # noqa: S501 - the stack's own throwaway CA, on 127.0.0.1
        timeout=10,
    )
    return answer.status_code


if __name__ == "__main__":
    sys.exit(main())
