"""The ``quiz`` command."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from quizplatform.cli_backup import backup_app
from quizplatform.cli_capacity import capacity
from quizplatform.cli_config import config_app
from quizplatform.cli_smoke import smoke_app
from quizplatform.cli_stack import (
    db_status,
    db_switchover,
    db_upgrade_stack,
    deploy,
    releases,
    rollback,
    stack_app,
)
from quizplatform.runtime.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from quizplatform.services.container import Services

app = typer.Typer(
    help="Quiz Platform: serve the app, run the background worker, migrate the database, "
    "manage users.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="The database: schema migrations; on a stack, its members and planned switchovers.",
    no_args_is_help=True,
)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of security-relevant events.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.add_typer(config_app, name="config")
app.add_typer(stack_app, name="stack")
db_app.command("switchover")(db_switchover)
db_app.command("status")(db_status)
app.add_typer(backup_app, name="backup")
app.add_typer(smoke_app, name="smoke")
app.command("deploy")(deploy)
app.command("rollback")(rollback)
app.command("releases")(releases)
app.command("capacity")(capacity)
console = Console()
err = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
) -> None:
    """Run one instance of the web app (configuration from QUIZ_* and config/<env>.toml)."""
    import uvicorn

    from quizplatform.app import create_app
    from quizplatform.runtime.http_protocol import CoalescingHttpToolsProtocol
    from quizplatform.runtime.lifecycle import GracefulServer
    from quizplatform.runtime.resources import MemoryWatchdog

    settings = _settings(host=host, port=port)
    try:
        application = create_app(settings)
    except SettingsError as exc:
        raise _refuse_to_start(settings, exc) from exc
    _apply_process_limits(settings)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-* is handled by the app for trusted proxies only
        timeout_graceful_shutdown=int(settings.shutdown_timeout),
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
        log_config=None,  # logging is configured by the app (structlog)
        http=CoalescingHttpToolsProtocol,  # one write per small response (see the module)
        # Live games' WebSockets (api/live_socket.py caps frames at 16 KiB itself): no
        # frame past 64 KiB is even buffered, and no per-socket zlib state (~300 KiB
        # each: 2,000 players would take 600 MiB for little gain on small messages).
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
    )

    def start_draining() -> None:
        application.state.draining = True
        application.state.services.metrics.draining.set(1)

    watchdog = None
    if settings.memory_limit_mb > 0:
        watchdog = MemoryWatchdog(
            settings.memory_limit_mb,
            settings.memory_check_interval_seconds,
            recycles=application.state.services.metrics.process_recycles,
        )
    server = GracefulServer(
        config,
        drain_delay=settings.shutdown_drain_delay,
        on_drain=start_draining,
        memory_watchdog=watchdog,
    )
    server.run(sockets=[_listen(settings.host, settings.port)])


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket before the app starts: a taken port then fails fast with
    exit 1 (uvicorn's own bind failure happens after the app's start-up, whose shutdown
    can then hang with PostgreSQL and Redis connections open)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        err.print(f"[red]cannot listen on {host}:{port}: {exc.strerror}[/red]")
        raise typer.Exit(1) from exc
    sock.listen(2048)
    return sock


@app.command()
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this process's Prometheus metrics on this port (default: none)."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address the metrics endpoint binds.")
    ] = "127.0.0.1",
    sweep_interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between expired-attempt sweeps "
            "(default QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS, 30; 0: no sweep, jobs only).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the background work: AI draft jobs and the expired-attempt sweep.

    Run one or more per stack (jobs are leased, so several workers share them and a job
    whose worker dies is taken over). Instances then run with
    QUIZ_EMBEDDED_WORKER=false and QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS=0. A sweep interval
    of 0 runs jobs only. Stops and exits 0 on SIGTERM or Ctrl-C (running jobs get 10 s,
    then go back to the queue; a second signal stops at once).
    """
    from quizplatform.runtime.logging import configure_logging
    from quizplatform.services.container import Services

    settings = _settings(attempt_sweep_interval_seconds=sweep_interval)
    try:
        settings.ensure_startable()
    except SettingsError as exc:
        raise _refuse_to_start(settings, exc) from exc
    configure_logging(settings)  # after the imports, as in serve: no import-time chatter
    _apply_process_limits(settings)
    asyncio.run(_run_worker(Services.create(settings), metrics_host, metrics_port))


