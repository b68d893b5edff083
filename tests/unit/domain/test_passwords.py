from __future__ import annotations

import pytest

from quizplatform.data import load_common_passwords
from quizplatform.domain.passwords import MIN_PASSWORD_LENGTH, password_problems

COMMON = frozenset({"password123", "qwertyuiop"})
EMAIL = "Alice.Smith@example.org"


def test_good_password_has_no_problems() -> None:
    assert password_problems("correct horse battery", EMAIL, COMMON) == []


@pytest.mark.parametrize("password", ["", "a", "Sh0rt!pwd"])
def test_too_short(password: str) -> None:
    problems = password_problems(password, EMAIL, COMMON)
    assert problems == [f"Your password must be at least {MIN_PASSWORD_LENGTH} characters long."]


def test_exactly_ten_characters_is_long_enough() -> None:
    assert password_problems("zx8!kq2#mv", EMAIL, COMMON) == []


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "PassWord123", "qwertyuiop"])
def test_common_password_case_insensitive(password: str) -> None:
    assert password_problems(password, EMAIL, COMMON) == [
        "This password is too common. Please choose a less predictable one."
    ]


@pytest.mark.parametrize(
    "password", ["alice.smith-rocks", "xxALICE.SMITHxx", "my Alice.Smith pass"]
)
def test_must_not_contain_email_local_part(password: str) -> None:
    assert password_problems(password, EMAIL, COMMON) == [
        "Your password must not contain your email address."
    ]


def test_short_local_part_is_not_checked() -> None:
    assert password_problems("ab is my long password", "ab@example.org", COMMON) == []
    assert password_problems("abc is my long password", "abc@example.org", COMMON) == [
        "Your password must not contain your email address."
    ]


def test_domain_alone_is_allowed() -> None:
    assert password_problems("example.org is fine here", EMAIL, COMMON) == []


def test_several_problems_are_all_reported() -> None:
    problems = password_problems("bob", "bob@example.org", {"bob"})
    assert len(problems) == 3


def test_bundled_list_is_loaded() -> None:
    common = load_common_passwords()
    assert len(common) > 15_000
    assert "password" in common
    assert "123456789" in common
    assert all(p == p.lower() for p in common)
    assert load_common_passwords() is common  # read once


def test_bundled_list_rejects_a_known_long_common_password() -> None:
    common = load_common_passwords()
    long_common = next(p for p in sorted(common) if len(p) >= MIN_PASSWORD_LENGTH)
    assert password_problems(long_common.upper(), "someone@example.org", common) == [
        "This password is too common. Please choose a less predictable one."
    ]
