"""The backup scheduler without a stack (Docker Compose's backup service): its schedule
and its command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizplatform.cli import app
from quizplatform.ops.backup_scheduler import Schedule, schedule_from
from quizplatform.ops.process import OpsError


def test_the_schedule_is_read_as_the_stack_writes_it() -> None:
    assert schedule_from("86400,3600,86400,300") == Schedule(86400, 3600, 86400, 300)
    assert schedule_from("600, 60, 1200, 30") == Schedule(600, 60, 1200, 30)


@pytest.mark.parametrize("text", ["", "1,2,3", "1,2,3,4,5", "a,b,c,d", "86400,0,86400,300"])
def test_a_bad_schedule_is_refused(text: str) -> None:
    with pytest.raises(OpsError, match="backup schedule"):
        schedule_from(text)


def test_the_command_refuses_a_bad_schedule_before_touching_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["backup", "scheduler", "--pg-data", str(tmp_path / "pgdata"), "--home", str(tmp_path)],
        env={"QUIZ_BACKUP_SCHEDULE": "hourly"},
    )
    assert result.exit_code == 1
    assert "backup schedule 'hourly'" in result.output
    assert list(tmp_path.iterdir()) == []
