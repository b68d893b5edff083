"""``quiz backup ...``: take, list, verify and restore the stack's backups (pgBackRest)."""

from __future__ import annotations

import json
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from quizplatform.cli_stack import DEFAULT_DIR, DirOption, _fail, _stack, console
from quizplatform.ops.process import OpsError

# What a command reports as `error: …`: our own errors and the file system's (a user
# that may not read the repository's files).
_ERRORS = (OpsError, OSError)

if TYPE_CHECKING:
    from quizplatform.ops.backup import BackupRepository, VerifyReport

backup_app = typer.Typer(
    help="Backups of the stack's database (pgBackRest): take them, list them, verify them "
    "by restoring into a scratch cluster, restore one.",
    no_args_is_help=True,
)


def _repository(directory: Path) -> tuple[Any, BackupRepository]:
    from quizplatform.ops.backup import BackupRepository

    stack = _stack(directory)
    try:
        return stack, BackupRepository(stack.backup_settings())
    except _ERRORS as exc:
        raise _fail(exc) from exc


@backup_app.command("create")
def create(
    directory: DirOption = DEFAULT_DIR,
    kind: Annotated[
        str, typer.Option("--type", help="full, diff (changes since the last full) or incr.")
    ] = "full",
) -> None:
    """Take a backup now, mark it with a restore point and wait until that is archived."""
    from quizplatform.ops.backup import KINDS

    if kind not in KINDS:
        raise _fail(ValueError(f"--type must be one of {', '.join(KINDS)}"))
    stack, repository = _repository(directory)
    started = time.monotonic()
    try:
        with console.status(f"{kind} backup") as status:
            record = repository.backup(
                stack.backup_target(),
                kind,
                progress=lambda m: status.update(m),
            )
    except _ERRORS as exc:
        raise _fail(exc) from exc
    console.print(
        f"[green]backup {record.label}[/green] ({record.type}) in "
        f"{time.monotonic() - started:.1f} s: {_size(record.size_bytes)} stored in the "
        f"repository for a {_size(record.database_size_bytes)} database; "
        f"restore point {record.restore_point}"
    )


