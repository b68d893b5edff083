"""The ``quiz`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from quizplatform.cli_config import config_app
from quizplatform.runtime.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from quizplatform.services.container import Services

app = typer.Typer(
    help="Quiz Platform: serve the app, migrate the database, manage users.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(config_app, name="config")
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

    from quizplatform.api.app import create_app
    from quizplatform.runtime.lifecycle import GracefulServer

    settings = _settings(host=host, port=port)
    try:
        application = create_app(settings)
    except SettingsError as exc:
        err.print(f"[red]refusing to start in {settings.env}:[/red]")
        for problem in exc.problems:
            err.print(f"  - {problem}")
        raise typer.Exit(2) from exc
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
    )

    def start_draining() -> None:
        application.state.draining = True
        application.state.services.metrics.draining.set(1)

    server = GracefulServer(
        config, drain_delay=settings.shutdown_drain_delay, on_drain=start_draining
    )
    server.run()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the schema migrations (safe to run again)."""
    from quizplatform.db.migrate import upgrade

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


def _services() -> Services:
    from quizplatform.services.container import Services

    return Services.create(_settings())


def _describe(settings: Settings) -> str:
    if settings.uses_sqlite:
        return f"SQLite at {settings.async_database_url.split(':///', 1)[1]}"
    return "PostgreSQL"


if __name__ == "__main__":  # pragma: no cover
    app()
