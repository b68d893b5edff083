"""Where a backup repository and pgBackRest's own files live, the retention, and the
files made from them: the directories, the passphrase file and ``pgbackrest.conf``."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Private helpers of the sibling module, shared on purpose: the same rules for handing
# directories and files to the postgres user apply here.
from quizplatform.ops.postgres import (
    check_reachable,
    hand_over,
    make_dirs,
    postgres_ids,
    write_owned,
)
from quizplatform.ops.process import OpsError

RECORDS_DIR = "quiz-records"
CIPHER_TYPE = "aes-256-cbc"


@dataclass(frozen=True)
class PgTarget:
    """The cluster to back up and archive from (the current leader): data directory,
    port and Unix socket directory."""

    data_dir: Path
    port: int
    socket_dir: Path


@dataclass(kw_only=True)
class BackupSettings:
    """Where the repository and pgBackRest's files live, and the retention.

    Retention: pgBackRest keeps WAL only as far back as the oldest backup it keeps (WAL
    without a base backup older than it cannot be replayed), so "7 days of WAL" is really
    "full backups reaching 7 days back". With ``recovery_window_days`` > 0 the repository
    uses ``repo1-retention-full-type=time``: every full backup younger than that many days is
    kept, plus the newest older one, with all WAL from it on, so any moment of the last N
    days can be restored; ``retention_full`` is then not used. With 0 it keeps the newest
    ``retention_full`` full backups (``repo1-retention-full-type=count``) and their WAL.
    Incremental and differential backups expire with the full backup they build on.
    """

    repo_path: Path
    home: Path
    stanza: str = "quiz"
    database: str = "quiz"
    retention_full: int = 2
    recovery_window_days: int = 7
    # Must end in .conf and sit alone (with other .conf files of ours) in its directory:
    # that directory is pgBackRest's --config-include-path.
    cipher_pass_file: Path
    compress_type: str = "zst"
    process_max: int = 1
    archive_timeout: int = 60
    # How long the write-blocking step waits for writers' locks before it gives up.
    lock_timeout_seconds: float = 10.0
    # pg_amcheck --heapallindexed: also checks that every heap tuple has its index entries.
    heapallindexed: bool = True
    # `pgbackrest verify` (checksums of every backup file and WAL segment) before restoring.
    check_repository: bool = True
    backup_timeout: float = 6 * 3600
    restore_timeout: float = 6 * 3600

    @classmethod
    def under(cls, data_root: Path, **overrides: Any) -> BackupSettings:
        """The default layout under a stack's ``data_root`` (see the module docstring)."""
        home = Path(overrides.pop("home", data_root / "backup"))
        values: dict[str, Any] = {
            "repo_path": data_root / "pgbackrest",
            "home": home,
            "cipher_pass_file": home / "conf.d" / "repo-cipher.conf",
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        self.repo_path = Path(self.repo_path).absolute()
        self.home = Path(self.home).absolute()
        self.cipher_pass_file = Path(self.cipher_pass_file).absolute()
        if self.cipher_pass_file.suffix != ".conf":
            raise OpsError(
                f"cipher_pass_file {self.cipher_pass_file} must end in .conf "
                "(pgBackRest reads the *.conf files of its include directory)"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.stanza):
            raise OpsError(f"stanza {self.stanza!r}: letters, digits, - and _ only")
        if self.recovery_window_days < 0 or self.retention_full < 1:
            raise OpsError("retention: recovery_window_days >= 0 and retention_full >= 1")

    @property
    def config_file(self) -> Path:
        return self.home / "pgbackrest.conf"

    @property
    def include_dir(self) -> Path:
        return self.cipher_pass_file.parent

    @property
    def records_dir(self) -> Path:
        return self.repo_path / RECORDS_DIR / self.stanza


def prepare_files(settings: BackupSettings) -> None:
    """Create the directories (postgres, 0750), the passphrase file (once, 0600) and
    ``pgbackrest.conf``. Idempotent; refuses to invent a new passphrase for a repository
    that already holds backups."""
    try:
        _prepare(settings)
    except PermissionError as exc:
        raise OpsError(
            f"cannot prepare the backup files ({exc}): run as root or as postgres"
        ) from exc


def _prepare(s: BackupSettings) -> None:
    ids = postgres_ids()
    for directory in (s.home, s.repo_path, s.include_dir):
        make_dirs(directory.parent)
    for directory, mode in (
        (s.home, 0o750),
        (s.repo_path, 0o750),
        (s.home / "log", 0o750),
        (s.home / "lock", 0o750),
        (s.home / "spool", 0o750),
        (s.include_dir, 0o700),
    ):
        directory.mkdir(mode=mode, exist_ok=True)
        hand_over(directory, mode, ids)
    if ids is not None:
        for directory in (s.home, s.repo_path, s.include_dir):
            check_reachable(directory, ids)
    if not s.cipher_pass_file.exists():
        if (s.repo_path / "backup" / s.stanza / "backup.info").exists():
            raise OpsError(
                f"the repository {s.repo_path} is encrypted but its passphrase file "
                f"{s.cipher_pass_file} is missing: put back the copy you keep elsewhere "
                "(a new passphrase cannot read the existing backups)"
            )
        passphrase = secrets.token_urlsafe(48)
        write_owned(s.cipher_pass_file, f"[global]\nrepo1-cipher-pass={passphrase}\n")
    write_owned(s.config_file, pgbackrest_conf(s))


def pgbackrest_conf(s: BackupSettings) -> str:
    """The ``pgbackrest.conf`` a repository with settings ``s`` runs with (no passphrase
    in it)."""
    if s.recovery_window_days > 0:
        retention = {
            "repo1-retention-full-type": "time",
            "repo1-retention-full": str(s.recovery_window_days),
        }
    else:
        retention = {
            "repo1-retention-full-type": "count",
            "repo1-retention-full": str(s.retention_full),
        }
    options = {
        "repo1-path": str(s.repo_path),
        "repo1-cipher-type": CIPHER_TYPE,
        **retention,
        "log-path": str(s.home / "log"),
        "lock-path": str(s.home / "lock"),
        "spool-path": str(s.home / "spool"),
        "start-fast": "y",
        "compress-type": s.compress_type,
        "process-max": str(s.process_max),
        "archive-timeout": str(s.archive_timeout),
        "log-level-console": "warn",
        "log-level-file": "info",
    }
    body = "".join(f"{key}={value}\n" for key, value in options.items())
    return (
        "# Written by quizplatform.ops.backup from the stack's settings: do not edit.\n"
        f"# The passphrase is in {s.cipher_pass_file}; pg1-* options come per command.\n"
        f"[global]\n{body}"
    )