@backup_app.command("list")
def list_backups(
    directory: DirOption = DEFAULT_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The backup sets in the repository, oldest first."""
    _, repository = _repository(directory)
    try:
        records = repository.list()
    except _ERRORS as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps({"backups": [r.to_json() for r in records]}, indent=2))
        return
    if not records:
        console.print("no backups yet (run `quiz backup create`)")
        return
    table = Table(caption="times in UTC; stored: bytes this backup added to the repository")
    table.add_column("label", no_wrap=True)  # the one thing to copy from this table
    for heading in ("type", "finished", "took", "stored", "verified"):
        table.add_column(heading, no_wrap=True)
    for r in records:
        table.add_row(
            r.label,
            r.type if r.complete else f"{r.type} [red](incomplete)[/red]",
            r.finished_at.strftime("%m-%d %H:%M"),
            f"{r.duration_seconds:.1f} s" if r.duration_seconds is not None else "-",
            _size(r.size_bytes),
            r.verified_at.strftime("%m-%d %H:%M") if r.verified_at else "-",
        )
    console.print(table)
    console.print(
        f"repository: {repository.settings.repo_path} "
        f"(database size at the newest backup: {_size(records[-1].database_size_bytes)})"
    )


@backup_app.command("verify")
def verify(
    directory: DirOption = DEFAULT_DIR,
    label: Annotated[
        str | None, typer.Option("--set", help="The backup to verify (default: the newest).")
    ] = None,
) -> None:
    """Restore a backup into a scratch cluster, recover it to its restore point, run
    pg_amcheck and the app's checks (schema, rows per table); the scratch cluster is
    always removed. Exit 1 when anything fails."""
    from quizplatform.ops.backup import BackupVerifyError, valid_label

    if label is not None and not valid_label(label):
        raise _fail(ValueError(f"--set {label!r} is not a backup label (see `quiz backup list`)"))
    _, repository = _repository(directory)
    try:
        with console.status("verifying") as status:
            report = repository.verify(label, progress=lambda m: status.update(f"verify: {m}"))
    except BackupVerifyError as exc:
        _print_report(exc.report)
        raise _fail(exc) from exc
    except _ERRORS as exc:
        raise _fail(exc) from exc
    _print_report(report)
    console.print(f"[green]backup {report.label} verified[/green] in {report.total_seconds:.1f} s")


@backup_app.command("restore")
def restore(
    directory: DirOption = DEFAULT_DIR,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time", help="Recover to this moment (ISO 8601 with a zone, e.g. ...T12:00:00Z)."
        ),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option("--set", help="Restore this backup (to its restore point, or to --to-time)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (without: say what it would do).")] = (
        False
    ),
) -> None:
    """Replace the stack's database with a backup, to a moment or to a backup's restore
    point. Without --yes it only prints what it would do."""
    from quizplatform.ops.backup import valid_label

    if to_time is None and label is None:
        raise _fail(ValueError("give --to-time TIMESTAMP or --set LABEL"))
    if label is not None and not valid_label(label):
        raise _fail(ValueError(f"--set {label!r} is not a backup label (see `quiz backup list`)"))
    moment = _parse_moment(to_time) if to_time is not None else None
    stack, repository = _repository(directory)
    data_dir = stack.db.members[0].data_dir  # the member a restore rebuilds first
    try:
        argv = repository.restore_argv(data_dir, to_time=moment, label=label)
    except _ERRORS as exc:
        raise _fail(exc) from exc
    if not yes:
        _print_restore_plan(stack, argv, moment, label)
        return
    try:
        with console.status("restoring") as status:
            report = stack.restore(
                to_time=moment, label=label, progress=lambda m: status.update(f"restore: {m}")
            )
    except _ERRORS as exc:
        raise _fail(exc) from exc
    console.print(
        f"[green]restored[/green] {report.target} in {report.total_seconds:.1f} s; "
        f"leader {report.leader}"
    )
    for step, seconds in report.steps.items():
        console.print(f"  {step.replace('_', ' '):24} {seconds:8.1f} s")
    if report.backup:
        console.print(f"full backup of the restored database: {report.backup}")
    else:
        console.print(
            f"[yellow]the full backup after the restore failed[/yellow] ({report.backup_error}): "
            "take one now (`quiz backup create --type full`)"
        )


@backup_app.command("scheduler", hidden=True)
def scheduler(
    directory: DirOption = DEFAULT_DIR,
    metrics_port: Annotated[
        int | None, typer.Option(help="Metrics port (default: the stack's backup_metrics_port).")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics bind.")] = "127.0.0.1",
    pg_data: Annotated[
        Path | None,
        typer.Option(
            help="Without a stack (Docker Compose): the data directory of the PostgreSQL "
            "to back up, shared with this process; the options below then apply."
        ),
    ] = None,
    pg_port: Annotated[int, typer.Option(help="Its port.")] = 5432,
    pg_socket_dir: Annotated[Path, typer.Option(help="Its Unix socket directory.")] = Path(
        "/var/run/postgresql"
    ),
    repo: Annotated[Path, typer.Option(help="The pgBackRest repository.")] = Path(
        "/var/lib/pgbackrest"
    ),
    home: Annotated[Path, typer.Option(help="pgBackRest's configuration, logs and locks.")] = Path(
        "/var/lib/quiz-backup"
    ),
    schedule: Annotated[
        str,
        typer.Option(
            envvar="QUIZ_BACKUP_SCHEDULE",
            help="Seconds between full backups, incremental ones, verifications, retries.",
        ),
    ] = "86400,3600,86400,300",
) -> None:
    """Run the backup scheduler (the stack runs this under supervisord; Docker Compose
    runs it with --pg-data)."""
    from quizplatform.ops import backup_scheduler
    from quizplatform.runtime.logging import configure_logging
    from quizplatform.runtime.settings import Settings

    try:
        if pg_data is None:
            stack = _stack(directory)
            configure_logging(Settings(env="staging", instance_id="backup-scheduler"))
            port = metrics_port or stack.config.backup_metrics_port
            backup_scheduler.run_for_stack(stack, port, metrics_host)
            return
        from quizplatform.ops.backup import BackupSettings, PgTarget

        configure_logging(Settings(env="staging", instance_id="backup-scheduler"))
        backup_scheduler.run_standalone(
            BackupSettings(
                repo_path=repo, home=home, cipher_pass_file=home / "conf.d" / "repo-cipher.conf"
            ),
            PgTarget(data_dir=pg_data, port=pg_port, socket_dir=pg_socket_dir),
            backup_scheduler.schedule_from(schedule),
            metrics_port or 9098,
            metrics_host,
        )
    except OpsError as exc:
        raise _fail(exc) from exc
    except OSError as exc:
        raise _fail(OpsError(f"cannot serve the backup metrics: {exc}")) from exc


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(ValueError(f"--to-time {text!r} is not an ISO 8601 time")) from exc
    if moment.tzinfo is None:
        raise _fail(ValueError(f"--to-time {text!r} needs a time zone, e.g. {text}Z"))
    return moment.astimezone(UTC)


def _print_restore_plan(
    stack: Any, argv: list[str], moment: datetime | None, label: str | None
) -> None:
    from quizplatform.ops.restore import RestoreTarget, plan

    chosen = next((a.split("=", 1)[1] for a in argv if a.startswith("--set=")), "the newest")
    console.print(f"[bold]dry run[/bold] (add --yes to do it): restore the stack in {stack.dir}")
    console.print(f"starting from backup {chosen}. That would:")
    for number, line in enumerate(plan(stack, RestoreTarget(moment, label)), start=1):
        console.print(f"  {number}. {line}")
    console.print("The restore runs, as the postgres user:", highlight=False)
    console.print("  " + shlex.join(argv), soft_wrap=True, highlight=False)
    console.print("Data written after the target is not in the restored database.")


def _print_report(report: VerifyReport) -> None:
    steps = Table("step", "seconds", title=f"verify {report.label}")
    for name, seconds in report.steps:
        steps.add_row(name, f"{seconds:.2f}")
    console.print(steps)
    if report.tables:
        tables = Table("table", "rows at the restore point", "rows restored", "")
        for t in report.tables:
            mark = "[green]ok[/green]" if t.ok else "[red]differs[/red]"
            tables.add_row(t.table, _count(t.expected), _count(t.found), mark)
        console.print(tables)
    if report.schema_found is not None:
        console.print(
            f"schema: {report.schema_found} (recorded {report.schema_recorded}, "
            f"code head {report.schema_head})"
        )
    if report.amcheck:
        console.print(f"pg_amcheck: {report.amcheck}")
    removed = "removed" if report.scratch_removed else "[red]NOT removed[/red]"
    console.print(f"scratch cluster {report.scratch_dir}: {removed}")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GB"
