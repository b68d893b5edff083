"""Data files bundled with the package, and the small loaders that read them."""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files

COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"


@cache
def load_common_passwords() -> frozenset[str]:
    """Return the bundled common-password list, lower-cased (about 20,000 entries).

    The file is read once per process; later calls return the cached set.
    """
    data = files(__package__).joinpath(COMMON_PASSWORDS_FILE).read_bytes()
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    return frozenset(stripped.lower() for line in lines if (stripped := line.strip()))


QUESTION_BANK_FILE = "question_bank.json"


@cache
def load_question_bank_text() -> str:
    """Return the bundled offline question bank (JSON text; see README.md in this package).

    The file is read once per process; ``quizplatform.ai.offline_bank`` parses and checks it.
    """
    return files(__package__).joinpath(QUESTION_BANK_FILE).read_text(encoding="utf-8")


NICKNAME_BLOCKLIST_FILE = "nickname-blocklist.txt"


@cache
def load_nickname_blocklist() -> tuple[str, ...]:
    """Return the live games' nickname block list (see README.md in this package): one
    entry a line, ``#`` comments and blank lines left out. Read once per process."""
    text = files(__package__).joinpath(NICKNAME_BLOCKLIST_FILE).read_text(encoding="utf-8")
    return tuple(s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#"))
