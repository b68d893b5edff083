"""stack.py without servers: the alert-window override, config and state (de)serialization,
and opening a directory that holds no stack."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from quizplatform.ops.process import OpsError
from quizplatform.ops.stack import (
    ACTIVE,
    CANDIDATE,
    Instance,
    Stack,
    StackConfig,
    StackState,
)
from quizplatform.ops.stack_monitoring import Monitoring, _override_for, _rule_texts
from quizplatform.ops.templates import deploy_dir

RULES = """\
groups:
  - name: quiz
    rules:
      - alert: InstanceDownFast
        expr: up == 0
        for: 5s
        labels:
          severity: ticket
      - alert: InstanceDown
        expr: up{job="quiz"} == 0
        for: 30s
        labels:
          severity: page
        annotations:
          summary: "down"
      - alert: HAProxyDown
        expr: up{job="haproxy"} == 0
        for: 1m
  - name: other
    rules:
      - record: job:x:rate5m
        expr: rate(x[5m])
      - alert: InstanceDown
        expr: up{job="worker"} == 0
        for: 2m
"""


def alert_windows(text: str) -> list[tuple[str, str | None]]:
    data = yaml.safe_load(text)
    return [
        (rule["alert"], rule.get("for"))
        for group in data["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_override_for_replaces_only_the_named_alert() -> None:
    text = _override_for(RULES, "InstanceDown", "3s")
    assert alert_windows(text) == [
        ("InstanceDownFast", "5s"),
        ("InstanceDown", "3s"),
        ("HAProxyDown", "1m"),
        ("InstanceDown", "3s"),  # every rule of that alert name
    ]
    changed = [
        (old, new)
        for old, new in zip(RULES.splitlines(), text.splitlines(), strict=True)
        if old != new
    ]
    assert changed == [
        ("        for: 30s", "        for: 3s"),
        ("        for: 2m", "        for: 3s"),
    ]


def test_override_for_unknown_alert_changes_nothing() -> None:
    assert _override_for(RULES, "NoSuchAlert", "1s") == RULES
    assert _override_for(RULES, "Instance", "1s") == RULES  # a prefix is not a name


def test_override_for_alert_without_for_leaves_the_next_alert_alone() -> None:
    rules = """\
groups:
  - name: g
    rules:
      - alert: InstanceDown
        expr: up == 0
        labels:
          severity: page
      - alert: Other
        expr: vector(1)
        for: 10m
