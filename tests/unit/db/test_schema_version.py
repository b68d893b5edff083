"""The schema revisions read without Alembic agree with Alembic's (``db/schema_version.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import make_settings

from quizplatform.db.migrate import MIGRATIONS_DIR, upgrade
from quizplatform.db.schema_version import SchemaHeadError, code_head, database_revision


def test_the_code_head_is_alembics() -> None:
    assert code_head() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def _migration(folder: Path, revision: str, down: str) -> None:
    (folder / f"{revision}.py").write_text(
        f'"""{revision}"""\nrevision: str = "{revision}"\ndown_revision: str | None = {down}\n'
    )


def test_a_branch_is_refused_and_no_migration_is_no_head(tmp_path: Path) -> None:
    assert code_head(tmp_path) is None
    _migration(tmp_path, "0001", "None")
    _migration(tmp_path, "0002", '"0001"')
    assert code_head(tmp_path) == "0002"
    _migration(tmp_path, "0003", '"0001"')
    with pytest.raises(SchemaHeadError, match="0002, 0003"):
        code_head(tmp_path)
    _migration(tmp_path, "0004", '("0002", "0003")')  # a merge point ends the branch
    assert code_head(tmp_path) == "0004"


async def test_the_database_revision_before_and_after_migrating(tmp_path: Path) -> None:
    settings = make_settings("sqlite", tmp_path)
    engine = create_async_engine(settings.async_database_url)
    try:
        async with engine.connect() as conn:
            assert await database_revision(conn) is None
        await asyncio.to_thread(upgrade, settings)  # Alembic runs its own event loop
        async with engine.connect() as conn:
            assert await database_revision(conn) == code_head()
    finally:
        await engine.dispose()
