"""Schema migrations (Alembic) driven from the application's settings."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from quizplatform.runtime.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at the package's migrations and the settings' database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.async_database_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    if settings.uses_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def code_head_revision() -> str | None:
    """The head revision of this code's migrations (no database or settings needed)."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the connected database is at (None when never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()
