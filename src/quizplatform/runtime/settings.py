"""One ``Settings`` object for the whole process, built once at start-up and passed down.

Precedence (lowest first): defaults < ``config/<env>.toml`` < environment (``QUIZ_*``)
< secret files (``QUIZ_<NAME>_FILE``). ``production`` refuses to start on settings that
are only fit for a laptop, and ``problems()`` says exactly why. ``explain_settings()``
says which of those sources each effective value came from.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceParseError

Environment = Literal["development", "staging", "production"]
LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]
AIProviderName = Literal["offline", "gemini", "openai"]
AIFallbackName = Literal["gemini", "openai", "cache", "offline"]
CACHE_STEP: AIFallbackName = "cache"
DEFAULT_SECRET_KEY = "dev-insecure-secret-change-me"  # noqa: S105 - the known-bad default
ENV_PREFIX = "QUIZ_"
MIN_SECRET_LENGTH = 32
REDACTED = "***"
_BOOL: TypeAdapter[bool] = TypeAdapter(bool)


class SettingsError(RuntimeError):
    """The settings cannot be used in the chosen environment."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))


def variable_for(field_name: str) -> str:
    """The environment variable that sets ``field_name`` (``port`` -> ``QUIZ_PORT``)."""
    return f"{ENV_PREFIX}{field_name.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", validate_default=True, frozen=True
    )

    env: Environment = "development"
    debug: bool = False
    # Unset: DEBUG when debug is on, else INFO (see ``_log_level_follows_debug``).
    log_level: LogLevel = "INFO"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    version: str = "0.1.0"
    commit: str = "unknown"
    instance_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    config_dir: Path = Path("config")

    # Persistence. Without a database URL: SQLite under data_dir; without Redis: in-process.
    data_dir: Path = Path("var")
    database_url: str | None = None
    database_replica_urls: list[str] = Field(default_factory=list)
    # With replicas: how long after a user's write that user's reads stay on the primary
    # (and cache fills after an invalidation come from the primary). Keep it above the
    # replicas' usual lag.
    read_your_writes_seconds: float = Field(default=5.0, ge=0)
    db_pool_size: int = 20
    # Overflow connections are opened and closed again under load (a new PostgreSQL
    # connection costs ~9 ms of server CPU): a larger pool and no overflow queue instead.
    db_max_overflow: int = 0
    db_pool_timeout_seconds: float = 5.0
    # Database failover (read-only mode, api/retry.py): a request interrupted because the
    # database has no leader is run again for up to this long after its first failure
    # (a planned switchover takes 2-5 s), then answered 503 read_only. 0: never run again.
    db_leader_wait_seconds: float = Field(default=10.0, ge=0, le=60)
    redis_url: str | None = None
    # Redis behind Sentinel: each sentinel's "host:port" (JSON list). The store asks them
    # for the master and follows it through failovers; takes precedence over redis_url.
    redis_sentinels: list[str] = Field(default_factory=list)
    redis_sentinel_service: str = Field(default="quiz", min_length=1, max_length=64)
    # The password of the Redis servers and Sentinels (QUIZ_REDIS_PASSWORD_FILE in a stack);
    # with one server, a password in redis_url works too.
    redis_password: SecretStr | None = None
    # A Redis operation that meets connection errors retries (reconnecting, asking the
    # sentinels again) for this long before it fails: keep it above the failover time
    # (Sentinel's down-after-milliseconds plus ~2 s).
    redis_retry_seconds: float = Field(default=5.0, gt=0, le=60)
    # Every key this deployment writes starts with it: deployments can share one Redis.
    redis_prefix: str = Field(default="qp:", min_length=1, max_length=64)

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # the https:// address users reach
    tls_cert_file: Path | None = None  # both set: this instance terminates TLS itself
    tls_key_file: Path | None = None
    max_body_bytes: int = 1024 * 1024
    max_import_bytes: int = 2 * 1024 * 1024  # the readers' limit (domain/limits.py) too
    # CPU-heavy work (hashing, reading imports, offline drafts) at once per instance
    # (runtime/cpu.py); argon2 takes 64 MiB a hash.
    cpu_slots: int = Field(default=2, ge=1, le=32)
    import_deadline_seconds: float = Field(default=10.0, gt=0, le=300)
    trusted_proxies: list[str] = Field(default_factory=list)
    # Addresses many people share, such as a school's NAT address: a whole class signs in
    # from one address on exam day. Their per-address limits (rate limits, sign-in
    # failures) are multiplied by shared_address_factor; per-account and per-user limits
    # are not (docs/operations.md, "Exam day behind one address").
    shared_addresses: list[str] = Field(default_factory=list)
    shared_address_factor: int = Field(default=20, ge=1, le=10_000)
    cors_origins: list[str] = Field(default_factory=list)
    diagnostic_routes: bool = False  # test-only routes; never in production

    # Accounts
    allow_teacher_registration: bool = True
    token_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 5
    login_window_seconds: int = 15 * 60
    # Audit events older than this are deleted by `quiz audit purge` (run it daily).
    audit_retention_days: int = Field(default=365, ge=1, le=36500)
    # Password reset by e-mail; an empty smtp_host switches it off.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_from: str = ""  # the From address of reset messages
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None  # QUIZ_SMTP_PASSWORD_FILE
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    password_reset_ttl_seconds: int = Field(default=30 * 60, ge=60, le=7 * 86400)
    password_reset_per_address: int = Field(default=3, ge=1)  # per password_reset_window
    password_reset_per_ip: int = Field(default=10, ge=1)
    password_reset_window_seconds: int = Field(default=3600, ge=1)

    # Abuse protection: "requests/seconds" per route group (auth, import, write, read).
    rate_limit_enabled: bool = True
    rate_limits_per_ip: dict[str, str] = Field(
        default_factory=lambda: {
            "auth": "120/60",
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

    # Resource limits (see docs/operations.md, "Resource limits"). Above memory_limit_mb
    # of RSS the instance drains and exits 0 for its supervisor to start a fresh one
    # (0: off). address_space_limit_mb is a hard RLIMIT_AS backstop (0: off); Python and
    # uvloop reserve far more virtual memory than they use, so make it >= 4x the RSS
    # limit. cpu_nice lowers the process's CPU priority by that increment (0..19).
    memory_limit_mb: int = Field(default=0, ge=0)
    memory_check_interval_seconds: float = Field(default=5.0, gt=0)
    address_space_limit_mb: int = Field(default=0, ge=0)
    cpu_nice: int = Field(default=0, ge=0, le=19)

    # Caching and background work
    quiz_cache_ttl_seconds: float = 60.0
    token_cache_ttl_seconds: float = 30.0
    attempt_sweep_interval_seconds: float = 30.0
    leaderboard_limit_max: int = 100

    # Observability: OTLP endpoint for traces; tracing is off when unset.
    otel_endpoint: str | None = None

    # AI drafts (docs/operations.md, "AI drafts"). The primary provider is tried first,
    # then each fallback in order: another provider, "cache" (an earlier successful
    # generation of the same normalised request) or "offline" (no network at all).
    ai_provider: AIProviderName = "offline"
    ai_fallbacks: list[AIFallbackName] = Field(default_factory=lambda: [CACHE_STEP, "offline"])
    ai_gemini_api_key: SecretStr | None = None
    ai_gemini_model: str = "gemini-2.5-flash"
    ai_gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    # Any OpenAI-compatible chat-completions server: vLLM, Ollama, llama.cpp server.
    ai_openai_api_key: SecretStr | None = None
    ai_openai_model: str = "llama3.1"
    ai_openai_base_url: str = "http://127.0.0.1:11434/v1"
    # One call to a provider, start to end (connect, wait, read).
    ai_timeout_seconds: float = Field(default=20.0, gt=0)
    # Calls per request to a provider, the first included, on timeouts, 429 and 5xx;
    # waits grow exponentially with full jitter, or follow Retry-After.
    ai_max_attempts: int = Field(default=3, ge=1, le=10)
    ai_retry_base_seconds: float = Field(default=0.5, ge=0)
    ai_retry_max_seconds: float = Field(default=10.0, ge=0)
    # The breaker per provider opens after this many failed calls within the window and
    # lets one probe through after the reset time; the state is shared through Redis.
    ai_breaker_failures: int = Field(default=3, ge=1)
    ai_breaker_window_seconds: float = Field(default=10.0, gt=0)
    ai_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    ai_cache_ttl_seconds: float = Field(default=7 * 86400, ge=0)
    # Requests to one provider for one draft: the first, then asks for the questions
    # that failed validation.
    ai_validation_rounds: int = Field(default=3, ge=1, le=10)
    ai_max_source_chars: int = Field(default=60_000, ge=100)
    # Per teacher and UTC day (0: no limit).
    ai_daily_jobs_per_teacher: int = Field(default=50, ge=0)
    ai_daily_chars_per_teacher: int = Field(default=2_000_000, ge=0)
    # Background jobs: a worker holds a job for the lease and renews it while it works;
    # a job whose worker died is taken over once its lease has expired.
    ai_job_lease_seconds: float = Field(default=30.0, gt=0)
    ai_job_max_claims: int = Field(default=3, ge=1)
    ai_worker_concurrency: int = Field(default=2, ge=1, le=32)
    ai_worker_poll_seconds: float = Field(default=2.0, gt=0)
    # quiz serve runs the job runner itself: unset means on in development only.
    embedded_worker: bool | None = None

    # Live games (services/live/service.py says how each is used).
    live_max_players: int = Field(default=2000, ge=1, le=100_000)
    live_join_per_ip_per_minute: int = Field(default=30, ge=1)
    live_join_per_game_per_minute: int = Field(default=600, ge=1)
    live_answer_grace_ms: int = Field(default=300, ge=0, le=5000)
    live_question_seconds: int = Field(default=20, ge=5, le=120)
    live_require_sign_in: bool = False

    @field_validator(
        "database_url",
        "redis_url",
        "public_url",
        "otel_endpoint",
        "tls_cert_file",
        "tls_key_file",
        "ai_gemini_api_key",
        "ai_openai_api_key",
        "embedded_worker",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="before")
    @classmethod
    def _log_level_follows_debug(cls, data: Any) -> Any:
        """No log level given (or blank): DEBUG when debug is on, else INFO."""
        if not isinstance(data, dict):
            return data
        level = data.get("log_level")
        if level is not None and not (isinstance(level, str) and not level.strip()):
            return data
        try:
            debug = _BOOL.validate_python(data.get("debug", False))
        except ValidationError:
            debug = False  # reported by the field validation itself
        return {**data, "log_level": "DEBUG" if debug else "INFO"}

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_are_host_port(cls, value: list[str]) -> list[str]:
        for entry in value:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f'{entry!r} is not host:port (e.g. "10.0.0.5:26379")')
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            level = value.strip().upper()
            return "WARNING" if level == "WARN" else level
        return value

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
    def uses_redis(self) -> bool:
        """Whether the shared store is Redis (one server or through Sentinel)."""
        return bool(self.redis_sentinels) or self.redis_url is not None

    @property
    def runs_embedded_worker(self) -> bool:
        """Whether ``quiz serve`` runs the background job runner in-process."""
        return self.is_development if self.embedded_worker is None else self.embedded_worker

    @property
    def ai_chain(self) -> list[str]:
        """The providers in the order they are tried: the primary, then the fallbacks."""
        chain: list[str] = [self.ai_provider]
        chain += [name for name in self.ai_fallbacks if name not in chain]
        return chain

    @property
    def terminates_tls(self) -> bool:
        """Whether this instance serves TLS itself (certificate and key both set)."""
        return self.tls_cert_file is not None and self.tls_key_file is not None

    @property
    def async_database_url(self) -> str:
        """The SQLAlchemy URL with the async driver the app uses."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'quiz.sqlite3').resolve()}"
        return to_async_url(self.database_url)

    # -- fitness for the environment ------------------------------------------------
    def problems(self) -> list[str]:
        """Everything that makes these settings unfit for their environment.

        This is what ``quiz config check`` reports: every refusal of
        ``startup_problems()`` plus the deployment gaps of production (no TLS at all,
        no ``public_url``).
        """
        return self.startup_problems() + self._deployment_gaps()

    def startup_problems(self) -> list[str]:
        """The problems for which an instance refuses to start (``ensure_startable``).

        Half-configured TLS and malformed proxy addresses count in every environment;
        production also refuses a default or short secret, debug, SQLite, no Redis,
        diagnostic routes and a ``public_url`` that is not https.
        """
        found = self._tls_and_proxy_mistakes() + self._ai_mistakes()
        if self.env != "production":
            return found
        secret = self.secret_key.get_secret_value()
        if secret in {DEFAULT_SECRET_KEY, ""}:
            found.append(
                "QUIZ_SECRET_KEY is the built-in default; set a random secret "
                "(or QUIZ_SECRET_KEY_FILE)"
            )
        elif len(secret) < MIN_SECRET_LENGTH:
            found.append(
                f"QUIZ_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters; set a "
                "longer random secret (or QUIZ_SECRET_KEY_FILE)"
            )
        if self.debug:
            found.append("QUIZ_DEBUG is on; production must run with debug off")
        if self.uses_sqlite:
            found.append(
                "the database is SQLite; production needs PostgreSQL (set QUIZ_DATABASE_URL)"
            )
        if not self.uses_redis:
            found.append(
                "QUIZ_REDIS_URL is not set (nor QUIZ_REDIS_SENTINELS); several instances "
                "need Redis for sessions, lockouts and leaderboards"
            )
        if self.diagnostic_routes:
            found.append(
                "QUIZ_DIAGNOSTIC_ROUTES is on; the test-only routes must be off in production"
            )
        if self.public_url is not None and not self.public_url.startswith("https://"):
            found.append(
                f"QUIZ_PUBLIC_URL is {redact_url(self.public_url)!r}; production needs "
                "the https:// address users reach"
            )
        return found

    def _tls_and_proxy_mistakes(self) -> list[str]:
        found: list[str] = []
        pairs = (("tls_cert_file", "tls_key_file"), ("tls_key_file", "tls_cert_file"))
        for have, missing in pairs:
            if getattr(self, have) is not None and getattr(self, missing) is None:
                found.append(
                    f"{variable_for(have)} is set but {variable_for(missing)} is not; "
                    "set both (this instance terminates TLS) or neither"
                )
        for name in ("tls_cert_file", "tls_key_file"):
            path: Path | None = getattr(self, name)
            if path is None:
                continue
            try:
                with path.open("rb") as fh:
                    fh.read(1)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                found.append(f"{variable_for(name)}: cannot read {path}: {reason}")
        for name in ("trusted_proxies", "shared_addresses"):
            for entry in getattr(self, name):
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    found.append(
                        f"{variable_for(name)}: {entry!r} is not an IP address or network "
                        '(e.g. ["10.0.0.0/8"])'
                    )
        return found

    def _ai_mistakes(self) -> list[str]:
        found: list[str] = []
        if "gemini" in self.ai_chain and not _secret_set(self.ai_gemini_api_key):
            found.append(
                "the AI chain uses gemini but QUIZ_AI_GEMINI_API_KEY is not set "
                "(or QUIZ_AI_GEMINI_API_KEY_FILE)"
            )
        for name in ("ai_gemini_base_url", "ai_openai_base_url"):
            url: str = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                found.append(f"{variable_for(name)} must be an http:// or https:// URL")
        return found

    def _deployment_gaps(self) -> list[str]:
        if self.env != "production":
            return []
        found: list[str] = []
        if not self.terminates_tls and not self.trusted_proxies:
            found.append(
                "no TLS: set QUIZ_TLS_CERT_FILE and QUIZ_TLS_KEY_FILE (this instance "
                "terminates TLS) or QUIZ_TRUSTED_PROXIES (the TLS-terminating proxy in front)"
            )
        if self.public_url is None:
            found.append(
                "QUIZ_PUBLIC_URL is not set; set it to the https:// address users reach "
                "(e.g. https://quiz.example.org)"
            )
        return found

    def ensure_startable(self) -> None:
        """Raise ``SettingsError`` naming every problem if these settings must not run."""
        found = self.startup_problems()
        if found:
            raise SettingsError(found)


def _secret_set(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value().strip())


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

    @staticmethod
    def path_for(field_name: str) -> str | None:
        """The secret file named for ``field_name`` in the environment, if any."""
        return os.environ.get(f"{variable_for(field_name)}_FILE") or None

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = self.path_for(field_name)
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text().strip(), field_name, False
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SettingsError(
                [f"{variable_for(field_name)}_FILE: cannot read {path}: {reason}"]
            ) from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                # A list or dict (e.g. the replica URLs) is JSON in the file, as in QUIZ_*.
                if self.field_is_complex(info):
                    try:
                        value = self.decode_complex_value(name, info, value)
                    except ValueError as exc:
                        raise SettingsError(
                            [f"{variable_for(name)}_FILE: the file does not hold JSON: {exc}"]
                        ) from exc
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

    def path(self) -> Path:
        """The profile for the chosen environment: explicit arguments, then ``QUIZ_*``."""
        explicit = self._init()
        env = explicit.get("env") or os.environ.get(f"{ENV_PREFIX}ENV") or "development"
        config_dir = Path(
            explicit.get("config_dir") or os.environ.get(f"{ENV_PREFIX}CONFIG_DIR") or "config"
        )
        return config_dir / f"{env}.toml"

    def __call__(self) -> dict[str, Any]:
        path = self.path()
        if not path.is_file():
            return {}
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError([f"{path}: cannot read: {exc.strerror}"]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError([f"{path}: not valid TOML: {exc}"]) from exc
        fields = self.settings_cls.model_fields
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SettingsError([f"{path}: unknown setting(s): {', '.join(unknown)}"])
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from all sources; keyword arguments win over everything."""
    return Settings(**overrides)


# -- where each value comes from ------------------------------------------------------

SettingValue: TypeAlias = str | int | float | bool | list[str] | dict[str, str] | None
_SENSITIVE_NAME = re.compile(r"secret|password|passwd|token|key", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@]*):(?P<secret>.*)@")
_URL_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pass|pwd|secret|token|key|api_key)=)[^&#]*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SettingSource:
    """One effective setting, redacted for display, and the source that provided it.

    ``source`` is ``"default"``, ``"file:<path>"`` (the TOML profile), ``"environment"``,
    ``"secret file:<path>"``, or ``"argument"`` (given to ``Settings`` directly, e.g. by
    ``--env``).
    """

    name: str
    variable: str
    value: SettingValue
    source: str


def redact_url(value: str) -> str:
    """Hide the password of a URL (``postgresql://app:***@db/quiz``) and secret query values.

    Everything between ``user:`` and the last ``@`` is hidden, so a password containing
    ``/``, ``?`` or ``@`` does not leak either.
    """
    value = _URL_USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", value, count=1)
    return _URL_QUERY_SECRET.sub(lambda m: f"{m['head']}{REDACTED}", value)


def _is_secret(name: str, value: Any) -> bool:
    """``SecretStr`` settings, and text whose name says secret/password/token/key.

    Numbers, flags and paths are shown (``token_ttl_seconds``, ``tls_key_file``).
    """
    if isinstance(value, SecretStr):
        return True
    info = Settings.model_fields.get(name)
    if info is not None and "SecretStr" in str(info.annotation):
        return True
    if value is None or not _SENSITIVE_NAME.search(name):
        return False
    return isinstance(value, str | list | tuple | set | frozenset | dict)


def display_value(name: str, value: Any) -> SettingValue:
    """``value`` of setting ``name`` as JSON-friendly data with every secret redacted."""
    if _is_secret(name, value):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_url(str(item)) for item in value]
    if isinstance(value, dict):
        return {str(k): redact_url(str(v)) for k, v in value.items()}
    return redact_url(str(value))


