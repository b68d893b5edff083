"""Render the configuration templates kept in ``deploy/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

import quizplatform


def deploy_dir() -> Path:
    """The ``deploy/`` directory of this checkout (or release)."""
    package = Path(quizplatform.__file__).resolve().parent
    for parent in package.parents:
        candidate = parent / "deploy"
        if (candidate / "haproxy").is_dir():
            return candidate
    raise FileNotFoundError("deploy/ templates not found beside the quizplatform package")


def render(template: str, **variables: Any) -> str:
    """Render ``deploy/<template>`` with ``variables`` (undefined variables are errors)."""
    env = jinja2.Environment(  # noqa: S701 - configuration files, not HTML
        loader=jinja2.FileSystemLoader(deploy_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(**variables)
