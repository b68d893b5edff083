"""Settings: sources and their precedence, URL forms, production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from quizplatform.db.shared_store import MemoryStore, RedisStore, create_store
from quizplatform.runtime.settings import (
    DEFAULT_SECRET_KEY,
    Settings,
    SettingsError,
    to_async_url,
)

GOOD_SECRET = "x" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("QUIZ_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_embedded_setup() -> None:
    s = Settings()
    assert s.env == "development" and s.uses_sqlite and s.redis_url is None
    assert s.async_database_url.startswith("sqlite+aiosqlite:///")
    assert s.async_database_url.endswith("var/quiz.sqlite3")
    assert s.problems() == []


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(plain: str, expected: str) -> None:
    assert to_async_url(plain) == expected


def test_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        to_async_url("mysql://x")


def test_production_refuses_each_problem_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_ENV", "production")
    monkeypatch.setenv("QUIZ_DEBUG", "true")
    with pytest.raises(SettingsError) as err:
        Settings().ensure_startable()
    text = str(err.value)
    assert "QUIZ_SECRET_KEY" in text and "debug" in text and "SQLite" in text
    assert "QUIZ_REDIS_URL" in text


def test_production_with_proper_settings_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_ENV", "production")
    monkeypatch.setenv("QUIZ_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("QUIZ_DATABASE_URL", "postgresql://app@db:5432/quiz")
    monkeypatch.setenv("QUIZ_REDIS_URL", "redis://cache:6379/0")
    Settings().ensure_startable()


def test_precedence_defaults_file_env_secret_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "staging.toml").write_text(
        'port = 9001\nhost = "127.0.0.2"\nsecret_key = "from-file-secret"\n'
    )
    monkeypatch.setenv("QUIZ_ENV", "staging")
    s = Settings()
    assert (s.port, s.host, s.secret_key.get_secret_value()) == (
        9001,
        "127.0.0.2",
        "from-file-secret",
    )
    monkeypatch.setenv("QUIZ_PORT", "9002")
    monkeypatch.setenv("QUIZ_SECRET_KEY", "from-env-secret")
    s = Settings()
    assert (s.port, s.host, s.secret_key.get_secret_value()) == (
        9002,
        "127.0.0.2",
        "from-env-secret",
    )
    secret = tmp_path / "secret"
    secret.write_text("from-secret-file\n")
    monkeypatch.setenv("QUIZ_SECRET_KEY_FILE", str(secret))
    assert Settings().secret_key.get_secret_value() == "from-secret-file"


def test_unknown_key_in_profile_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "development.toml").write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        Settings()


def test_unreadable_secret_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIZ_SECRET_KEY_FILE", "/nonexistent/secret")
    with pytest.raises(SettingsError, match="QUIZ_SECRET_KEY_FILE"):
        Settings()


def test_default_secret_constant_is_what_production_rejects() -> None:
    assert Settings().secret_key.get_secret_value() == DEFAULT_SECRET_KEY


# -- Redis through Sentinel ---------------------------------------------------------------
def test_sentinels_come_from_a_json_list_and_satisfy_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUIZ_ENV", "production")
    monkeypatch.setenv("QUIZ_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("QUIZ_DATABASE_URL", "postgresql://app@db:5432/quiz")
    monkeypatch.setenv("QUIZ_REDIS_SENTINELS", '["10.0.0.5:26379", "sentinel-b:26380"]')
    monkeypatch.setenv("QUIZ_REDIS_SENTINEL_SERVICE", "quizprod")
    s = Settings()
    assert s.redis_sentinels == ["10.0.0.5:26379", "sentinel-b:26380"]
    assert s.redis_sentinel_service == "quizprod" and s.redis_url is None and s.uses_redis
    s.ensure_startable()


@pytest.mark.parametrize("bad", ["no-port", "host:", ":26379", "host:http", "host:70000"])
def test_a_sentinel_that_is_not_host_port_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("QUIZ_REDIS_SENTINELS", f'["127.0.0.1:26379", "{bad}"]')
    with pytest.raises(ValidationError) as err:
        Settings()
    assert bad in str(err.value) and "host:port" in str(err.value)


def test_sentinels_make_a_sentinel_store_and_a_url_a_plain_one() -> None:
    through_sentinel = create_store(
        "redis://ignored:6379/0", sentinels=["127.0.0.1:26379"], sentinel_service="quiz"
    )
    assert isinstance(through_sentinel, RedisStore) and through_sentinel.sentinel is not None
    plain = create_store("redis://127.0.0.1:6379/0")
    assert isinstance(plain, RedisStore) and plain.sentinel is None
    assert isinstance(create_store(None), MemoryStore)


@pytest.mark.parametrize("name", ["QUIZ_TRUSTED_PROXIES", "QUIZ_SHARED_ADDRESSES"])
def test_an_address_list_entry_that_is_no_address_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, '["203.0.113.0/24", "school-nat"]')
    problems = Settings().startup_problems()
    assert any(name in p and "'school-nat'" in p for p in problems), problems
    monkeypatch.setenv(name, '["203.0.113.0/24", "2001:db8::1"]')
    assert Settings().startup_problems() == []
