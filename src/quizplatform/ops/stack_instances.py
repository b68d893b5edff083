"""The stack's serving processes: the environment every process of a release runs with,
the instances in HAProxy slots (start, drain and stop, scale), the worker, migrations and
the autoscaler program."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import structlog

from quizplatform.ops import haproxy as lb
from quizplatform.ops.process import OpsError, run, wait_for, write_private
from quizplatform.ops.releases import Release
from quizplatform.ops.stack_state import ACTIVE, CANDIDATE, Instance, StackConfig, StackState
from quizplatform.ops.supervisor import Program

if TYPE_CHECKING:
    from quizplatform.ops.stack import Stack

log = structlog.get_logger("quizplatform.ops.stack")


# ---------------------------------------------------------------------- environment -------
def release_environment(stack: Stack, release: Release, instance_id: str) -> dict[str, str]:
    """The environment of a process running ``release``'s code (instance, worker,
    migrations): its configuration, and the files that hold its secrets."""
    cfg = stack.config
    database_url, replica_urls = database_url_files(stack)
    drain = (3 * cfg.check_interval_ms) / 1000 + 1
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(release.code_dir),
        "QUIZ_ENV": cfg.env,
        "QUIZ_CONFIG_DIR": str(release.path / "config"),
        "QUIZ_DATA_DIR": str(stack.dir / "data"),
        "QUIZ_DATABASE_URL_FILE": str(database_url),
        "QUIZ_DATABASE_REPLICA_URLS_FILE": str(replica_urls),
        "QUIZ_DB_LEADER_WAIT_SECONDS": f"{cfg.db_leader_wait_seconds:g}",
        **stack.redis.client_environment(),
        "QUIZ_SECRET_KEY_FILE": str(secret_key_file(stack.dir)),
        "QUIZ_PUBLIC_URL": stack.url,
        "QUIZ_TRUSTED_PROXIES": '["127.0.0.1"]',
        "QUIZ_VERSION": release.version,
        "QUIZ_COMMIT": release.commit,
        "QUIZ_INSTANCE_ID": instance_id,
        "QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS": "0",
        # The stack's worker runs the AI draft jobs (it starts its runner itself).
        "QUIZ_EMBEDDED_WORKER": "false",
        "QUIZ_DB_POOL_SIZE": str(cfg.db_pool_size),
        "QUIZ_SHUTDOWN_DRAIN_DELAY": f"{drain:g}",
        "QUIZ_MEMORY_LIMIT_MB": str(cfg.memory_limit_mb),
        # The hard backstop behind the RSS watchdog: address space is several times
        # the resident size for Python with uvloop (docs/operations.md).
        "QUIZ_ADDRESS_SPACE_LIMIT_MB": str(max(2048, 4 * cfg.memory_limit_mb)),
        "QUIZ_CPU_NICE": str(cfg.cpu_nice),
    }
    env.update(release.environment)
    env.update(cfg.instance_env)
    return env


def database_url_files(stack: Stack) -> tuple[Path, Path]:
    """The app's database URLs (they hold the password) in root-only 0600 files:
    the write frontend and, as a JSON list, the read frontend."""
    write_url = stack.db.app_url(stack.config.pg_port)
    read_urls = json.dumps([stack.db.app_url(stack.config.pg_replica_port)])
    return (
        _write_secret(stack.dir, "database_url", write_url),
        _write_secret(stack.dir, "database_replica_urls", read_urls),
    )


def _write_secret(directory: Path, name: str, value: str) -> Path:
    path = directory / "secrets" / name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == value:
            return path
    write_private(path, value)
    return path


def secret_key_file(directory: Path) -> Path:
    """The app's secret key (generated once), in a 0600 file of the stack directory."""
    path = directory / "secrets" / "secret_key"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(48))
    return path


# ---------------------------------------------------------------------- programs ----------
def migrate(stack: Stack, release: Release) -> None:
    """Run ``quiz db upgrade`` with ``release``'s code against the primary."""
    run(
        [sys.executable, "-m", "quizplatform.cli", "db", "upgrade"],
        what=f"migrations of release {release.version}",
        env=release_environment(stack, release, instance_id="migrate"),
        cwd=release.path,
    )


