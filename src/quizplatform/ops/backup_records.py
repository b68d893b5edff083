"""What the backup module reports: the record of each backup set (joined from
``pgbackrest info`` and our own record of its restore point), a verification's report, and
the JSON forms of both."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from quizplatform.ops.process import OpsError

BackupKind = Literal["full", "diff", "incr"]
KINDS: tuple[BackupKind, ...] = ("full", "diff", "incr")
RESTORE_POINT_PREFIX = "quiz-"
_LABEL = re.compile(r"^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$")


class BackupVerifyError(OpsError):
    """A verification found a problem; ``report`` says what was checked and what failed."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        super().__init__(
            f"verification of backup {report.label} failed: " + " ".join(report.problems)
        )


class BackupRecordJson(TypedDict):
    """``BackupRecord.to_json``: one backup as ``quiz backup list --json`` prints it."""

    label: str
    type: str
    started_at: str
    finished_at: str
    size_bytes: int
    database_size_bytes: int
    wal_start: str
    wal_stop: str
    prior: str | None
    restore_point: str | None
    duration_seconds: float | None
    verified_at: str | None
    verify_seconds: float | None


class BackupSummary(TypedDict):
    """``summary``: the backups in a status report (``error``: the repository is unreadable)."""

    last_backup: BackupRecordJson | None
    last_verify: BackupRecordJson | None
    error: NotRequired[str]


@dataclass(frozen=True)
class BackupRecord:
    """One backup set as ``quiz backup list --json`` prints it.

    ``size_bytes`` is what the set stored in the repository (compressed and encrypted; for
    an incremental backup only what changed since its prior backup); ``database_size_bytes``
    is the size of the cluster it restores. ``started_at``/``finished_at`` are pgBackRest's
    (the copy); ``duration_seconds`` is the whole ``backup()`` including the restore point and
    the wait for its WAL to be archived. ``restore_point`` is None for a set that did not
    complete that step (taken outside ``backup()``, or whose marking failed): such a set is
    never used as "the last backup" and cannot be verified.
    """

    label: str
    type: str
    started_at: datetime
    finished_at: datetime
    size_bytes: int
    database_size_bytes: int
    wal_start: str
    wal_stop: str
    prior: str | None
    restore_point: str | None
    duration_seconds: float | None
    verified_at: datetime | None
    verify_seconds: float | None

    @property
    def complete(self) -> bool:
        return self.restore_point is not None

    def to_json(self) -> BackupRecordJson:
        """The JSON form (RFC 3339 UTC times)."""
        return {
            "label": self.label,
            "type": self.type,
            "started_at": rfc3339(self.started_at),
            "finished_at": rfc3339(self.finished_at),
            "size_bytes": self.size_bytes,
            "database_size_bytes": self.database_size_bytes,
            "wal_start": self.wal_start,
            "wal_stop": self.wal_stop,
            "prior": self.prior,
            "restore_point": self.restore_point,
            "duration_seconds": self.duration_seconds,
            "verified_at": rfc3339(self.verified_at) if self.verified_at else None,
            "verify_seconds": self.verify_seconds,
        }


@dataclass
class TableCheck:
    """Rows of one table: recorded at backup time, found in the restored database."""

    table: str
    expected: int | None
    found: int | None

    @property
    def ok(self) -> bool:
        return self.expected == self.found


@dataclass
class VerifyReport:
    """What a verification did, how long each step took, and what it found."""

    label: str
    restore_point: str
    steps: list[tuple[str, float]] = field(default_factory=list)
    tables: list[TableCheck] = field(default_factory=list)
    schema_recorded: str | None = None
    schema_found: str | None = None
    schema_head: str | None = None
    amcheck: str = ""
    problems: list[str] = field(default_factory=list)
    scratch_dir: str = ""
    scratch_removed: bool = False
    total_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "restore_point": self.restore_point,
            "ok": self.ok,
            "problems": self.problems,
            "steps": [{"step": name, "seconds": round(sec, 3)} for name, sec in self.steps],
            "tables": [
                {"table": t.table, "expected": t.expected, "found": t.found} for t in self.tables
            ],
            "schema": {
                "recorded": self.schema_recorded,
                "found": self.schema_found,
                "head": self.schema_head,
            },
            "amcheck": self.amcheck,
            "scratch_dir": self.scratch_dir,
            "scratch_removed": self.scratch_removed,
            "total_seconds": round(self.total_seconds, 3),
        }


EPOCH = datetime.fromtimestamp(0, UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def record_from(item: dict[str, Any], ours: dict[str, Any] | None) -> BackupRecord:
    """A BackupRecord from one set of ``pgbackrest info --output=json`` and our record."""
    ours = ours or {}
    info = item.get("info", {})
    repository = info.get("repository", {})
    archive = item.get("archive") or {}
    stamps = item.get("timestamp", {})
    return BackupRecord(
        label=str(item["label"]),
        type=str(item.get("type", "")),
        started_at=datetime.fromtimestamp(int(stamps.get("start", 0)), UTC),
        finished_at=datetime.fromtimestamp(int(stamps.get("stop", 0)), UTC),
        size_bytes=int(repository.get("delta", 0)),
        database_size_bytes=int(info.get("size", 0)),
        wal_start=str(archive.get("start") or ""),
        wal_stop=str(archive.get("stop") or ""),
        prior=item.get("prior"),
        restore_point=ours.get("restore_point"),
        duration_seconds=ours.get("duration_seconds"),
        verified_at=_parse_time(ours.get("verified_at")),
        verify_seconds=ours.get("verify_seconds"),
    )


def valid_label(label: str) -> bool:
    """True for a pgBackRest backup label (``20260131-120000F``, ``…F_20260131-130000I``)."""
    return bool(_LABEL.match(label))
