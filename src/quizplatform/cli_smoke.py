"""``quiz smoke URL`` (the post-deploy check) and ``quiz smoke setup`` (its account)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer._click.core import Command, Context
from typer.core import TyperGroup

from quizplatform.ops.process import write_private
from quizplatform.ops.smoke import (
    SmokeCredentials,
    SmokeError,
    SmokeReport,
    run_smoke,
    tls_verify,
)

console = Console()
err = Console(stderr=True)


class _UrlOrCommand(TyperGroup):
    """``quiz smoke URL ...`` runs the check (the ``run`` command); ``quiz smoke setup``
    and ``quiz smoke run URL`` work as commands."""

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


smoke_app = typer.Typer(
    cls=_UrlOrCommand,
    help="The post-deploy smoke test: `quiz smoke URL` runs a short real journey (health, "
    "sign in, take the smoke quiz, metrics); `quiz smoke setup` creates its account.",
    no_args_is_help=True,
)


def default_credentials_file() -> Path:
    """``<QUIZ_DATA_DIR or var>/smoke-credentials.json``."""
    return Path(os.environ.get("QUIZ_DATA_DIR") or "var") / "smoke-credentials.json"


CredentialsOption = Annotated[
    Path | None,
    typer.Option(
        "--credentials-file",
        help="The smoke account's credentials (JSON, written by `quiz smoke setup`; "
        "default <QUIZ_DATA_DIR or var>/smoke-credentials.json).",
        show_default=False,
    ),
]


@smoke_app.command("run")
def smoke_run(
    url: Annotated[str, typer.Argument(help="The public address, e.g. https://quiz.example.org")],
    credentials_file: CredentialsOption = None,
    pool_secret_file: Annotated[
        Path | None,
        typer.Option(help="File with the X-Quiz-Pool value that reaches a candidate pool."),
    ] = None,
    metrics_url: Annotated[
        str | None,
        typer.Option(help="The internal listener's /metrics (never the public frontend)."),
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="CA certificate to trust (a stack's tls/ca.pem).")
    ] = None,
    insecure: Annotated[bool, typer.Option(help="Do not check the TLS certificate.")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run the journey against URL; exit 0 if every step passed, 1 otherwise."""
    try:
        credentials = SmokeCredentials.load(credentials_file or default_credentials_file())
        pool_secret = pool_secret_file.read_text().strip() if pool_secret_file else None
        verify = tls_verify(ca_file, insecure)
    except (SmokeError, OSError) as exc:
        _print_problem(str(exc), url, as_json)
        raise typer.Exit(1) from exc
    report = run_smoke(
        url,
        credentials,
        pool_secret=pool_secret,
        metrics_url=metrics_url,
        verify=verify,
        timeout=timeout,
    )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_problem(problem: str, url: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"url": url, "ok": False, "error": problem, "steps": []}))
    else:
        err.print(f"[red]smoke test not run:[/red] {problem}")


def _print_report(report: SmokeReport) -> None:
    table = Table("step", "result", "ms", "detail", title=f"smoke test of {report.url}")
    for step in report.steps:
        mark = "[green]ok[/green]" if step.ok else "[red]failed[/red]"
        table.add_row(step.name, mark, f"{step.ms:.0f}", step.detail)
    console.print(table)
    failed = report.failed_step()
    if failed is None:
        console.print(f"[green]smoke test passed[/green] ({len(report.steps)} steps)")
    else:
        err.print(f"[red]smoke test failed at {failed.name!r}:[/red] {failed.detail}")


@smoke_app.command("setup")
def smoke_setup(
    credentials_file: CredentialsOption = None,
    email: Annotated[str | None, typer.Option(help="The smoke account's email.")] = None,
) -> None:
    """Create (idempotently) the smoke account and its unlisted quiz in the configured
    database; write its credentials (0600). Its attempts stay out of leaderboards and
    reports; its quiz out of the listing."""
    from quizplatform.runtime.settings import SettingsError, load_settings
    from quizplatform.services.container import Services
    from quizplatform.services.errors import ServiceError
    from quizplatform.services.smoke import SMOKE_EMAIL
    from quizplatform.services.smoke_setup import set_up_smoke

    path = credentials_file or default_credentials_file()
    known = _known(path)

    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    address = email or (known.email if known else SMOKE_EMAIL)

    async def run() -> Any:
        services = Services.create(settings)
        try:
            return await set_up_smoke(services, address, known.password if known else None)
        finally:
            await services.close()

    try:
        account = asyncio.run(run())
    except ServiceError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    credentials = SmokeCredentials(account.email, account.password, account.quiz_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, credentials.to_json(), mode=0o600)
    for line in account.done or ("the smoke account and quiz were already set up",):
        console.print(line)
    console.print(f"credentials in {path}")


def _known(path: Path) -> SmokeCredentials | None:
    try:
        return SmokeCredentials.load(path)
    except SmokeError:
        return None