def smoke_credentials_file(directory: Path) -> Path:
    """The smoke account's credentials (``quiz smoke --credentials-file``), 0600."""
    return directory / "secrets" / "smoke-credentials.json"


def smoke_setup(stack: Stack, release: Release) -> None:
    """Run ``quiz smoke setup`` with ``release``'s code (a release from before the
    command is skipped)."""
    if not (release.code_dir / "quizplatform" / "cli_smoke.py").exists():
        log.info("smoke setup skipped: the release has no `quiz smoke`", release=release.version)
        return
    target = smoke_credentials_file(stack.dir)
    command = [sys.executable, "-m", "quizplatform.cli", "smoke", "setup"]
    run(
        [*command, "--credentials-file", str(target)],
        what=f"smoke setup with release {release.version}",
        env=release_environment(stack, release, instance_id="smoke-setup"),
        cwd=release.path,
    )


def instance_program(stack: Stack, instance: Instance) -> Program:
    """The supervisord program that runs ``instance``."""
    release = stack.releases.get(instance.release)
    return Program(
        name=instance.name,
        command=[
            sys.executable,
            "-m",
            "quizplatform.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(instance.port),
        ],
        directory=release.path,
        environment=release_environment(stack, release, instance.name),
        log_file=stack.log_dir / f"{instance.name}.log",
        priority=500,
    )


def worker_program(stack: Stack) -> Program:
    """The supervisord program of the worker, with the active release's code."""
    release = stack.releases.get(active_release(stack.read_state()))
    return Program(
        name="worker",
        command=[
            sys.executable,
            "-m",
            "quizplatform.cli",
            "worker",
            "--metrics-port",
            str(stack.config.worker_port),
        ],
        directory=release.path,
        environment=release_environment(stack, release, instance_id="worker")
        | {"QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS": "30"},
        log_file=stack.log_dir / "worker.log",
        priority=600,
    )


def autoscaler_program(stack: Stack) -> Program:
    """The supervisord program of the autoscaler (``quiz stack autoscale``)."""
    return Program(
        name="autoscaler",
        command=[
            sys.executable,
            "-m",
            "quizplatform.cli",
            "stack",
            "autoscale",
            "--dir",
            str(stack.dir),
        ],
        directory=stack.dir,
        # The policy in the environment: when `stack up` changes it, supervisord
        # sees a changed program and restarts the autoscaler with it.
        environment={"QUIZ_AUTOSCALER_POLICY": json.dumps(policy_fields(stack.config))},
        log_file=stack.log_dir / "autoscaler.log",
        priority=700,
    )


def policy_fields(config: StackConfig) -> dict[str, float]:
    """The autoscaler's policy, from the stack's configuration."""
    return {
        "min_instances": config.min_instances,
        "max_instances": config.max_instances,
        "scale_up_cpu": config.scale_up_cpu,
        "scale_down_cpu": config.scale_down_cpu,
        "up_window": config.up_window,
        "down_window": config.down_window,
        "cooldown": config.cooldown,
        "interval": config.autoscale_interval,
    }


# ---------------------------------------------------------------------- instances ---------
def start_instances(stack: Stack, release: str, count: int, backend: str) -> list[Instance]:
    """Start ``count`` instances of ``release`` in free slots and wait until each is
    ready; they join HAProxy's ``backend`` with weight 0 (no traffic yet)."""
    with stack.locked() as state:
        used = {i.slot for i in state.instances}
        free = [s for s in range(1, stack.config.slots + 1) if s not in used][:count]
        if len(free) < count:
            raise OpsError(f"no free HAProxy slot for {count} more instances")
        new = [
            Instance(
                slot=s,
                port=stack.config.instance_base_port + s,
                release=release,
                backend=backend,
            )
            for s in free
        ]
        state.instances.extend(new)
    for instance in new:
        stack.supervisor.add(instance_program(stack, instance), wait=False)
    for instance in new:
        wait_instance_ready(instance, stack.log_dir)
        stack.haproxy.enable(backend, instance.slot, instance.port, weight=0)
    stack.monitoring.write_targets(stack.read_state().instances)
    return new


