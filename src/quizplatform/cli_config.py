"""``quiz config``: where each setting comes from, and whether it is fit to run."""

from __future__ import annotations

import json
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from quizplatform.runtime.settings import (
    LOADING_ERRORS,
    Environment,
    SettingSource,
    SettingValue,
    configuration_problems,
    explain_settings,
    loading_problems,
    profile_path,
    setting_origins,
)

config_app = typer.Typer(
    help="Inspect the configuration: each value's source, and its fitness for production.",
    no_args_is_help=True,
)

ENVIRONMENTS: tuple[str, ...] = get_args(Environment)

EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        help=f"Environment to compute for ({', '.join(ENVIRONMENTS)}); overrides QUIZ_ENV "
        "and chooses config/<env>.toml.",
        show_default=False,
    ),
]


def _checked_env(env: str | None) -> str | None:
    if env is not None and env not in ENVIRONMENTS:
        typer.echo(f"--env must be one of {', '.join(ENVIRONMENTS)} (got {env!r})", err=True)
        raise typer.Exit(2)
    return env


def _fail(problems: list[str]) -> typer.Exit:
    for problem in problems:
        typer.echo(problem, err=True)
    return typer.Exit(1)


def _explain(env: str | None) -> list[SettingSource]:
    try:
        return explain_settings(env)
    except LOADING_ERRORS as exc:
        try:
            origins: dict[str, str] | None = setting_origins(**({"env": env} if env else {}))
        except LOADING_ERRORS:  # a source itself is what failed
            origins = None
        raise _fail(loading_problems(exc, origins)) from exc


def _render(value: SettingValue) -> Text:
    if value is None:
        return Text("(unset)", style="dim")
    if isinstance(value, list | dict):
        return Text(json.dumps(value))
    if isinstance(value, bool):
        return Text("true" if value else "false")
    return Text(str(value))


@config_app.command("show")
def show(
    env: EnvOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list instead of a table.")
    ] = False,
) -> None:
    """Show every setting, its effective value (secrets redacted) and its source."""
    env = _checked_env(env)
    rows = _explain(env)
    if as_json:
        payload = [{"name": r.name, "value": r.value, "source": r.source} for r in rows]
        typer.echo(json.dumps(payload, indent=2))
        return
    effective_env = next((r.value for r in rows if r.name == "env"), env)
    profile = profile_path(str(effective_env) if effective_env else None)
    found = "" if profile.is_file() else " (not found)"
    table = Table(
        title=f"settings for {effective_env}",
        caption=f"profile: {profile}{found}",
        caption_justify="left",
    )
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for row in rows:
        table.add_row(row.name, _render(row.value), row.source)
    Console().print(table)


@config_app.command("check")
def check(env: EnvOption = None) -> None:
    """Exit 0 if the configuration is fit for its environment; else print each problem."""
    env = _checked_env(env)
    settings, problems = configuration_problems(env)
    if problems:
        raise _fail(problems)
    name = settings.env if settings is not None else env
    typer.echo(f"configuration OK for {name}")
