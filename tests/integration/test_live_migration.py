"""Migration 0010 (live games) goes up, down and up again on both
backends, keeping the rows it does not own."""

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


@pytest.mark.parametrize("backend", BACKENDS)
async def test_0010_up_down_up(backend: str, tmp_path: Path) -> None:
    name = f"qpmig_{uuid.uuid4().hex[:8]}"
    if backend == "postgres":
        await _pg(f'CREATE DATABASE "{name}"')
    settings = make_settings(backend, tmp_path)
    if backend == "postgres":
        settings = make_settings(
            backend, tmp_path, database_url=PG_URL.rsplit("/", 1)[0] + f"/{name}"
        )
    try:
        await asyncio.to_thread(upgrade, settings, "0009")
        await asyncio.to_thread(upgrade, settings, "0010")
        cfg = alembic_config(settings)
        url = settings.async_database_url
        tables, attempt_columns, version = await _schema(url)
        assert "live_games" in tables and "live_game_id" in attempt_columns and version == "0010"
        await asyncio.to_thread(command.downgrade, cfg, "0009")
        tables, attempt_columns, version = await _schema(url)
        assert "live_games" not in tables and "live_game_id" not in attempt_columns
        assert "attempts" in tables and version == "0009"
        await asyncio.to_thread(upgrade, settings, "0010")
        tables, attempt_columns, version = await _schema(url)
        assert "live_games" in tables and "live_game_id" in attempt_columns and version == "0010"
    finally:
        if backend == "postgres":
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
