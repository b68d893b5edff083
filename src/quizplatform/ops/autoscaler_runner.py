"""The autoscaler process of a stack: the policy loop wired to the stack's instances."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from quizplatform.ops.autoscaler import AutoscalerMetrics, Policy, run_autoscaler
from quizplatform.ops.stack import Stack


class StackScaler:
    """The autoscaler's view of a stack: the active instances' PIDs and a way to scale."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def instance_pids(self) -> list[int]:
        pids = (self.stack.supervisor.program_pid(i.name) for i in self.stack.active_instances())
        return [pid for pid in pids if pid]

    def scale_to(self, count: int, reason: str) -> None:
        self.stack.scale_to(count, reason=f"autoscaler: {reason}")


def policy_for(stack: Stack) -> Policy:
    """The stack's autoscaling policy (from ``quiz stack up`` options)."""
    c = stack.config
    return Policy(
        min_instances=c.min_instances,
        max_instances=c.max_instances,
        scale_up_cpu=c.scale_up_cpu,
        scale_down_cpu=c.scale_down_cpu,
        up_window=c.up_window,
        down_window=c.down_window,
        cooldown=c.cooldown,
    )


def run_for_stack(stack: Stack) -> None:
    """Run until SIGTERM/SIGINT, exporting metrics on the stack's autoscaler port."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = AutoscalerMetrics()
    metrics.start_metrics_server(stack.config.autoscaler_port)
    run_autoscaler(
        StackScaler(stack),
        policy_for(stack),
        interval=stack.config.autoscale_interval,
        metrics=metrics,
        stop=stop,
    )
