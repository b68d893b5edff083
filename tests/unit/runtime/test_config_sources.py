"""Configuration profiles: where each value comes from, redaction, production problems."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from quizplatform.runtime.settings import (
    REDACTED,
    Settings,
    SettingsError,
    configuration_problems,
    display_value,
    explain_settings,
    profile_path,
    redact_url,
    setting_origins,
)

REPO_CONFIG = Path(__file__).resolve().parents[3] / "config"
PROFILES = ("development", "staging", "production")
GOOD_SECRET = "s3cr3t-" + "x" * 33  # 40 characters


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("QUIZ_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _profile(tmp_path: Path, env: str, text: str) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    path = tmp_path / "config" / f"{env}.toml"
    path.write_text(text)
    return path


def _production(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """A production configuration that passes every check, plus ``extra``."""
    values = {
        "QUIZ_ENV": "production",
        "QUIZ_SECRET_KEY": GOOD_SECRET,
        "QUIZ_DATABASE_URL": "postgresql://app:dbpw@db:5432/quiz",
        "QUIZ_REDIS_URL": "redis://cache:6379/0",
        "QUIZ_TRUSTED_PROXIES": '["172.16.0.0/12"]',
        "QUIZ_PUBLIC_URL": "https://quiz.example.org",
        **extra,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


# -- log level ------------------------------------------------------------------------


def test_log_level_follows_debug_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_level == "INFO"
    monkeypatch.setenv("QUIZ_DEBUG", "true")
    assert Settings().log_level == "DEBUG"
    monkeypatch.setenv("QUIZ_LOG_LEVEL", "warn")
    assert Settings().log_level == "WARNING"
    monkeypatch.setenv("QUIZ_LOG_LEVEL", "")
    assert Settings().log_level == "DEBUG"
    assert Settings(debug=False).log_level == "INFO"


def test_new_settings_default_to_development_friendly_values() -> None:
    s = Settings()
    assert (s.public_url, s.tls_cert_file, s.tls_key_file, s.otel_endpoint) == (
        None,
        None,
        None,
        None,
    )
    assert s.diagnostic_routes is False and not s.terminates_tls
    assert s.problems() == []


# -- sources --------------------------------------------------------------------------


def test_a_secret_file_holds_a_list_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The stack keeps the replica URLs (with their password) in a file, not the environment.
    urls = tmp_path / "replica_urls"
    urls.write_text('["postgresql://quiz:pw@127.0.0.1:15433/quiz"]\n')
    monkeypatch.setenv("QUIZ_DATABASE_REPLICA_URLS_FILE", str(urls))
    assert Settings().database_replica_urls == ["postgresql://quiz:pw@127.0.0.1:15433/quiz"]

    urls.write_text("postgresql://not-a-list\n")
    with pytest.raises(SettingsError, match="QUIZ_DATABASE_REPLICA_URLS_FILE"):
        Settings()


def test_each_value_names_its_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _profile(tmp_path, "staging", 'host = "127.0.0.2"\nport = 9001\ntoken_ttl_seconds = 60\n')
    secret = tmp_path / "secret"
    secret.write_text(GOOD_SECRET + "\n")
    monkeypatch.setenv("QUIZ_ENV", "staging")
    monkeypatch.setenv("QUIZ_PORT", "9002")
    monkeypatch.setenv("QUIZ_TOKEN_TTL_SECONDS", "61")
    monkeypatch.setenv("QUIZ_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("QUIZ_TOKEN_TTL_SECONDS_FILE", str(secret.with_name("ttl")))
    secret.with_name("ttl").write_text("62\n")

    rows = {row.name: row for row in explain_settings()}
    assert list(rows) == list(Settings.model_fields)
    assert (rows["host"].value, rows["host"].source) == ("127.0.0.2", "file:config/staging.toml")
    assert (rows["port"].value, rows["port"].source) == (9002, "environment")
    assert rows["secret_key"].source == f"secret file:{secret}"
    assert (rows["token_ttl_seconds"].value, rows["token_ttl_seconds"].source) == (
        62,
        f"secret file:{secret.with_name('ttl')}",
    )
    assert (rows["leaderboard_limit_max"].value, rows["leaderboard_limit_max"].source) == (
        100,
        "default",
    )
    assert rows["env"].source == "environment"
    assert rows["port"].variable == "QUIZ_PORT"


def test_env_argument_overrides_quiz_env_and_chooses_the_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _profile(tmp_path, "staging", "port = 9001\n")
    _profile(tmp_path, "production", "port = 9003\n")
    monkeypatch.setenv("QUIZ_ENV", "staging")
    rows = {row.name: row for row in explain_settings("production")}
    assert (rows["env"].value, rows["env"].source) == ("production", "argument")
    assert (rows["port"].value, rows["port"].source) == (9003, "file:config/production.toml")
    assert profile_path("production") == Path("config/production.toml")
    assert profile_path() == Path("config/staging.toml")
    assert os.environ["QUIZ_ENV"] == "staging"  # not changed behind the caller's back


def test_config_dir_from_the_environment_is_where_the_profile_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "development.toml").write_text("port = 9100\n")
    monkeypatch.setenv("QUIZ_CONFIG_DIR", str(elsewhere))
    origins = setting_origins()
    assert origins["port"] == f"file:{elsewhere / 'development.toml'}"
    assert origins["config_dir"] == "environment"


def test_origins_agree_with_the_values_settings_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _profile(tmp_path, "development", "db_pool_size = 3\nquiz_cache_ttl_seconds = 1.5\n")
    monkeypatch.setenv("QUIZ_DB_POOL_SIZE", "4")
    settings = Settings()
    rows = {row.name: row for row in explain_settings()}
    assert rows["db_pool_size"].value == settings.db_pool_size == 4
    assert rows["quiz_cache_ttl_seconds"].value == settings.quiz_cache_ttl_seconds == 1.5
    for name in Settings.model_fields:
        assert rows[name].value == display_value(name, getattr(settings, name)), name


def test_explain_raises_what_settings_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _profile(tmp_path, "development", "prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        explain_settings()


# -- redaction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:p/a?s@s@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("postgresql://h/db?user=u&password=pw&x=1", "postgresql://h/db?user=u&password=***&x=1"),
        ("https://quiz.example.org", "https://quiz.example.org"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_url_passwords_are_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secrets_are_redacted_and_paths_and_numbers_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QUIZ_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("QUIZ_DATABASE_URL", "postgresql://app:dbpw-123@db:5432/quiz")
    monkeypatch.setenv(
        "QUIZ_DATABASE_REPLICA_URLS", '["postgresql://ro:replica-pw@replica:5432/quiz"]'
    )
    monkeypatch.setenv("QUIZ_REDIS_URL", "redis://:redis-pw@cache:6379/0")
    monkeypatch.setenv("QUIZ_OTEL_ENDPOINT", "https://otel:otel-pw@collector:4318")
    monkeypatch.setenv("QUIZ_TLS_KEY_FILE", str(tmp_path / "tls.key"))
    monkeypatch.setenv("QUIZ_TLS_CERT_FILE", str(tmp_path / "tls.crt"))
    rows = {row.name: row for row in explain_settings()}
    dumped = json.dumps([row.value for row in rows.values()])
    for secret in (GOOD_SECRET, "dbpw-123", "replica-pw", "redis-pw", "otel-pw"):
        assert secret not in dumped
    assert rows["secret_key"].value == REDACTED
    assert rows["database_url"].value == "postgresql://app:***@db:5432/quiz"
    assert rows["database_replica_urls"].value == ["postgresql://ro:***@replica:5432/quiz"]
    assert rows["tls_key_file"].value == str(tmp_path / "tls.key")
    assert rows["token_ttl_seconds"].value == 12 * 3600


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("secret_key", SecretStr("abc"), REDACTED),
        ("api_token", "abc", REDACTED),
        ("smtp_password", "abc", REDACTED),
        ("signing_keys", ["a", "b"], REDACTED),
        ("api_token", None, None),
        ("token_ttl_seconds", 60, 60),
        ("tls_key_file", Path("/etc/tls/key.pem"), "/etc/tls/key.pem"),
        ("host", "127.0.0.1", "127.0.0.1"),
        ("trusted_proxies", ["172.16.0.0/12"], ["172.16.0.0/12"]),
    ],
)
def test_display_value_redacts_by_type_and_name(name: str, value: object, shown: object) -> None:
    assert display_value(name, value) == shown


# -- problems -------------------------------------------------------------------------


def test_proper_production_behind_a_proxy_has_no_problems(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _production(monkeypatch)
    assert Settings().problems() == []
    assert configuration_problems()[1] == []


def test_proper_production_terminating_tls_itself_has_no_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    _production(
        monkeypatch,
        QUIZ_TRUSTED_PROXIES="[]",
        QUIZ_TLS_CERT_FILE=str(tmp_path / "tls.crt"),
        QUIZ_TLS_KEY_FILE=str(tmp_path / "tls.key"),
    )
    assert Settings().terminates_tls
    assert Settings().problems() == []


@pytest.mark.parametrize(
    ("extra", "expected", "refuses_to_start"),
    [
        ({"QUIZ_DATABASE_URL": ""}, "QUIZ_DATABASE_URL", True),
        ({"QUIZ_DATABASE_URL": "sqlite:///var/x.db"}, "SQLite", True),
        ({"QUIZ_REDIS_URL": ""}, "QUIZ_REDIS_URL", True),
        ({"QUIZ_SECRET_KEY": "short-secret"}, "QUIZ_SECRET_KEY is shorter", True),
        ({"QUIZ_SECRET_KEY": ""}, "QUIZ_SECRET_KEY is the built-in default", True),
        ({"QUIZ_DEBUG": "1"}, "QUIZ_DEBUG", True),
        ({"QUIZ_DIAGNOSTIC_ROUTES": "true"}, "QUIZ_DIAGNOSTIC_ROUTES", True),
        ({"QUIZ_PUBLIC_URL": "http://quiz.example.org"}, "QUIZ_PUBLIC_URL", True),
        ({"QUIZ_TRUSTED_PROXIES": '["not-an-ip"]'}, "QUIZ_TRUSTED_PROXIES", True),
        ({"QUIZ_TLS_CERT_FILE": "/etc/tls/c.pem"}, "QUIZ_TLS_KEY_FILE", True),
        ({"QUIZ_TLS_KEY_FILE": "/etc/tls/k.pem"}, "QUIZ_TLS_CERT_FILE", True),
        ({"QUIZ_PUBLIC_URL": ""}, "QUIZ_PUBLIC_URL is not set", False),
        ({"QUIZ_TRUSTED_PROXIES": "[]"}, "QUIZ_TRUSTED_PROXIES", False),
    ],
)
def test_each_production_problem_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    extra: dict[str, str],
    expected: str,
    refuses_to_start: bool,
) -> None:
    _production(monkeypatch, **extra)
    settings = Settings()
    found = settings.problems()
    assert found and any(expected in p for p in found), found
    assert all("\n" not in p and "QUIZ_" in p for p in found)
    if refuses_to_start:
        with pytest.raises(SettingsError, match=expected):
            settings.ensure_startable()
    else:  # a deployment gap: `quiz config check` fails, the instance still starts
        settings.ensure_startable()


def test_no_tls_names_both_ways_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, QUIZ_TRUSTED_PROXIES="[]")
    (line,) = Settings().problems()
    for variable in ("QUIZ_TLS_CERT_FILE", "QUIZ_TLS_KEY_FILE", "QUIZ_TRUSTED_PROXIES"):
        assert variable in line


def test_unreadable_tls_files_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _production(
        monkeypatch,
        QUIZ_TLS_CERT_FILE=str(tmp_path / "missing.crt"),
        QUIZ_TLS_KEY_FILE=str(tmp_path / "missing.key"),
    )
    found = Settings().problems()
    assert any(p.startswith("QUIZ_TLS_CERT_FILE: cannot read") for p in found)
    assert any(p.startswith("QUIZ_TLS_KEY_FILE: cannot read") for p in found)


def test_half_configured_tls_is_a_problem_in_every_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tls.crt").write_text("cert")
    monkeypatch.setenv("QUIZ_TLS_CERT_FILE", str(tmp_path / "tls.crt"))
    assert Settings().problems() == [
        "QUIZ_TLS_CERT_FILE is set but QUIZ_TLS_KEY_FILE is not; set both "
        "(this instance terminates TLS) or neither"
    ]


def test_the_secret_never_appears_in_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, QUIZ_SECRET_KEY="tiny-secret-value", QUIZ_DEBUG="true")
    assert "tiny-secret-value" not in "\n".join(Settings().problems())


# -- loading failures become problem lines --------------------------------------------


def test_unreadable_secret_file_is_a_problem_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_SECRET_KEY_FILE", "/nonexistent/secret")
    settings, found = configuration_problems("production")
    assert settings is None
    assert found == [
        "QUIZ_SECRET_KEY_FILE: cannot read /nonexistent/secret: No such file or directory"
    ]


def test_unknown_and_malformed_profiles_are_problem_lines(tmp_path: Path) -> None:
    _profile(tmp_path, "staging", "prot = 1\nport = 2\n")
    _profile(tmp_path, "production", "port = \n")
    assert configuration_problems("staging") == (
        None,
        ["config/staging.toml: unknown setting(s): prot"],
    )
    settings, found = configuration_problems("production")
    assert settings is None and len(found) == 1
    assert found[0].startswith("config/production.toml: not valid TOML")


def test_invalid_values_name_variable_and_source_but_not_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _profile(tmp_path, "development", 'db_pool_size = "many"\n')
    monkeypatch.setenv("QUIZ_PORT", "eighty-eighty")
    _, found = configuration_problems()
    assert any(p.startswith("QUIZ_PORT: ") and p.endswith("(from environment)") for p in found), (
        found
    )
    assert any(
        p.startswith("QUIZ_DB_POOL_SIZE: ") and "(from file:config/development.toml)" in p
        for p in found
    ), found
    assert "eighty-eighty" not in "\n".join(found)


def test_list_that_is_not_json_is_a_problem_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_TRUSTED_PROXIES", "10.0.0.1")
    _, found = configuration_problems()
    assert len(found) == 1 and found[0].startswith("QUIZ_TRUSTED_PROXIES: ")


# -- the profiles shipped in config/ --------------------------------------------------


@pytest.mark.parametrize("env", PROFILES)
def test_shipped_profile_is_commented_and_holds_no_secrets_or_urls(env: str) -> None:
    path = REPO_CONFIG / f"{env}.toml"
    text = path.read_text()
    data = tomllib.loads(text)
    assert text.lstrip().startswith("#")
    assert data and set(data) <= set(Settings.model_fields)
    forbidden = {"secret_key", "database_url", "database_replica_urls", "redis_url"}
    assert not forbidden & set(data)
    assert not any("://" in str(value) for value in data.values())


@pytest.mark.parametrize("env", PROFILES)
def test_shipped_profile_loads(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("QUIZ_CONFIG_DIR", str(REPO_CONFIG))
    settings = Settings(env=env)  # type: ignore[arg-type]
    origins = setting_origins(env=env)
    assert any(origin.startswith("file:") for origin in origins.values())
    assert settings.diagnostic_routes is False
    assert settings.debug is (env == "development")


def test_development_profile_keeps_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_CONFIG_DIR", str(REPO_CONFIG))
    settings = Settings()
    assert settings.uses_sqlite and settings.redis_url is None
    assert settings.host == "127.0.0.1"
    assert settings.problems() == []
    settings.ensure_startable()


def test_production_profile_needs_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_CONFIG_DIR", str(REPO_CONFIG))
    _, found = configuration_problems("production")
    text = "\n".join(found)
    for expected in ("SQLite", "QUIZ_SECRET_KEY", "QUIZ_REDIS_URL", "QUIZ_PUBLIC_URL"):
        assert expected in text
    _production(monkeypatch)
    assert configuration_problems()[1] == []
