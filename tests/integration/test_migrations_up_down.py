"""Migrations that add a table and a column to ``attempts`` go up, down and up again on
both backends: 0008 (the question bank's draws) and 0010 (live games)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import BACKENDS, PG_URL, make_settings

from quizplatform.db.migrate import alembic_config, upgrade


async def _schema(url: str) -> tuple[set[str], set[str], str | None]:
    """The tables, the attempts' columns and the Alembic version of the database."""

    def read(conn: Connection) -> tuple[set[str], set[str], str | None]:
        found = inspect(conn)
        columns = {c["name"] for c in found.get_columns("attempts")}
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return set(found.get_table_names()), columns, None if version is None else str(version)

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def _pg(statement: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


MIGRATIONS = [
    # (revision, the one before, the table it adds, the column it adds to attempts)
    ("0008", "0007", "quiz_draws", "drawn"),
    ("0010", "0009", "live_games", "live_game_id"),
]


@pytest.mark.parametrize(("revision", "before", "table", "column"), MIGRATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_up_down_up(
    backend: str, revision: str, before: str, table: str, column: str, tmp_path: Path
) -> None:
    name = f"qpmig_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        await _pg(f'CREATE DATABASE "{name}"')
    settings = make_settings(backend, tmp_path)
    if backend == "postgres":
        settings = make_settings(
            backend, tmp_path, database_url=PG_URL.rsplit("/", 1)[0] + f"/{name}"
        )
    try:
        await asyncio.to_thread(upgrade, settings, before)
        await asyncio.to_thread(upgrade, settings, revision)
        cfg = alembic_config(settings)
        url = settings.async_database_url
        tables, attempt_columns, version = await _schema(url)
        assert table in tables and column in attempt_columns and version == revision
        await asyncio.to_thread(command.downgrade, cfg, before)
        tables, attempt_columns, version = await _schema(url)
        assert table not in tables and column not in attempt_columns
        assert "attempts" in tables and version == before
        await asyncio.to_thread(upgrade, settings, revision)
        tables, attempt_columns, version = await _schema(url)
        assert table in tables and column in attempt_columns and version == revision
    finally:
        if backend == "postgres":
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
