"""Prometheus rules, their promtool unit tests, the Alertmanager template and the runbooks.

promtool and amtool (Debian packages prometheus and prometheus-alertmanager) run offline.
When they are missing these tests fail, because alerting is a promise the product makes;
QUIZ_ALLOW_MISSING_TOOLS=1 turns the failure into a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules"
# core/: shared by every platform; patroni/: the stack and Compose; cnpg/: Kubernetes.
RULE_FILES = sorted(RULES.glob("*/*.yml"))
ALERTS = RULES / "core" / "alerts.yml"
TEST_DIR = PROMETHEUS / "tests"
TEST_FILES = sorted(TEST_DIR.glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
WEBHOOK = "http://127.0.0.1:9095/alerts"
SLACK = "https://hooks.slack.com/services/T000/B000/not-a-real-token"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = (
            f"{name} is not installed: `make test` installs it (Debian packages prometheus and "
            "prometheus-alertmanager); QUIZ_ALLOW_MISSING_TOOLS=1 skips these tests instead"
        )
        if os.environ.get("QUIZ_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return path


def run(args: list[str | Path], cwd: Path = ROOT) -> str:
    """Run a tool; on a non-zero exit fail with everything it printed."""
    out = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    printed = f"$ {' '.join(str(a) for a in args)}\n{out.stdout}\n{out.stderr}"
    assert out.returncode == 0, printed
    return out.stdout + out.stderr


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def groups(path: Path) -> list[dict[str, Any]]:
    return list(load(path)["groups"])


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in groups(path)
        for rule in group["rules"]
        if "alert" in rule
    ]


def alert_names() -> list[str]:
    return sorted({rule["alert"] for rule in alert_rules()})


def render_alertmanager(**variables: object) -> str:
    env = jinja2.Environment(  # noqa: S701 - a YAML file, not HTML
        loader=jinja2.FileSystemLoader(ALERTMANAGER),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("alertmanager.yml.j2").render(**variables)


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# -- promtool --------------------------------------------------------------------------------
def test_rule_files_are_valid() -> None:
    assert {p.parent.name for p in RULE_FILES} == {"core", "patroni", "cnpg"}, RULE_FILES
    out = run([tool("promtool"), "check", "rules", *RULE_FILES])
    assert out.count("SUCCESS") == len(RULE_FILES), out


def test_there_are_rule_unit_tests() -> None:
    assert len(TEST_FILES) >= 4, TEST_FILES


@pytest.mark.parametrize("test_file", TEST_FILES, ids=[p.name for p in TEST_FILES])
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    out = run([tool("promtool"), "test", "rules", test_file.name], cwd=TEST_DIR)
    assert "SUCCESS" in out, out


# -- alertmanager ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slack_url", "page_receivers"),
    [("", "webhook"), (SLACK, "webhook,slack")],
    ids=["without-slack", "with-slack"],
)
def test_alertmanager_template_renders_a_valid_config(
    tmp_path: Path, slack_url: str, page_receivers: str
) -> None:
    amtool = tool("amtool")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        render_alertmanager(
            webhook_url=WEBHOOK,
            slack_webhook_url=slack_url,
            group_wait="1s",
            group_interval="1s",
            repeat_interval="1h",
        )
    )
    run([amtool, "check-config", config])

    parsed = load(config)
    assert parsed["route"]["group_by"] == ["alertname"]
    assert (parsed["route"]["group_wait"], parsed["route"]["group_interval"]) == ("1s", "1s")
    assert parsed["route"]["repeat_interval"] == "1h"
    receivers = {r["name"]: r for r in parsed["receivers"]}
    assert receivers["webhook"]["webhook_configs"] == [{"url": WEBHOOK, "send_resolved": True}]
    if slack_url:
        assert receivers["slack"]["slack_configs"][0]["api_url"] == slack_url
        assert receivers["slack"]["slack_configs"][0]["send_resolved"] is True
    else:
        assert set(receivers) == {"webhook"}

    def receivers_for(*labels: str) -> str:
        out = run([amtool, "config", "routes", "test", f"--config.file={config}", *labels])
        return out.splitlines()[0].strip()

    assert receivers_for("alertname=InstanceDown", "severity=page") == page_receivers
    assert receivers_for("alertname=MemoryGrowth", "severity=ticket") == "webhook"


def test_alertmanager_template_defaults_suit_production(tmp_path: Path) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager(webhook_url=WEBHOOK, slack_webhook_url=""))
    run([tool("amtool"), "check-config", config])
    route = load(config)["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )


# -- alerts, tests and runbooks stay together ------------------------------------------------
def test_every_alert_has_labels_annotations_and_a_runbook_section() -> None:
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    problems = []
    for rule in alert_rules():
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in ("page", "ticket"):
            problems.append(f"{name}: severity must be page or ticket")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                problems.append(f"{name}: no {key} annotation")
        anchor = name.lower()
        if annotations.get("runbook_url") != f"docs/runbooks.md#{anchor}":
            problems.append(f"{name}: runbook_url should be docs/runbooks.md#{anchor}")
        if anchor not in anchors:
            problems.append(f"{name}: no '## {name}' section in docs/runbooks.md")
    assert not problems, "\n".join(problems)


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for test_file in TEST_FILES:
        for group in load(test_file)["tests"]:
            for case in group.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    names = set(alert_names())
    assert names - fires == set(), f"alerts never shown firing: {sorted(names - fires)}"
    assert names - silent == set(), f"alerts never shown silent: {sorted(names - silent)}"
    assert (fires | silent) - names == set(), "tests name alerts that do not exist"


def test_test_files_evaluate_recording_rules_before_alerts() -> None:
    # promtool evaluates rule groups in random order unless group_eval_order lists them;
    # then alerts would see the recording rules' values one evaluation late, sometimes.
    for test_file in TEST_FILES:
        spec = load(test_file)
        loaded = [g for f in spec["rule_files"] for g in groups((TEST_DIR / f).resolve())]
        recording = [g["name"] for g in loaded if all("record" in r for r in g["rules"])]
        alerting = [g["name"] for g in loaded if g["name"] not in recording]
        order = spec.get("group_eval_order", [])
        assert sorted(order) == sorted(recording + alerting), test_file.name
        assert max(order.index(g) for g in recording) < min(order.index(g) for g in alerting)


def test_every_platform_loads_the_core_and_one_database_rules_file() -> None:
    for test_file in TEST_FILES:
        parts = {Path(f).parent.name for f in load(test_file)["rule_files"]}
        assert "core" in parts, test_file.name
        assert len(parts - {"core"}) == 1, f"{test_file.name}: one database platform per test"


def test_instance_down_keeps_the_for_line_the_stack_overrides() -> None:
    (rule,) = [r for r in alert_rules() if r["alert"] == "InstanceDown"]
    assert rule["for"] == "30s"
    assert rule["expr"].strip() == 'up{job="quiz"} == 0'
    assert ALERTS.read_text().count("for: 30s\n") == 1
