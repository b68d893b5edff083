"""Damage a pgBackRest repository on purpose (and repair it afterwards): the drills that
show `quiz backup verify` catches it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from quizplatform.ops.backup import BackupSettings


@contextlib.contextmanager
def damaged_backup_file(settings: BackupSettings, label: str) -> Iterator[Path]:
    """Flip 64 bytes in the middle of the largest file of backup ``label``'s full set;
    the file is put back as it was when the block ends."""
    full_label = label.split("_")[0]
    files = sorted(
        (settings.repo_path / "backup" / settings.stanza / full_label / "pg_data").rglob("*.zst"),
        key=lambda p: p.stat().st_size,
    )
    victim = files[-1]
    original = victim.read_bytes()
    damaged = bytearray(original)
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = bytes(b ^ 0xFF for b in damaged[middle : middle + 64])
    victim.write_bytes(bytes(damaged))
    try:
        yield victim
    finally:
        victim.write_bytes(original)