def _settings_sources(overrides: dict[str, Any]) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources ``Settings(**overrides)`` reads, highest precedence first.

    Built the way pydantic-settings builds them (same classes, configured from
    ``Settings.model_config``) and ordered by ``Settings.settings_customise_sources``.
    """
    return Settings.settings_customise_sources(
        Settings,
        init_settings=InitSettingsSource(Settings, init_kwargs=dict(overrides)),
        env_settings=EnvSettingsSource(Settings),
        dotenv_settings=DotEnvSettingsSource(Settings),
        file_secret_settings=SecretsSettingsSource(Settings),
    )


def _label(source: PydanticBaseSettingsSource, field_name: str) -> str:
    if isinstance(source, InitSettingsSource):
        return "argument"
    if isinstance(source, SecretFileSource):
        return f"secret file:{source.path_for(field_name)}"
    if isinstance(source, TomlProfileSource):
        return f"file:{source.path()}"
    if isinstance(source, DotEnvSettingsSource):  # before its base class EnvSettingsSource
        return "dotenv"
    if isinstance(source, EnvSettingsSource):
        return "environment"
    if isinstance(source, SecretsSettingsSource):
        return "secrets dir"
    return type(source).__name__


def setting_origins(**overrides: Any) -> dict[str, str]:
    """For every field, the label of the source that provides it (``"default"`` if none).

    Raises ``SettingsError`` when a source cannot be read (unreadable secret file,
    unknown key in the profile), exactly as building ``Settings`` would.
    """
    origins: dict[str, str] = {}
    for source in _settings_sources(overrides):
        for key in source():
            if key in Settings.model_fields and key not in origins:
                origins[key] = _label(source, key)
    return {name: origins.get(name, "default") for name in Settings.model_fields}


def profile_path(env: str | None = None) -> Path:
    """The TOML profile ``Settings`` reads for ``env`` (default: ``QUIZ_ENV``)."""
    for source in _settings_sources({"env": env} if env else {}):
        if isinstance(source, TomlProfileSource):
            return source.path()
    raise LookupError("Settings has no TOML profile source")  # pragma: no cover


def explain_settings(env: str | None = None) -> list[SettingSource]:
    """Every setting's effective value (secrets redacted) and where it came from.

    ``env`` overrides ``QUIZ_ENV`` (and so chooses the TOML profile). Raises what building
    ``Settings`` raises; ``configuration_problems`` turns those into problem lines.
    """
    overrides: dict[str, Any] = {"env": env} if env else {}
    origins = setting_origins(**overrides)
    settings = load_settings(**overrides)
    return [
        SettingSource(
            name=name,
            variable=variable_for(name),
            value=display_value(name, getattr(settings, name)),
            source=origins[name],
        )
        for name in Settings.model_fields
    ]


def loading_problems(exc: Exception, origins: dict[str, str] | None = None) -> list[str]:
    """One line per reason why ``Settings`` could not be built (never the bad values)."""
    if isinstance(exc, SettingsError):
        return list(exc.problems)
    if isinstance(exc, ValidationError):
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = error["loc"]
            name = str(loc[0]) if loc else "?"
            where = ".".join(str(part) for part in loc[1:])
            origin = (origins or {}).get(name)
            suffix = f" (from {origin})" if origin and origin != "default" else ""
            target = variable_for(name) + (f"[{where}]" if where else "")
            lines.append(f"{target}: {error['msg']}{suffix}")
        return lines
    if isinstance(exc, SourceParseError):
        match = re.search(r'field "(\w+)"', str(exc))
        if match is None:
            return [str(exc)]
        name = match[1]
        info = Settings.model_fields.get(name)
        example = '{"key": "value"}' if "dict" in str(info and info.annotation) else '["a", "b"]'
        return [f"{variable_for(name)}: cannot parse the value; it must be JSON, e.g. {example}"]
    raise exc


LOADING_ERRORS: tuple[type[Exception], ...] = (SettingsError, ValidationError, SourceParseError)
"""What building ``Settings`` raises on a bad configuration (see ``loading_problems``)."""


def configuration_problems(env: str | None = None) -> tuple[Settings | None, list[str]]:
    """Build the settings for ``env`` (default ``QUIZ_ENV``) and list everything wrong.

    Returns the settings (``None`` when they cannot be built) and the problem lines: the
    reasons they cannot be built, or else ``Settings.problems()``.
    """
    overrides: dict[str, Any] = {"env": env} if env else {}
    origins: dict[str, str] | None = None
    try:
        origins = setting_origins(**overrides)
        settings = load_settings(**overrides)
    except LOADING_ERRORS as exc:
        return None, loading_problems(exc, origins)
    return settings, settings.problems()
