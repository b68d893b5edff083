"""pgBackRest's command line for one repository and stanza: the options every command
takes, running a command as ``postgres``, reading ``pgbackrest info``, and the lock that
keeps one backup (and one verification) at a time per repository."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quizplatform.ops.backup_settings import BackupSettings, PgTarget
from quizplatform.ops.postgres import PG_USER, hand_over, postgres_ids
from quizplatform.ops.process import OpsError, run, which

WORK_DIR = Path("/")  # working directory for commands run as postgres


class PgBackRest:
    """The ``pgbackrest`` commands of one repository (``settings``), run as postgres."""

    def __init__(self, settings: BackupSettings) -> None:
        self.settings = settings

    def binary(self) -> str:
        """The pgbackrest executable."""
        return which("pgbackrest", "/usr/bin")

    def config_options(self) -> list[str]:
        """Where every command finds its configuration (and the passphrase's include)."""
        s = self.settings
        return [f"--config={s.config_file}", f"--config-include-path={s.include_dir}"]

    @staticmethod
    def pg_options(target: PgTarget) -> list[str]:
        """The options that name the cluster a command works on."""
        return [
            f"--pg1-path={target.data_dir}",
            f"--pg1-port={target.port}",
            f"--pg1-socket-path={target.socket_dir}",
        ]

    def run(self, command: str, *options: str, what: str, timeout: float = 600) -> str:
        """Run ``pgbackrest <options> command`` for the stanza; its output."""
        argv = [
            self.binary(),
            *self.config_options(),
            f"--stanza={self.settings.stanza}",
            *options,
            command,
        ]
        return run(argv, what=what, user=PG_USER, cwd=WORK_DIR, timeout=timeout)

    def info_sets(self) -> list[dict[str, Any]]:
        """The backup sets ``pgbackrest info`` lists for the stanza (raw JSON objects)."""
        out = self.run("info", "--output=json", what="pgBackRest info", timeout=120)
        try:
            stanzas = json.loads(out)
        except ValueError as exc:
            raise OpsError(f"pgBackRest info printed no JSON: {out[:200]}") from exc
        for stanza in stanzas:
            if stanza.get("name") == self.settings.stanza:
                status = stanza.get("status", {})
                if status.get("code") not in (0, 1, 2):  # ok, missing stanza, no backup
                    raise OpsError(f"pgBackRest info: {status.get('message')}")
                return list(stanza.get("backup", []))
        return []

    @contextlib.contextmanager
    def exclusive(self, what: str) -> Iterator[None]:
        """One backup (and one verify) at a time per repository, across processes."""
        path = self.settings.home / f"{what}.lock"
        with path.open("a") as lock:
            hand_over(path, 0o640, postgres_ids())
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise OpsError(
                    f"another {what} of this repository is running (lock {path}); "
                    "try again when it ends"
                ) from exc
            yield