async def _run_worker(services: Services, metrics_host: str, metrics_port: int | None) -> None:
    import signal

    import structlog
    from prometheus_client import start_http_server

    log = structlog.get_logger("quizplatform.worker")
    settings = services.settings
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = (signal.SIGTERM, signal.SIGINT)

    def on_signal(sig: signal.Signals) -> None:
        log.info("worker stopping", signal=sig.name)
        stop.set()
        for s in handled:  # a second signal gets the default behaviour: stop at once
            loop.remove_signal_handler(s)

    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    metrics_server = None
    try:
        if metrics_port is not None:
            try:
                metrics_server, _ = start_http_server(
                    metrics_port, addr=metrics_host, registry=services.metrics.registry
                )
            except OSError as exc:
                err.print(
                    f"[red]cannot serve metrics on {metrics_host}:{metrics_port}: {exc}[/red]"
                )
                raise typer.Exit(2) from exc
        await services.start(background=True, jobs=True)
        log.info(
            "worker started",
            sweep_interval_seconds=settings.attempt_sweep_interval_seconds,
            job_concurrency=settings.ai_worker_concurrency,
            ai_chain=settings.ai_chain,
            metrics=f"{metrics_host}:{metrics_port}" if metrics_port is not None else None,
        )
        await stop.wait()
    finally:
        if metrics_server is not None:
            await asyncio.to_thread(metrics_server.shutdown)
            metrics_server.server_close()
        await services.close()


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="A stack directory: migrate its database with its active release."
        ),
    ] = None,
) -> None:
    """Apply the schema migrations (safe to run again)."""
    from quizplatform.db.migrate import upgrade

    if directory is not None:
        if revision != "head":
            err.print("[red]error:[/red] a stack is always migrated to head")
            raise typer.Exit(1)
        db_upgrade_stack(directory)
        return
    settings = _settings()
    upgrade(settings, revision)
    console.print(f"database at {revision} ({_describe(settings)})")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email (their sign-in name).")],
    role: Annotated[str, typer.Option(help="admin, teacher or student.")] = "student",
    password_file: Annotated[
        Path | None, typer.Option(help="File holding the password (else you are asked).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown to others.")] = None,
) -> None:
    """Create a user; the only way to create an admin."""
    from quizplatform.services.accounts import Role
    from quizplatform.services.errors import ServiceError

    if role not in {r.value for r in Role}:
        err.print(f"[red]unknown role {role!r}; use admin, teacher or student[/red]")
        raise typer.Exit(2)
    if password_file is not None:
        password = password_file.read_text().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def create() -> str:
        services = _services()
        try:
            user = await services.accounts.register(
                email, password, display_name or email.split("@")[0], Role(role), by_admin=True
            )
            return str(user.id)
        finally:
            await services.close()

    try:
        user_id = asyncio.run(create())
    except ServiceError as exc:
        err.print(f"[red]{exc.message}[/red]")
        for d in exc.details:
            err.print(f"  - {d['message']}")
        raise typer.Exit(1) from exc
    console.print(f"created {role} {email} (id {user_id})")


@audit_app.command("purge")
def audit_purge(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep this many days (default: QUIZ_AUDIT_RETENTION_DAYS)."),
    ] = None,
) -> None:
    """Delete the audit events older than the retention period (run it daily, e.g. from
    cron); the purge itself is recorded as an event."""

    async def purge() -> int:
        services = _services()
        try:
            keep = days or services.settings.audit_retention_days
            return await services.audit.purge(keep)
        finally:
            await services.close()

    with console.status("purging old audit events"):
        removed = asyncio.run(purge())
    console.print(f"removed {removed} audit event{'s' if removed != 1 else ''}")


@app.command()
def demo() -> None:
    """Load demo accounts and quizzes into an empty database and say how to sign in."""
    from quizplatform.services.demo import STUDENT, TEACHER, load_demo

    async def run() -> bool:
        services = _services()
        try:
            return (await load_demo(services)).created
        finally:
            await services.close()

    created = asyncio.run(run())
    if created:
        console.print("[green]demo content loaded[/green]: two published quizzes")
    else:
        console.print("the database already has users; demo content not loaded again")
    console.print("sign in with:")
    for email, name, password in (TEACHER, STUDENT):
        console.print(f"  {name:14} {email:22} password: {password}")


def _refuse_to_start(settings: Settings, exc: SettingsError) -> typer.Exit:
    err.print(f"[red]refusing to start in {settings.env}:[/red]")
    for problem in exc.problems:
        err.print(f"  - {problem}")
    return typer.Exit(2)


def _apply_process_limits(settings: Settings) -> None:
    from quizplatform.runtime.resources import ResourceLimitError, apply_process_limits

    try:
        apply_process_limits(
            address_space_limit_mb=settings.address_space_limit_mb, cpu_nice=settings.cpu_nice
        )
    except (ResourceLimitError, OSError) as exc:
        err.print(f"[red]cannot apply the resource limits: {exc}[/red]")
        raise typer.Exit(2) from exc


def _services() -> Services:
    from quizplatform.services.container import Services

    return Services.create(_settings())


def _describe(settings: Settings) -> str:
    if settings.uses_sqlite:
        return f"SQLite at {settings.async_database_url.split(':///', 1)[1]}"
    return "PostgreSQL"


if __name__ == "__main__":  # pragma: no cover
    app()
