"""The stack's monitoring: Prometheus (its configuration, alert rules and the file of
instance targets it scrapes), Alertmanager and the alert receiver behind it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TypedDict

import httpx

from quizplatform.ops.process import OpsError, port_open, run, write_private
from quizplatform.ops.stack_state import ACTIVE, Instance, StackConfig
from quizplatform.ops.supervisor import Program, Supervisor
from quizplatform.ops.templates import deploy_dir, render

#: The rule directories of deploy/prometheus/rules the one-host stack loads: the shared
#: rules and its database's (cnpg/ is for Kubernetes).
STACK_RULE_DIRS = ("core", "patroni")


class Alert(TypedDict):
    """An alert firing in Alertmanager, as ``quiz stack status --json`` lists it."""

    name: str | None
    severity: str | None
    since: str | None
    summary: str | None


class PromSample(TypedDict):
    """One element of an instant query's result vector: its labels and
    ``[timestamp, "value"]``."""

    metric: dict[str, str]
    value: list[float | str]


class Monitoring:
    """Prometheus, Alertmanager and the alert receiver of one stack directory."""

    def __init__(
        self,
        config: StackConfig,
        *,
        directory: Path,
        run_dir: Path,
        log_dir: Path,
        supervisor: Supervisor,
    ) -> None:
        self.config = config
        self.dir = directory
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.supervisor = supervisor

    @property
    def alerts_file(self) -> Path:
        """Where the alert receiver appends every notification Alertmanager sends."""
        return self.dir / "alerts" / "received.jsonl"

    @property
    def targets_file(self) -> Path:
        """Prometheus' file_sd list of the instances."""
        return self.run_dir / "targets" / "instances.json"

    def receiver_program(self) -> Program:
        """The supervisord program of the alert receiver (Alertmanager's webhook)."""
        return Program(
            name="alert-receiver",
            command=[
                sys.executable,
                "-m",
                "quizplatform.ops.alert_receiver",
                str(self.config.receiver_port),
                str(self.alerts_file),
            ],
            directory=self.dir,
            log_file=self.log_dir / "alert-receiver.log",
            priority=50,
        )

    def start(self, instances: list[Instance]) -> None:
        """Write the rules, the targets and both configurations (checked by promtool and
        amtool), reload what runs with a changed configuration, start what does not run."""
        rules_dir = self.run_dir / "rules"
        rules_before = _rule_texts(rules_dir)
        self._write_rules(rules_dir)
        self.write_targets(instances)
        prom_cfg = self.run_dir / "prometheus.yml"
        am_cfg = self.run_dir / "alertmanager.yml"
        before = {f: f.read_text() if f.exists() else None for f in (prom_cfg, am_cfg)}
        prom_cfg.write_text(self._prometheus_config(rules_dir))
        run(["promtool", "check", "config", prom_cfg], what="promtool check config")
        write_private(am_cfg, self._alertmanager_config())  # holds the Slack webhook URL
        run(["amtool", "check-config", am_cfg], what="amtool check-config")
        rules_now = _rule_texts(rules_dir)
        changed = {
            "prometheus": before[prom_cfg] not in (None, prom_cfg.read_text())
            or (bool(rules_before) and rules_before != rules_now),
            "alertmanager": before[am_cfg] not in (None, am_cfg.read_text()),
        }
        for program, reload in changed.items():
            if reload and self.supervisor.state(program) == "RUNNING":
                self.supervisor.signal(program, "HUP")  # both re-read their config
        self.supervisor.add(self._alertmanager_program(am_cfg))
        self.supervisor.add(self._prometheus_program(prom_cfg))

    def _write_rules(self, rules_dir: Path) -> None:
        """Copy the shared rules and the stack's database rules (Patroni) to ``rules_dir``,
        with the drills' ``for`` of InstanceDown; files of an older layout are removed."""
        for stale in rules_dir.glob("*.yml"):
            stale.unlink()
        source = deploy_dir() / "prometheus" / "rules"
        for part in STACK_RULE_DIRS:
            (rules_dir / part).mkdir(parents=True, exist_ok=True)
            for rules in (source / part).glob("*.yml"):
                text = rules.read_text()
                if part == "core" and rules.name == "alerts.yml":
                    text = _override_for(text, "InstanceDown", self.config.instance_down_for)
                (rules_dir / part / rules.name).write_text(text)

    def _prometheus_config(self, rules_dir: Path) -> str:
        interval = self.config.scrape_interval
        return render(
            "prometheus/prometheus.yml.j2",
            scrape_interval=interval,
            scrape_timeout=interval,
            evaluation_interval=self.config.evaluation_interval,
            alertmanager_port=self.config.alertmanager_port,
            rules_dir=rules_dir,
            targets_file=self.targets_file,
            haproxy_stats_port=self.config.stats_port,
            worker_port=self.config.worker_port,
            autoscaler_port=self.config.autoscaler_port if self.config.autoscale else None,
            prometheus_port=self.config.prometheus_port,
            backup_port=self.config.backup_metrics_port,
        )

    def _alertmanager_config(self) -> str:
        return render(
            "alertmanager/alertmanager.yml.j2",
            webhook_url=f"http://127.0.0.1:{self.config.receiver_port}/alerts",
            slack_webhook_url=self.config.slack_webhook_url or "",
            group_wait=self.config.alert_group_wait,
            group_interval=self.config.alert_group_wait,
            repeat_interval="4h",
        )

    def _alertmanager_program(self, config_file: Path) -> Program:
        return Program(
            name="alertmanager",
            command=[
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={config_file}",
                f"--storage.path={self.dir / 'alertmanager'}",
                f"--web.listen-address=127.0.0.1:{self.config.alertmanager_port}",
                "--cluster.listen-address=",
            ],
            directory=self.dir,
            log_file=self.log_dir / "alertmanager.log",
            priority=60,
        )

    def _prometheus_program(self, config_file: Path) -> Program:
        return Program(
            name="prometheus",
            command=[
                "/usr/bin/prometheus",
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.dir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{self.config.prometheus_port}",
                "--storage.tsdb.retention.time=7d",
            ],
            directory=self.dir,
            log_file=self.log_dir / "prometheus.log",
            priority=70,
        )

    def write_targets(self, instances: list[Instance]) -> None:
        """Rewrite Prometheus' file_sd list of ``instances`` (atomically)."""
        targets = [
            {
                "targets": [f"127.0.0.1:{i.port}"],
                "labels": {
                    "instance_name": i.name,
                    "release": i.release,
                    "pool": "stable" if i.backend == ACTIVE else "candidate",
                },
            }
            for i in instances
        ]
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(targets, indent=2))
        tmp.replace(self.targets_file)

    def current_alerts(self) -> list[Alert]:
        """Alerts firing in Alertmanager now ([] when it does not answer)."""
        if not port_open(self.config.alertmanager_port):
            return []
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{self.config.alertmanager_port}/api/v2/alerts", timeout=2
            )
            return [
                {
                    "name": a["labels"].get("alertname"),
                    "severity": a["labels"].get("severity"),
                    "since": a.get("startsAt"),
                    "summary": a.get("annotations", {}).get("summary"),
                }
                for a in answer.json()
            ]
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    def query(self, query: str) -> list[PromSample]:
        """Run an instant PromQL query; the result vector."""
        answer = httpx.get(
            f"http://127.0.0.1:{self.config.prometheus_port}/api/v1/query",
            params={"query": query},
            timeout=5,
        )
        body = answer.json()
        if body.get("status") != "success":
            raise OpsError(f"Prometheus query failed: {body.get('error')}")
        return list(body["data"]["result"])


def _rule_texts(rules_dir: Path) -> dict[str, str]:
    """Each rules file under ``rules_dir`` (by relative path) and its text."""
    return {str(p.relative_to(rules_dir)): p.read_text() for p in rules_dir.rglob("*.yml")}


def _override_for(rules: str, alert: str, duration: str) -> str:
    """Replace the ``for:`` of one alert in a rules file (drills use shorter windows)."""
    lines = rules.splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("- alert:"):
            inside = stripped.split(":", 1)[1].strip() == alert
        elif inside and stripped.startswith("for:"):
            indent = line[: len(line) - len(line.lstrip())]
            lines[index] = f"{indent}for: {duration}\n"
            inside = False
    return "".join(lines)
