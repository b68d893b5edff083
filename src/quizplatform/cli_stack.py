"""``quiz stack ...``, ``quiz deploy``, ``quiz rollback`` and ``quiz releases``."""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from quizplatform.ops.process import OpsError

if TYPE_CHECKING:
    from quizplatform.ops.redis import RedisStatus
    from quizplatform.ops.stack import Stack
    from quizplatform.ops.stack_status import DatabaseStatus, StackStatus

stack_app = typer.Typer(
    help="The one-host production stack: HAProxy (TLS), supervised instances, PostgreSQL "
    "with automatic failover (Patroni + etcd), Redis with Sentinel, backups (pgBackRest), "
    "Prometheus, Alertmanager, autoscaler.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

DirOption = Annotated[Path, typer.Option("--dir", help="The stack directory.")]
DEFAULT_DIR = Path("var/stack")


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def _stack(directory: Path) -> Stack:
    from quizplatform.ops.stack import Stack

    try:
        stack = Stack(directory)
    except OpsError as exc:
        raise _fail(exc) from exc
    _log_to_file(stack.log_dir / "ops.log")
    return stack


def _log_to_file(path: Path) -> None:
    """Send the ops modules' structured log to ``logs/ops.log`` (JSON lines), so that the
    terminal shows only the command's own output."""
    import logging

    import structlog

    path.parent.mkdir(parents=True, exist_ok=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=path.open("a", buffering=1)),
        cache_logger_on_first_use=False,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@stack_app.command("up")
def up(
    directory: DirOption = DEFAULT_DIR,
    env: Annotated[str | None, typer.Option(help="staging (default) or production")] = None,
    instances: Annotated[int | None, typer.Option(help="Instances to start with (2).")] = None,
    https_port: Annotated[int | None, typer.Option(help="TLS front door (8443).")] = None,
    bind: Annotated[
        str | None,
        typer.Option(
            help="Address of the public frontends (HTTPS and the HTTP redirect), e.g. "
            "0.0.0.0 to face the internet; everything else stays on 127.0.0.1 (127.0.0.1)."
        ),
    ] = None,
    http_port: Annotated[
        int | None, typer.Option(help="HTTP port redirecting to HTTPS (8080).")
    ] = None,
    cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
    sync_replica: Annotated[
        bool | None,
        typer.Option(help="Commits wait for the replica (synchronous replication)."),
    ] = None,
    autoscale: Annotated[bool | None, typer.Option(help="Run the autoscaler (on).")] = None,
    db_members: Annotated[
        int | None,
        typer.Option(
            "--db-members",
            min=1,
            max=9,
            help="PostgreSQL members under Patroni (2: a leader and its synchronous standby).",
        ),
    ] = None,
    config_json: Annotated[
        str | None,
        typer.Option(
            "--config-json",
            help="More StackConfig fields as JSON (ports, windows, intervals), "
            'e.g. \'{"stats_port": 18404, "check_interval_ms": 500}\'.',
        ),
    ] = None,
) -> None:
    """Start the stack (idempotent: starts only what is not running) and print a summary.

    Options given here are saved in the stack directory; a later `up` without them keeps
    the saved values.
    """
    from quizplatform.ops.stack import Stack, StackConfig, StackState

    if env not in (None, "staging", "production"):
        raise _fail(ValueError("--env must be staging or production"))
    if (cert is None) != (key is None):
        raise _fail(ValueError("--cert and --key go together"))
    if bind is not None:
        try:
            ipaddress.ip_address(bind)
        except ValueError as exc:
            raise _fail(ValueError(f"--bind must be an IP address, not {bind!r}")) from exc
    state_file = directory / "stack.json"
    base = (
        StackState.from_json(state_file.read_text()).config
        if state_file.exists()
        else StackConfig()
    )
    given: dict[str, object] = {}
    if config_json:
        try:
            given |= json.loads(config_json)
        except ValueError as exc:
            raise _fail(ValueError(f"--config-json is not JSON: {exc}")) from exc
        unknown = set(given) - set(StackConfig.__dataclass_fields__)
        if unknown:
            raise _fail(ValueError(f"--config-json: unknown fields {sorted(unknown)}"))
    options = {
        "env": env,
        "instances": instances,
        "https_port": https_port,
        "http_port": http_port,
        "bind": bind,
        "sync_replica": sync_replica,
        "autoscale": autoscale,
        "db_members": db_members,
        "cert": str(cert.resolve()) if cert else None,
        "key": str(key.resolve()) if key else None,
    }
    given |= {k: v for k, v in options.items() if v is not None}
    config = StackConfig.from_dict({**base.__dict__, **given})
    stack = Stack(directory, config)
    _log_to_file(stack.log_dir / "ops.log")
    started = time.monotonic()
    try:
        with console.status("starting the stack") as status:
            stack.up(progress=lambda m: status.update(f"starting the stack: {m}"))
    except OpsError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]stack up[/green] in {time.monotonic() - started:.1f} s")
    _print_status(stack.status())


