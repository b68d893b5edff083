"""The Compose files of deploy/compose as data: loaded with PyYAML (anchors and ``<<``
merge keys resolved) and merged the way Compose merges an override file, for the keys
the override uses (mappings merge key by key; the sequences Compose replaces are
replaced). Docker Compose itself is not installed here, so its own merge is not run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
BASE = COMPOSE_DIR / "compose.yaml"
PRODUCTION = COMPOSE_DIR / "compose.production.yaml"
# Sequences an override replaces in Compose (every other sequence is appended to, so the
# production override must not use one: test_the_override_changes_mappings_only).
REPLACED_SEQUENCES = frozenset({"command", "entrypoint", "test"})

Model = dict[str, Any]


def load(path: Path) -> Model:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def merge(base: Any, override: Any) -> Any:
    """``override`` applied to ``base`` as Compose does for mappings and replaced lists."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def models() -> dict[str, Model]:
    """The base file alone and the production deployment (base + override)."""
    base = load(BASE)
    return {"base": base, "production": merge(base, load(PRODUCTION))}


def services(model: Model) -> dict[str, dict[str, Any]]:
    found = model["services"]
    assert isinstance(found, dict)
    return found


def one_shot(service: dict[str, Any]) -> bool:
    """A service that runs to completion (the migrations): never restarted."""
    return service.get("restart") == "no"


def tool(name: str, *also_in: str) -> str:
    """An external checker; missing, the test fails (QUIZ_ALLOW_MISSING_TOOLS=1: skips)."""
    path = shutil.which(name, path=os.pathsep.join([*also_in, os.environ.get("PATH", "")]))
    if path is None:
        message = (
            f"{name} is not installed: `make test` installs it (scripts/system-deps.sh); "
            "QUIZ_ALLOW_MISSING_TOOLS=1 skips these tests instead"
        )
        if os.environ.get("QUIZ_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return path