"""
    assert _override_for(rules, "InstanceDown", "3s") == rules


def test_override_for_on_the_shipped_alert_rules() -> None:
    path = deploy_dir() / "prometheus" / "rules" / "core" / "alerts.yml"
    original = path.read_text()
    before = alert_windows(original)
    after = alert_windows(_override_for(original, "InstanceDown", "7s"))
    assert ("InstanceDown", "7s") in after
    assert [a for a in after if a[0] != "InstanceDown"] == [
        b for b in before if b[0] != "InstanceDown"
    ]
    assert len(after) == len(before)


def test_the_stack_loads_the_core_and_patroni_rules_and_drops_an_older_layout(
    tmp_path: Path,
) -> None:
    (tmp_path / "alerts.yml").write_text("groups: []\n")  # rules/*.yml of an older stack
    config = StackConfig.from_dict({"instance_down_for": "4s"})
    Monitoring._write_rules(type("Fake", (), {"config": config})(), tmp_path)  # type: ignore[arg-type]
    assert sorted(_rule_texts(tmp_path)) == [
        "core/alerts.yml",
        "core/recording.yml",
        "patroni/database.yml",
    ]
    windows = alert_windows((tmp_path / "core" / "alerts.yml").read_text())
    assert ("InstanceDown", "4s") in windows
    rendered = (deploy_dir() / "prometheus" / "prometheus.yml.j2").read_text()
    assert '"{{ rules_dir }}/core/*.yml"' in rendered
    assert '"{{ rules_dir }}/patroni/*.yml"' in rendered


def test_stack_config_from_dict_ignores_unknown_keys() -> None:
    config = StackConfig.from_dict(
        {"instances": 4, "https_port": 9443, "removed_option": True, "future": {"x": 1}}
    )
    assert config.instances == 4
    assert config.https_port == 9443
    assert config.max_instances == StackConfig().max_instances
    assert not hasattr(config, "removed_option")


def test_stack_config_from_dict_of_asdict_round_trips() -> None:
    config = StackConfig(env="production", instance_env={"A": "1"}, cert="/c.pem", cooldown=1.5)
    assert StackConfig.from_dict(asdict(config)) == config
    assert StackConfig.from_dict({}) == StackConfig()


def test_slots_leave_room_for_a_second_set() -> None:
    assert StackConfig(max_instances=10).slots == 20
    assert StackConfig(max_instances=3).slots == 6


def test_stack_state_json_round_trip() -> None:
    state = StackState(
        config=StackConfig(instances=3, instance_env={"QUIZ_X": '{"a": 1}'}, data_root="/d"),
        instances=[
            Instance(1, 18001, "1.0.0+aaaa", ACTIVE),
            Instance(2, 18002, "1.0.0+aaaa"),
            Instance(3, 18003, "1.1.0+bbbb", CANDIDATE),
        ],
        active_release="1.0.0+aaaa",
        previous_release="0.9.0+cccc",
    )
    text = state.to_json()
    json.loads(text)  # plain JSON
    again = StackState.from_json(text)
    assert again == state
    assert again.instances[1].backend == ACTIVE
    assert [i.name for i in again.instances] == ["app-1", "app-2", "app-3"]


def test_stack_state_from_minimal_json() -> None:
    state = StackState.from_json(json.dumps({"config": {"env": "dev", "unknown": 1}}))
    assert state.config == StackConfig(env="dev")
    assert state.instances == []
    assert state.active_release is None
    assert state.previous_release is None


def test_stack_without_stack_json_points_at_stack_up(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match=r"no stack in .*`quiz stack up") as error:
        Stack(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(error.value)
    assert not (tmp_path / "nowhere").exists()


def test_stack_reopens_the_saved_config(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "s", StackConfig(instances=3, https_port=9555))
    assert stack.config.data_root.startswith("/tmp/quiz-stack-")
    with stack.locked() as state:
        state.active_release = "1.0.0+aaaa"
        state.instances.append(Instance(1, 18001, "1.0.0+aaaa"))
    reopened = Stack(tmp_path / "s")
    assert reopened.config == stack.config
    saved = reopened.read_state()
    assert saved.active_release == "1.0.0+aaaa"
    assert reopened.active_instances() == [Instance(1, 18001, "1.0.0+aaaa")]
    assert reopened.url == "https://127.0.0.1:9555"


def test_a_database_from_before_patroni_is_not_silently_replaced(tmp_path: Path) -> None:
    old = tmp_path / "root" / "pg-primary"
    old.mkdir(parents=True)
    (old / "PG_VERSION").write_text("15\n")
    stack = Stack(tmp_path / "stack", StackConfig(data_root=str(tmp_path / "root")))
    with pytest.raises(OpsError, match=r"from before Patroni.*pg_dump"):
        stack._refuse_a_database_from_before_patroni()
    stack.db.members[0].data_dir.mkdir(parents=True)  # carried over: Patroni's own now
    stack._refuse_a_database_from_before_patroni()


def test_clashing_ports_are_refused_before_anything_starts() -> None:
    assert len(StackConfig().ports()) > 30  # the defaults do not clash
    config = StackConfig(db_members=3, pg_member_base_port=8440)  # pg3 on the HTTPS port
    with pytest.raises(OpsError, match=r"port 8443 is both https_port and .*\(pg3\)"):
        config.ports()
    with pytest.raises(OpsError, match="redis_sentinel_ports"):
        StackConfig(redis_sentinel_ports=[16379, 16391, 16392]).ports()


def test_purge_keeps_a_repository_outside_the_data_root(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "backup-disk"
    config = StackConfig(data_root=str(root), backup_repo_path=str(elsewhere))
    stack = Stack(tmp_path / "stack", config)
    for path in (root / "postgres", root / "etcd", stack.backups.settings.home, elsewhere):
        path.mkdir(parents=True)
    deleted = stack.purge()
    assert root / "postgres" in deleted and root / "etcd" in deleted
    assert elsewhere.exists() and stack.backups.settings.home.exists()  # with its passphrase
