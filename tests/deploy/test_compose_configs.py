"""The configuration files the Compose services mount: HAProxy's (rendered from the stack's
template in DNS mode, checked by ``haproxy -c``), Prometheus's (``promtool check config``
with the project's rules), Alertmanager's (``amtool check-config``), Grafana's provisioning
and dashboard (every metric it draws exists), and the database's WAL archiving (the same
command the stack's code builds)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from quizplatform.ops.backup import BackupRepository, BackupSettings, PgTarget
from quizplatform.ops.haproxy import DnsDiscovery, render_dns_config
from quizplatform.ops.tls import ensure_certificates
from tests.deploy.compose_model import COMPOSE_DIR, ROOT, models, services, tool

SERVICES = services(models()["production"])
HAPROXY_CFG = COMPOSE_DIR / "haproxy" / "haproxy.cfg"
PROMETHEUS_YML = COMPOSE_DIR / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "rules"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "quiz-platform.json"


def check(args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, f"$ {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def mount_source(service: str, target: str) -> Path:
    """The repository path a service mounts at ``target``."""
    for volume in SERVICES[service]["volumes"]:
        source, mounted, *_ = volume.split(":")
        if mounted == target:
            return (COMPOSE_DIR / source).resolve()
    raise AssertionError(f"{service} mounts nothing at {target}")


# -- HAProxy ---------------------------------------------------------------------------------
def test_the_committed_haproxy_config_is_the_dns_rendering_of_the_template() -> None:
    assert HAPROXY_CFG.read_text() == render_dns_config(DnsDiscovery()), (
        "deploy/compose/haproxy/haproxy.cfg is stale: PYTHONPATH=src python -m "
        "quizplatform.cli stack render-haproxy --dns app:8000 > deploy/compose/haproxy/haproxy.cfg"
    )
    assert mount_source("haproxy", "/usr/local/etc/haproxy/haproxy.cfg") == HAPROXY_CFG


def test_the_haproxy_config_passes_haproxy_check(tmp_path: Path) -> None:
    """The mounted file as it is, but for the certificate: a throwaway one here (HAProxy
    loads it while checking); the resolvers section (127.0.0.11) parses offline."""
    haproxy = tool("haproxy", "/usr/sbin")
    bundle = ensure_certificates(tmp_path / "tls").bundle
    text = HAPROXY_CFG.read_text()
    assert text.count("crt /run/secrets/tls_bundle ") == 1
    config = tmp_path / "haproxy.cfg"
    config.write_text(text.replace("crt /run/secrets/tls_bundle ", f"crt {bundle} "))
    check([haproxy, "-c", "-f", str(config)], env={"QUIZ_HTTPS_PORT": "443"})


def test_haproxy_listens_where_compose_and_prometheus_expect_it() -> None:
    text = HAPROXY_CFG.read_text()
    haproxy = SERVICES["haproxy"]
    assert "tls_bundle" in haproxy["secrets"]
    for published in haproxy["ports"]:
        assert f"bind *:{published.rsplit(':', 1)[1]}" in text
    assert "QUIZ_HTTPS_PORT" in haproxy["environment"]
    assert "bind *:8404" in text and "http://127.0.0.1:8404/stats" in haproxy["healthcheck"]["test"]
    assert "server-template app 10 app:8000 check resolvers docker init-addr none" in text
    assert "--port" in SERVICES["app"]["command"] and "8000" in SERVICES["app"]["command"]


# -- Prometheus ------------------------------------------------------------------------------
def prometheus_config() -> dict[str, Any]:
    data = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert isinstance(data, dict)
    return data


def test_prometheus_mounts_the_projects_rules() -> None:
    assert mount_source("prometheus", "/etc/prometheus/prometheus.yml") == PROMETHEUS_YML
    assert mount_source("prometheus", "/etc/prometheus/rules") == RULES
    globs = prometheus_config()["rule_files"]
    assert globs == ["/etc/prometheus/rules/core/*.yml"], "single PostgreSQL: no Patroni rules"


def test_prometheus_config_and_its_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    text = PROMETHEUS_YML.read_text().replace("/etc/prometheus/rules", str(RULES))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    for pattern in yaml.safe_load(text)["rule_files"]:
        assert list(Path("/").glob(pattern.lstrip("/"))), f"{pattern} matches no rule file"
    check([promtool, "check", "config", str(config)])


def test_prometheus_scrapes_every_job_the_rules_select_and_each_metrics_port() -> None:
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    loaded = sorted((RULES / "core").glob("*.yml")) or sorted(RULES.glob("*.yml"))
    rules = " ".join(path.read_text() for path in loaded)
    selected = set(re.findall(r'job=~?"([\w|-]+)"', rules))
    for names in selected:
        for job in names.split("|"):
            assert job in jobs, f"the rules select job {job!r}, which is not scraped"
    assert jobs["quiz"]["dns_sd_configs"][0] == {
        "names": ["app"],
        "type": "A",
        "port": 8000,
        "refresh_interval": "10s",
    }
    assert jobs["quiz-worker"]["dns_sd_configs"][0]["port"] == 9100
    assert "--metrics-port" in SERVICES["worker"]["command"]
    assert jobs["quiz-backup"]["static_configs"][0]["targets"] == ["backup:9098"]
    assert "--metrics-port=9098" in SERVICES["backup"]["command"]


# -- Alertmanager ----------------------------------------------------------------------------
def test_alertmanager_config_passes_amtool() -> None:
    path = COMPOSE_DIR / "alertmanager" / "alertmanager.yml"
    assert mount_source("alertmanager", "/etc/alertmanager/alertmanager.yml") == path
    check([tool("amtool"), "check-config", str(path)])
    receivers = yaml.safe_load(path.read_text())["receivers"]
    files = [c["api_url_file"] for r in receivers for c in r.get("slack_configs", [])]
    secrets = {f"/run/secrets/{s}" for s in SERVICES["alertmanager"]["secrets"]}
    assert files and set(files) <= secrets


# -- Grafana ---------------------------------------------------------------------------------
def defined_metrics() -> set[str]:
    """Every metric the project exports or records (names as Prometheus sees them)."""
    names: set[str] = set()
    for path in (ROOT / "src" / "quizplatform").rglob("*.py"):
        text = path.read_text()
        for kind, name in re.findall(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(\w+)\"", text):
            names.add(name)
            if kind == "Histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    for path in RULES.rglob("*.yml"):
        names.update(re.findall(r"record:\s*([\w:]+)", path.read_text()))
    return names


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_metric_on_the_dashboard_exists() -> None:
    known = defined_metrics()
    assert "quiz_backup_last_success_timestamp_seconds" in known  # the search works
    functions = {"sum", "max", "rate", "increase", "histogram_quantile", "count", "time", "by"}
    for expr in dashboard_queries():
        stripped = re.sub(r"\{[^}]*\}|\[[^]]*\]|\"[^\"]*\"", "", expr)
        for name in re.findall(r"[a-zA-Z_:][\w:]*", stripped):
            if name in functions or name in ("le", "status", "how", "provider", "outcome"):
                continue
            if name in ("target", "database", "instance_name", "type", "operation"):
                continue
            if name == "up" or name.startswith("haproxy_"):  # Prometheus's, HAProxy's own
                continue
            assert name in known, f"{name} (in {expr!r}) is not a metric of the project"


def test_the_dashboard_covers_the_signals_operators_need() -> None:
    queries = " ".join(dashboard_queries())
    for needed in (
        "http_requests_total",
        'status=~"5.."',
        "histogram_quantile(0.5,",
        "histogram_quantile(0.99,",
        "quiz_attempts_started_total",
        "quiz_ai_breaker_state",
        "db_replica_lag_seconds",
        "db_route_total",
        "quiz_backup_last_success_timestamp_seconds",
    ):
        assert needed in queries, needed
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "quiz-platform"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus() -> None:
    assert mount_source("grafana", "/etc/grafana/provisioning") == GRAFANA / "provisioning"
    assert mount_source("grafana", "/var/lib/grafana/dashboards") == DASHBOARD.parent
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/quiz-platform.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in SERVICES


# -- PostgreSQL and backups ------------------------------------------------------------------
def test_wal_archiving_and_the_backup_service_use_the_same_repository() -> None:
    """The postgres service's archive_command is what the stack's code builds for the
    backup service's repository and the shared data directory."""
    command = SERVICES["backup"]["command"]
    option = dict(arg.removeprefix("--").split("=", 1) for arg in command if "=" in arg)
    home = Path(option["home"])
    settings = BackupSettings(
        repo_path=Path(option["repo"]),
        home=home,
        cipher_pass_file=home / "conf.d" / "repo-cipher.conf",
    )
    target = PgTarget(
        Path(option["pg-data"]), int(option["pg-port"]), Path(option["pg-socket-dir"])
    )
    expected = BackupRepository(settings).archive_command(target)
    expected = re.sub(r"^\S*/pgbackrest ", "/usr/bin/pgbackrest ", expected)
    postgres = SERVICES["postgres"]
    assert f"archive_command={expected}" in postgres["command"]
    assert postgres["environment"]["PGDATA"] == option["pg-data"]

    def volumes(service: str) -> dict[str, str]:
        return {v.split(":")[1]: v.split(":")[0] for v in SERVICES[service]["volumes"]}

    database, backup = volumes("postgres"), volumes("backup")
    for path in (option["pg-data"], option["pg-socket-dir"], option["repo"], option["home"]):
        assert database[path] == backup[path], f"{path}: postgres and backup share no volume"


def test_the_database_image_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    dockerfile = COMPOSE_DIR / "postgres" / "Dockerfile"
    check([str(hadolint), str(dockerfile)])
    assert "FROM postgres:15." in dockerfile.read_text()  # the stack's major version


@pytest.mark.parametrize(
    "script", [COMPOSE_DIR / "make-secrets.sh", COMPOSE_DIR / "postgres/initdb/10-quiz-role.sh"]
)
def test_the_shell_scripts_parse(script: Path) -> None:
    check(["sh", "-n", str(script)])
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
