"""Program.section(): the [program:x] text, read back by configparser and by supervisord's
own configuration code (ServerOptions), which is what a running supervisord will see."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import ServerOptions

from quizplatform.ops.supervisor import Program

JSON_ENV = '{"origins": ["https://a.example", "https://b.example"], "n": 1}'


def program(tmp_path: Path, **overrides: Any) -> Program:
    values: dict[str, Any] = {
        "name": "app-1",
        "command": ["/usr/bin/python3", "-m", "quizplatform.cli", "serve", "--port", "18001"],
        "directory": tmp_path,
        "log_file": tmp_path / "logs" / "app-1.log",
        "environment": {"QUIZ_ENV": "staging"},
    }
    values.update(overrides)
    return Program(**values)


def env_line(section: str) -> str:
    [line] = [line for line in section.splitlines() if line.startswith("environment=")]
    return line.removeprefix("environment=")


def raw_parse(section: str) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    parser.read_string(section)
    [name] = parser.sections()
    return dict(parser[name])


def supervisord_reads(tmp_path: Path, section: str) -> Any:
    """The ProcessConfig supervisord builds from a configuration holding ``section``."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        "[supervisord]\n"
        f"logfile={tmp_path / 'supervisord.log'}\n"
        f"pidfile={tmp_path / 'supervisord.pid'}\n"
        "\n" + section
    )
    options = ServerOptions()
    options.realize(args=["-c", str(conf)])
    [group] = options.process_group_configs
    [process] = group.process_configs
    return process


def test_section_fields(tmp_path: Path) -> None:
    prog = program(tmp_path, autostart=False, stop_wait_seconds=10, start_seconds=3, priority=42)
    text = prog.section()
    assert text.startswith("[program:app-1]\n")
    assert text.endswith("\n")
    fields = raw_parse(text)
    assert fields["command"] == "/usr/bin/python3 -m quizplatform.cli serve --port 18001"
    assert fields["directory"] == str(tmp_path)
    assert fields["autostart"] == "false"
    assert fields["autorestart"] == "true"
    assert fields["startsecs"] == "3"
    assert fields["stopwaitsecs"] == "10"
    assert fields["stopsignal"] == "TERM"
    assert fields["stopasgroup"] == "true"
    assert fields["killasgroup"] == "true"
    assert fields["priority"] == "42"
    assert fields["stdout_logfile"] == str(tmp_path / "logs" / "app-1.log")
    assert fields["redirect_stderr"] == "true"
    assert fields["environment"] == 'QUIZ_ENV="staging"'


def test_no_environment_line_without_environment(tmp_path: Path) -> None:
    assert "environment=" not in program(tmp_path, environment={}).section()


def test_environment_is_sorted_and_double_quoted(tmp_path: Path) -> None:
    text = program(tmp_path, environment={"B": "2", "A": "x,y", "C": ""}).section()
    assert env_line(text) == 'A="x,y",B="2",C=""'


def test_json_environment_value_is_single_quoted(tmp_path: Path) -> None:
    text = program(tmp_path, environment={"QUIZ_CORS": JSON_ENV}).section()
    assert env_line(text) == f"QUIZ_CORS='{JSON_ENV}'"


def test_percent_is_doubled(tmp_path: Path) -> None:
    env = {"RATE": "50%", "JSON": '{"p": "100%"}'}
    text = program(tmp_path, command=["/bin/echo", "99%"], environment=env).section()
    assert env_line(text) == 'JSON=\'{"p": "100%%"}\',RATE="50%%"'
    assert "command=/bin/echo 99%%\n" in text


def test_both_quote_kinds_are_refused(tmp_path: Path) -> None:
    prog = program(tmp_path, environment={"BAD": """{"it's": 1}"""})
    with pytest.raises(ValueError, match="both quote kinds"):
        prog.section()


def test_command_arguments_with_spaces_are_quoted(tmp_path: Path) -> None:
    text = program(tmp_path, command=["/usr/bin/prog", "--dir", "/srv/my stack"]).section()
    [line] = [line for line in text.splitlines() if line.startswith("command=")]
    assert shlex.split(line.removeprefix("command=")) == ["/usr/bin/prog", "--dir", "/srv/my stack"]


ENVIRONMENTS = [
    {"QUIZ_ENV": "staging"},
    {"QUIZ_CORS": JSON_ENV, "QUIZ_ENV": "staging"},
    {"URL": "postgresql://quiz:p%40ss@127.0.0.1:15432/quiz?sslmode=disable"},
    {"RATE": "50%", "JSON": '{"p": "100%", "list": [1, 2]}'},
    {"COMMAS": "a,b,c", "EQUALS": "k=v", "EMPTY": "", "APOS": "it's"},
    {"PATHS": "/a b/c:/d", "WIN": "C:\\dir\\", "TAB": "a\tb", "UNICODE": "quiz ✓ é"},
]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_parses_back_with_supervisords_function(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    text = program(tmp_path, environment=environment).section()
    # configparser hands the raw line over; supervisord expands %(x)s (%% -> %) and then
    # splits it with dict_of_key_value_pairs.
    raw = raw_parse(text)["environment"]
    assert dict_of_key_value_pairs(raw.replace("%%", "%")) == environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_supervisord_reads_the_section(tmp_path: Path, environment: dict[str, str]) -> None:
    command = ["/usr/bin/python3", "-m", "quizplatform.cli", "serve", "--rate", "50%"]
    prog = program(tmp_path, command=command, environment=environment, priority=7)
    process = supervisord_reads(tmp_path, prog.section())
    assert process.name == "app-1"
    assert process.environment == environment
    assert shlex.split(process.command) == command  # how supervisord builds the argv
    assert process.directory == str(tmp_path)
    assert process.priority == 7
    assert process.stopasgroup and process.killasgroup
    assert process.redirect_stderr
    assert process.stdout_logfile == str(tmp_path / "logs" / "app-1.log")


def test_supervisord_reads_json_in_command_arguments(tmp_path: Path) -> None:
    command = ["/usr/bin/python3", "-c", 'print("hi")', "--json={}"]
    process = supervisord_reads(tmp_path, program(tmp_path, command=command).section())
    assert shlex.split(process.command) == command


@pytest.mark.parametrize(
    "argument", ["/srv/my stack", 'print("a b")', ""], ids=["space", "json-space", "empty"]
)
def test_supervisord_reads_arguments_with_spaces(tmp_path: Path, argument: str) -> None:
    command = ["/usr/bin/prog", "--dir", argument, "--last"]
    process = supervisord_reads(tmp_path, program(tmp_path, command=command).section())
    assert shlex.split(process.command) == command


@pytest.mark.parametrize(
    "value",
    ['say "hi"', "'quoted'", '"', "a ;b", "pass #word"],
    ids=["trailing-dq", "single-quoted", "lone-dq", "semicolon", "hash"],
)
def test_supervisord_reads_values_with_edge_characters(tmp_path: Path, value: str) -> None:
    prog = program(tmp_path, environment={"V": value})
    try:
        text = prog.section()
    except ValueError:
        return  # refusing is fine too
    try:
        process = supervisord_reads(tmp_path, text)
    except SystemExit as exc:  # supervisord's usage() on a bad environment line
        pytest.fail(f"supervisord rejected {text!r}: exit {exc.code}")
    assert process.environment == {"V": value}