def wait_instance_ready(instance: Instance, log_dir: Path, timeout: float = 60) -> float:
    """Seconds until the instance answers 200 on /health/ready (direct, not via HAProxy)."""
    url = f"http://127.0.0.1:{instance.port}/health/ready"
    return wait_for(
        lambda: httpx.get(url, timeout=1).status_code == 200,
        timeout,
        f"{instance.name} to be ready (log: {log_dir / (instance.name + '.log')})",
    )


def wait_lb_up(haproxy: lb.HaproxyRuntime, instances: list[Instance], timeout: float = 30) -> float:
    """Seconds until HAProxy's health checks see every instance UP."""

    def all_up() -> bool:
        states = {(s.backend, s.name): s for s in haproxy.servers()}
        return all(
            (st := states.get((i.backend, lb.slot_name(i.slot)))) is not None and st.up
            for i in instances
        )

    return wait_for(all_up, timeout, "HAProxy to see the instances UP", interval=0.05)


def stop_instances(stack: Stack, instances: list[Instance], drain_timeout: float = 30) -> None:
    """Drain in HAProxy, wait for in-flight requests to finish, then SIGTERM and forget.

    A slot may route to the instance from both backends (during a deploy), so both
    are drained and then put in maintenance.
    """
    haproxy = stack.haproxy
    in_service = {(s.backend, s.name) for s in haproxy.servers() if s.status != "MAINT"}
    for instance in instances:
        for backend in (ACTIVE, CANDIDATE):
            if (backend, lb.slot_name(instance.slot)) in in_service:
                haproxy.drain(backend, instance.slot)
    deadline = time.monotonic() + drain_timeout
    for instance in instances:
        while time.monotonic() < deadline and _sessions(haproxy, instance.slot) > 0:
            time.sleep(0.05)
    for instance in instances:
        stack.supervisor.remove(instance.name)
        for backend in (ACTIVE, CANDIDATE):
            haproxy.disable(backend, instance.slot)
    names = {i.name for i in instances}
    with stack.locked() as state:
        state.instances = [i for i in state.instances if i.name not in names]
        stack.monitoring.write_targets(state.instances)


def _sessions(haproxy: lb.HaproxyRuntime, slot: int) -> int:
    name = lb.slot_name(slot)
    return sum(s.current_sessions for s in haproxy.servers() if s.name == name)


def active_instances(state: StackState) -> list[Instance]:
    """The instances of the active release in the active backend."""
    return [i for i in state.instances if i.backend == ACTIVE and i.release == state.active_release]


def active_release(state: StackState) -> str:
    """The active release's version; OpsError when the stack has none yet."""
    if state.active_release is None:
        raise OpsError("the stack has no active release (run `quiz stack up`)")
    return state.active_release


def scale_to(stack: Stack, count: int, reason: str = "by hand") -> int:
    """Grow or shrink the active release's instances to ``count`` (within bounds)."""
    count = max(stack.config.min_instances, min(stack.config.max_instances, count))
    current = active_instances(stack.read_state())
    log.info("scaling", current=len(current), target=count, reason=reason)
    if count > len(current):
        release = active_release(stack.read_state())
        new = start_instances(stack, release, count - len(current), ACTIVE)
        stack.set_weight(new, 100)
        wait_lb_up(stack.haproxy, new)
    elif count < len(current):
        victims = sorted(current, key=lambda i: i.slot)[count:]
        stop_instances(stack, victims)
    return count


def restore_instances(stack: Stack) -> None:
    """After a restart of supervisord/HAProxy: bring recorded instances back."""
    state = stack.read_state()
    for instance in state.instances:
        if stack.supervisor.state(instance.name) != "RUNNING":
            stack.supervisor.add(instance_program(stack, instance), wait=False)
    for instance in state.instances:
        wait_instance_ready(instance, stack.log_dir)
        server = stack.haproxy.server(instance.backend, instance.slot)
        if server is None or server.status == "MAINT":
            weight = 100 if instance.release == state.active_release else 0
            stack.haproxy.enable(instance.backend, instance.slot, instance.port, weight)
    if state.instances:  # `up` returns once HAProxy routes to them again
        wait_lb_up(stack.haproxy, state.instances)
