"""Password strength rules (pure: the common-password list is passed in).

Load the list with ``quizplatform.data.load_common_passwords()``; it holds lower-case
entries, so membership is checked with the lower-cased password.
"""

from __future__ import annotations

from collections.abc import Container

MIN_PASSWORD_LENGTH = 10
MIN_LOCAL_PART_LENGTH = 3


def password_problems(password: str, email: str, common: Container[str]) -> list[str]:
    """Return user-facing sentences explaining why ``password`` is not acceptable.

    An empty list means the password is fine. The rules: at least
    ``MIN_PASSWORD_LENGTH`` characters; not in ``common`` (compared lower-cased,
    so ``common`` must hold lower-case entries); and not containing the local part of
    ``email`` (case-insensitive; only checked when that part has at least
    ``MIN_LOCAL_PART_LENGTH`` characters).
    """
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Your password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if password.lower() in common or password.strip().lower() in common:
        problems.append("This password is too common. Please choose a less predictable one.")
    local_part = (email.rpartition("@")[0] if "@" in email else email).strip().casefold()
    if len(local_part) >= MIN_LOCAL_PART_LENGTH and local_part in password.casefold():
        problems.append("Your password must not contain your email address.")
    return problems
