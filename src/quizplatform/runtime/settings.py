"""One ``Settings`` object for the whole process, built once at start-up and passed down.

Precedence (lowest first): defaults < ``config/<env>.toml`` < environment (``QUIZ_*``)
< secret files (``QUIZ_<NAME>_FILE``). ``production`` refuses to start on settings that
are only fit for a laptop, and ``problems()`` says exactly why.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Environment = Literal["development", "staging", "production"]
DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me"  # noqa: S105 - the known-bad default
ENV_PREFIX = "QUIZ_"


class SettingsError(RuntimeError):
    """The settings cannot be used in the chosen environment."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, frozen=True
    )

    env: Environment = "development"
    debug: bool = False
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    version: str = "0.1.0"
    commit: str = "unknown"
    instance_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    config_dir: Path = Path("config")

    # Persistence. Without a database URL: SQLite under data_dir; without Redis: in-process.
    data_dir: Path = Path("var")
    database_url: str | None = None
    database_replica_urls: list[str] = Field(default_factory=list)
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 5.0
    redis_url: str | None = None

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1024 * 1024
    max_import_bytes: int = 5 * 1024 * 1024
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)

    # Accounts
    allow_teacher_registration: bool = True
    token_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 5
    login_window_seconds: int = 15 * 60

    # Abuse protection: "requests/seconds" per route group (auth, import, write, read).
    rate_limit_enabled: bool = True
    rate_limits_per_ip: dict[str, str] = Field(
        default_factory=lambda: {
            "auth": "60/60",
            "import": "60/60",
            "write": "3000/60",
            "read": "12000/60",
        }
    )
    rate_limits_per_user: dict[str, str] = Field(
        default_factory=lambda: {
            "auth": "30/60",
            "import": "30/60",
            "write": "1200/60",
            "read": "6000/60",
        }
    )

    # Lifecycle: on SIGTERM turn not-ready, keep serving for the drain delay, then stop
    # accepting and give in-flight requests up to the shutdown timeout.
    shutdown_drain_delay: float = 5.0
    shutdown_timeout: float = 30.0

    # Caching and background work
    quiz_cache_ttl_seconds: float = 60.0
    token_cache_ttl_seconds: float = 30.0
    attempt_sweep_interval_seconds: float = 30.0
    leaderboard_limit_max: int = 100

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, secret files, environment, then the TOML profile.
        return (
            init_settings,
            SecretFileSource(settings_cls),
            env_settings,
            TomlProfileSource(settings_cls, init_settings),
        )

    # -- derived values -------------------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url is None or self.database_url.startswith("sqlite")

    @property
    def async_database_url(self) -> str:
        """The SQLAlchemy URL with the async driver the app uses."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'quiz.sqlite3').resolve()}"
        return to_async_url(self.database_url)

    def problems(self) -> list[str]:
        """Everything that makes these settings unfit for their environment."""
        found: list[str] = []
        if self.env != "production":
            return found
        if self.secret_key.get_secret_value() in {DEFAULT_SECRET_KEY, ""}:
            found.append(
                "QUIZ_SECRET_KEY is the built-in default; set a random secret "
                "(or QUIZ_SECRET_KEY_FILE)"
            )
        elif len(self.secret_key.get_secret_value()) < 32:
            found.append("QUIZ_SECRET_KEY is shorter than 32 characters")
        if self.debug:
            found.append("QUIZ_DEBUG is on; production must run with debug off")
        if self.uses_sqlite:
            found.append(
                "the database is SQLite; production needs PostgreSQL (set QUIZ_DATABASE_URL)"
            )
        if self.redis_url is None:
            found.append(
                "QUIZ_REDIS_URL is not set; several instances need Redis for sessions, "
                "lockouts and leaderboards"
            )
        return found

    def ensure_startable(self) -> None:
        """Raise ``SettingsError`` naming every problem if these settings must not run."""
        found = self.problems()
        if found:
            raise SettingsError(found)


def to_async_url(url: str) -> str:
    """Map the plain URL forms of the contract to the async drivers the app uses."""
    for prefix in ("postgresql+asyncpg://", "sqlite+aiosqlite://"):
        if url.startswith(prefix):
            return url
    for plain in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")


class SecretFileSource(PydanticBaseSettingsSource):
    """``QUIZ_<NAME>_FILE=/run/secrets/x`` reads the value of ``<name>`` from that file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text().strip(), field_name, False
        except OSError as exc:
            raise SettingsError(
                [f"{ENV_PREFIX}{field_name.upper()}_FILE: cannot read {path}: {exc.strerror}"]
            ) from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                values[key] = value
        return values


class TomlProfileSource(PydanticBaseSettingsSource):
    """Values from ``<config_dir>/<env>.toml`` (a missing file means no values)."""

    def __init__(
        self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self._init = init_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        explicit = self._init()
        env = explicit.get("env") or os.environ.get(f"{ENV_PREFIX}ENV") or "development"
        config_dir = Path(
            explicit.get("config_dir") or os.environ.get(f"{ENV_PREFIX}CONFIG_DIR") or "config"
        )
        path = config_dir / f"{env}.toml"
        if not path.is_file():
            return {}
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        fields = self.settings_cls.model_fields
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SettingsError([f"{path}: unknown setting(s): {', '.join(unknown)}"])
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from all sources; keyword arguments win over everything."""
    return Settings(**overrides)