@stack_app.command("down")
def down(
    directory: DirOption = DEFAULT_DIR,
    purge: Annotated[
        bool,
        typer.Option(
            help="Also delete the data: the database members, etcd, Redis and, when it "
            "lies in the data root (the default), the backup repository with its "
            "passphrase (see --keep-backups). A repository elsewhere is never deleted."
        ),
    ] = False,
    keep_backups: Annotated[
        bool, typer.Option(help="With --purge: keep the backup repository.")
    ] = False,
) -> None:
    """Stop exactly what `stack up` started (by PID), in reverse order, gracefully.

    Nothing is deleted unless --purge is given."""
    stack = _stack(directory)
    with console.status("stopping the stack"):
        stopped = stack.down()
    if not stopped:
        console.print("nothing was running")
    for what in stopped:
        console.print(f"stopped {what}")
    if purge:
        for path in stack.purge(keep_backups=keep_backups):
            console.print(f"deleted {path}")
        if stack.backup_repository_path.exists():
            console.print(
                f"kept the backup repository {stack.backup_repository_path} and its "
                f"passphrase in {stack.backups.settings.cipher_pass_file}"
            )


@stack_app.command("status")
def status(
    directory: DirOption = DEFAULT_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each component, each instance's health, weight, CPU, RSS, release, and the alerts."""
    report = _stack(directory).status()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_status(report)


@stack_app.command("scale")
def scale(
    count: Annotated[int, typer.Argument(help="Instances wanted (within min..max).")],
    directory: DirOption = DEFAULT_DIR,
) -> None:
    """Scale the active release by hand: new instances join when ready, removed ones drain."""
    stack = _stack(directory)
    try:
        with console.status(f"scaling to {count}"):
            done = stack.scale_to(count, reason="quiz stack scale")
    except OpsError as exc:
        raise _fail(exc) from exc
    note = (
        ""
        if done == count
        else f" (asked for {count}; the stack keeps {done} within "
        f"min {stack.config.min_instances} .. max {stack.config.max_instances})"
    )
    console.print(f"{done} instances{note}")


@stack_app.command("autoscale", hidden=True)
def autoscale(directory: DirOption = DEFAULT_DIR) -> None:
    """Run the autoscaler loop (the stack runs this under supervisord)."""
    from quizplatform.ops.autoscaler_runner import run_for_stack
    from quizplatform.runtime.logging import configure_logging
    from quizplatform.runtime.settings import Settings

    stack = _stack(directory)
    # JSON lines on stdout, which supervisord writes to logs/autoscaler.log.
    configure_logging(Settings(env="staging", instance_id="autoscaler"))
    run_for_stack(stack)


@stack_app.command("render-haproxy")
def render_haproxy(
    dns: Annotated[
        str,
        typer.Option(
            "--dns", help="SERVICE:PORT whose DNS answers are the instances (Docker Compose)."
        ),
    ] = "app:8000",
    slots: Annotated[int, typer.Option(help="The most instances HAProxy routes to.")] = 10,
) -> None:
    """Print haproxy.cfg for Docker Compose (deploy/compose/haproxy/haproxy.cfg is this
    command's output): instances found through Docker's DNS, no runtime API slots."""
    from quizplatform.ops.haproxy import DnsDiscovery, render_dns_config

    try:
        text = render_dns_config(DnsDiscovery(target=dns, slots=slots))
    except OpsError as exc:
        raise _fail(exc) from exc
    typer.echo(text, nl=False)


def deploy(
    strategy: Annotated[str, typer.Option(help="blue-green or canary")] = "blue-green",
    version: Annotated[str | None, typer.Option(help="An installed release.")] = None,
    from_path: Annotated[
        Path | None, typer.Option("--from", help="Install a release from this checkout.")
    ] = None,
    directory: DirOption = DEFAULT_DIR,
    step_seconds: Annotated[float, typer.Option(help="Canary: seconds per step.")] = 60.0,
    steps: Annotated[
        str, typer.Option(help="Canary: share of requests per step, in %.")
    ] = "10,50,100",
    max_error_delta: Annotated[
        float, typer.Option(help="Canary: abort when errors exceed stable's by this many points.")
    ] = 2.0,
    max_latency_ratio: Annotated[
        float, typer.Option(help="Canary: abort when p99 exceeds stable's times this.")
    ] = 1.2,
    min_latency_delta_ms: Annotated[
        float, typer.Option(help="Canary: ...and only when p99 is this many ms slower.")
    ] = 25.0,
    check_interval: Annotated[float, typer.Option(help="Canary: seconds between checks.")] = 5.0,
    window: Annotated[str, typer.Option(help="Canary: PromQL window of the comparison.")] = "30s",
) -> None:
    """Deploy a release without downtime (blue-green or canary with automatic rollback)."""
    from quizplatform.ops.deploy import CanaryPolicy, Deployer

    if strategy not in ("blue-green", "canary"):
        raise _fail(ValueError("--strategy must be blue-green or canary"))
    if (version is None) == (from_path is None) and from_path is None:
        raise _fail(ValueError("give --version V or --from PATH"))
    stack = _stack(directory)
    deployer = Deployer(stack, progress=lambda m: console.print(f"  {m}"))
    try:
        if from_path is not None:
            release = stack.releases.install(from_path, version)
            console.print(f"installed release {release.version}")
            version = release.version
        assert version is not None
        if strategy == "blue-green":
            result = deployer.blue_green(version)
        else:
            policy = CanaryPolicy(
                steps=tuple(int(s) for s in steps.split(",")),
                step_seconds=step_seconds,
                check_interval=check_interval,
                max_error_delta=max_error_delta,
                max_latency_ratio=max_latency_ratio,
                min_latency_delta=min_latency_delta_ms / 1000,
                window=window,
            )
            result = deployer.canary(version, policy)
    except (OpsError, ValueError) as exc:
        raise _fail(exc) from exc
    colour = "green" if result.outcome == "deployed" else "red"
    console.print(
        f"[{colour}]{result.outcome}[/{colour}] {result.version} ({result.strategy}) "
        f"in {result.seconds:.1f} s" + (f": {result.reason}" if result.reason else "")
    )
    if result.exposed_seconds is not None:
        console.print(f"the canary took traffic for {result.exposed_seconds:.1f} s")
    if result.outcome != "deployed":
        raise typer.Exit(3)


def rollback(directory: DirOption = DEFAULT_DIR) -> None:
    """Return to the previous release (a weight switch while it is still warm)."""
    from quizplatform.ops.deploy import Deployer

    try:
        result = Deployer(_stack(directory)).rollback()
    except OpsError as exc:
        raise _fail(exc) from exc
    console.print(f"now serving {result.version} (traffic switched in {result.seconds:.2f} s)")


def releases(
    directory: DirOption = DEFAULT_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The installed releases with their status and history."""
    stack = _stack(directory)
    items = [r.metadata() for r in stack.releases.list()]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    table = Table("version", "status", "commit", "installed", "last change")
    for item in items:
        history = item.get("history") or [{}]
        last = history[-1] if isinstance(history, list) else {}
        table.add_row(
            str(item["version"]),
            str(item["status"]),
            str(item["commit"]),
            _when(item.get("installed_at")),
            f"{_when(last.get('at'))} {last.get('note', '')}".strip(),
        )
    console.print(table)


def db_switchover(
    to: Annotated[
        str | None,
        typer.Option("--to", help="The member to promote (default: the synchronous standby)."),
    ] = None,
    directory: DirOption = DEFAULT_DIR,
) -> None:
    """Planned maintenance: make another member the database leader (Patroni switchover).

    The leader stops taking writes, the candidate catches up and is promoted, the old leader
    follows it as a standby. Writes arriving meanwhile wait for the new leader (up to the
    stack's db_leader_wait_seconds), so no request fails."""
    stack = _stack(directory)
    started = time.monotonic()
    try:
        with console.status("switching over"):
            old, new = stack.switchover(to)
    except OpsError as exc:
        raise _fail(exc) from exc
    console.print(
        f"[green]switched over[/green] from {old} to {new} in "
        f"{time.monotonic() - started:.1f} s; {old} follows {new} as a standby"
    )


def db_status(
    directory: DirOption = DEFAULT_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The database members (role, state, lag, timeline), the leader and the backups."""
    report = _stack(directory).database_status()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_database(report)


def db_upgrade_stack(directory: Path) -> None:
    """``quiz db upgrade --dir``: the stack's migrations with its active release's code."""
    stack = _stack(directory)
    try:
        with console.status("migrating"):
            release = stack.releases.get(stack.read_state().active_release or "")
            stack.migrate(release)
    except OpsError as exc:
        raise _fail(exc) from exc
    console.print(f"database at head (release {release.version}, stack {stack.dir})")


def _print_database(db: DatabaseStatus) -> None:
    if not db.get("running", True):
        mode = "[red]not running[/red]"
    elif db.get("read_only"):
        mode = "[red]READ-ONLY (no leader)[/red]"
    else:
        mode = "[green]read-write[/green]"
    if db.get("store") == "unreachable":
        mode += ", [red]etcd unreachable[/red]"
    table = Table(
        "member",
        "role",
        "state",
        "postgres pid",
        "patroni pid",
        "lag bytes",
        "timeline",
        title=f"database: {mode}, leader {db.get('leader') or '-'}",
    )
    for m in db.get("members", []):
        table.add_row(
            str(m["name"]),
            str(m["role"]),
            str(m["state"]),
            str(m["pid"] or "-"),
            str(m["patroni_pid"] or "-"),
            "-" if m["lag_bytes"] is None else str(m["lag_bytes"]),
            "-" if m["timeline"] is None else str(m["timeline"]),
        )
    console.print(table)
    console.print(
        f"  writes via {db.get('write_url')}, reads via {db.get('read_url')}; "
        f"backups in {db.get('backup_repository')}"
    )
    for label, record in (("last backup", db["last_backup"]), ("last verify", db["last_verify"])):
        if record:
            verified = record.get("verified_at") or "-"
            console.print(
                f"  {label}: {record.get('label')} ({record.get('type')}, "
                f"finished {record.get('finished_at')}, verified {verified})"
            )
        else:
            console.print(f"  {label}: none")


def _print_redis(redis: RedisStatus) -> None:
    sentinels = redis.get("sentinels") or []
    answering = sum(1 for s in sentinels if s.get("ok"))
    replicas = ", ".join(redis.get("replicas") or []) or "none"
    console.print(
        f"redis: master {redis.get('master') or '[red]none[/red]'}, replicas {replicas}; "
        f"sentinels answering {answering}/{len(sentinels)}"
    )
    for problem in redis.get("problems") or []:
        console.print(f"  [red]{problem}[/red]")


def _when(at: object) -> str:
    if not isinstance(at, int | float) or not at:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_status(report: StackStatus) -> None:
    console.print(
        f"[bold]{report['url']}[/bold]  (stack dir {report['dir']}, "
        f"database data under {report['data_root']})"
    )
    console.print(
        f"active release: {report['active_release']}   previous: {report['previous_release']}"
    )
    components = Table("component", "pid", "state", title="components")
    for c in report["components"]:
        colour = "green" if c["state"] == "running" else "red"
        components.add_row(c["name"], str(c["pid"] or "-"), f"[{colour}]{c['state']}[/{colour}]")
    console.print(components)
    instances = Table(
        "instance",
        "pid",
        "port",
        "ready",
        "lb",
        "weight",
        "cpu %",
        "rss MB",
        "release",
        "pool",
        title="instances",
    )
    for i in report["instances"]:
        instances.add_row(
            i["name"],
            str(i["pid"] or "-"),
            str(i["port"]),
            "[green]yes[/green]" if i["ready"] else "[red]no[/red]",
            i["lb_status"],
            str(i["weight"]),
            str(i["cpu_percent"]),
            str(i["rss_mb"]),
            i["release"],
            i["pool"],
        )
    console.print(instances)
    _print_database(report["database"])
    _print_redis(report["redis"])
    alerts = report["alerts"]
    console.print(f"alerts firing: {len(alerts)}")
    for alert in alerts:
        console.print(f"  [red]{alert['name']}[/red] ({alert['severity']}) {alert['summary']}")
    for name, url in report["urls"].items():
        console.print(f"  {name:14} {url}")
