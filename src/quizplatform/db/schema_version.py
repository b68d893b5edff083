"""The schema revision this code expects, and the one a database is at, without Alembic.

The serving process checks both on every readiness probe. Alembic computes them by
importing itself, Mako and every migration module: ~8 MB of the instance's memory for two
strings (measured: RSS after ``code_head_revision()``). So this reads the migration files
as text and the ``alembic_version`` table with one query; ``db/migrate.py`` (Alembic)
stays the tool that migrates, and a test checks that both agree.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


class SchemaHeadError(RuntimeError):
    """The migrations do not end in exactly one head."""


def code_head(versions_dir: Path = VERSIONS_DIR) -> str | None:
    """The head revision of the migrations in ``versions_dir`` (None when there are none):
    the one revision no other revision names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions_dir.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    if len(heads) > 1:
        raise SchemaHeadError(f"the migrations have several heads: {', '.join(sorted(heads))}")
    return next(iter(heads), None)


async def database_revision(conn: AsyncConnection) -> str | None:
    """The revision the connected database is at (None when it was never migrated)."""
    if conn.dialect.name == "sqlite":
        found = await conn.scalar(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
        )
    else:
        found = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not found:
        return None
    rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    if len(rows) > 1:
        raise SchemaHeadError("the database is at several revisions")
    return str(rows[0][0]) if rows else None
