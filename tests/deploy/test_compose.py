"""Docker Compose (deploy/compose): both files against the Compose specification's JSON
schema (check-jsonschema's vendored copy, offline), and the project's own rules on the
base file and on the production deployment (base + override, merged as Compose does):
health checks, resource limits, restart policies, pinned images, secrets only as files,
mounted files present, migrations before the app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_model import (
    BASE,
    COMPOSE_DIR,
    PRODUCTION,
    REPLACED_SEQUENCES,
    Model,
    load,
    models,
    one_shot,
    services,
)

MODELS = models()
DEPLOYMENTS = sorted(MODELS)
SECRET_WORD = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|WEBHOOK", re.IGNORECASE)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
RESTARTING = {"always", "unless-stopped", "on-failure"}
APP_IMAGES = ("quizplatform:", "quizplatform-postgres:")


def all_services() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (deployment, name, service)
        for deployment in DEPLOYMENTS
        for name, service in services(MODELS[deployment]).items()
    ]


SERVICES = all_services()
IDS = [f"{deployment}-{name}" for deployment, name, _ in SERVICES]


def test_both_files_match_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(BASE), str(PRODUCTION)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_override_changes_mappings_only() -> None:
    """A list in the override would be appended to the base's by Compose (ports, volumes,
    secrets): the merge in compose_model would then be wrong, and so would the file."""

    def lists(node: Any, path: tuple[str, ...]) -> list[str]:
        if isinstance(node, dict):
            return [p for key, value in node.items() for p in lists(value, (*path, str(key)))]
        if isinstance(node, list) and path[-1] not in REPLACED_SEQUENCES:
            return [".".join(path)]
        return []

    assert lists(load(PRODUCTION), ()) == []
    assert set(services(load(PRODUCTION))) <= set(services(load(BASE)))


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_every_service_has_a_health_check_or_is_a_one_shot_waited_for(
    deployment: str, name: str, service: dict[str, Any]
) -> None:
    if one_shot(service):
        waiting = [
            other
            for other, s in services(MODELS[deployment]).items()
            if s.get("depends_on", {}).get(name, {}).get("condition")
            == "service_completed_successfully"
        ]
        assert waiting, f"nothing waits for the one-shot service {name} to complete"
        return
    check = service.get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no health check"
    assert check["test"] and check["test"][0] in ("CMD", "CMD-SHELL"), check


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_every_service_has_cpu_and_memory_limits(
    deployment: str, name: str, service: dict[str, Any]
) -> None:
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    assert limits.get("cpus") and limits.get("memory"), f"{name}: limits {limits}"
    assert re.fullmatch(r"\d+(\.\d+)?", str(limits["cpus"])), limits
    assert re.fullmatch(r"\d+[kmgKMG]", str(limits["memory"])), limits


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_every_service_has_a_restart_policy(
    deployment: str, name: str, service: dict[str, Any]
) -> None:
    assert service.get("restart") in RESTARTING | {"no"}, f"{name}: {service.get('restart')}"


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_every_image_is_pinned(deployment: str, name: str, service: dict[str, Any]) -> None:
    image = service["image"]
    assert "latest" not in image.lower(), image
    if image.startswith(APP_IMAGES):
        # The project's own images carry the release, which must be given.
        assert image.split(":", 1)[1].startswith("${QUIZ_VERSION:?"), image
        assert service["build"]["context"] == "../..", service["build"]
        return
    assert "${" not in image, f"{name}: a third-party image must not take its tag from .env"
    _, _, tag = image.rpartition(":")
    assert "/" not in tag and re.match(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image} untagged"


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_no_secret_in_the_environment(deployment: str, name: str, service: dict[str, Any]) -> None:
    """A secret-looking variable only names a file of a Compose secret this service has."""
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping, please"
    mounted = {f"/run/secrets/{s}" for s in service.get("secrets", [])}
    for key, value in environment.items():
        text = str(value)
        assert not URL_WITH_PASSWORD.search(text), f"{name}: {key} holds a password"
        if SECRET_WORD.search(key):
            assert key.endswith("_FILE"), f"{name}: {key} has a literal value; use {key}_FILE"
            assert text in mounted, f"{name}: {key}={text} is not one of its secrets {mounted}"


@pytest.mark.parametrize(("deployment", "name", "service"), SERVICES, ids=IDS)
def test_every_mounted_file_exists(deployment: str, name: str, service: dict[str, Any]) -> None:
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0]
        if source.startswith("."):
            assert (COMPOSE_DIR / source).exists(), f"{name} mounts {source}, missing"
    build = service.get("build")
    if build and build["dockerfile"] != "Dockerfile":  # the root one is the image's own
        assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).is_file(), build


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_secret_is_a_file_created_at_install(deployment: str) -> None:
    model = MODELS[deployment]
    declared = model["secrets"]
    readme = (COMPOSE_DIR / "secrets" / "README.md").read_text()
    for secret, spec in declared.items():
        assert set(spec) == {"file"}, f"{secret}: a file, not {spec}"
        path = Path(spec["file"])
        assert path.parts[:2] == (".", "secrets") or path.parts[0] == "secrets", path
        assert f"`{path.name}`" in readme, f"secrets/README.md does not say how to make {path}"
    used = {s for service in services(model).values() for s in service.get("secrets", [])}
    assert used == set(declared), (
        f"declared but unused, or used but undeclared: {used ^ set(declared)}"
    )


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_migrations_run_once_before_the_app_and_the_worker(deployment: str) -> None:
    found = services(MODELS[deployment])
    migrate = found["migrate"]
    assert one_shot(migrate)
    assert migrate["entrypoint"] == ["quiz"] and migrate["command"] == ["db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("app", "worker"):
        depends = found[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert found[name]["image"] == migrate["image"], "one image for all three"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_the_app_runs_replicas_checked_on_readiness(deployment: str) -> None:
    app = services(MODELS[deployment])["app"]
    assert app["deploy"]["replicas"] >= 2
    assert "/health/ready" in " ".join(app["healthcheck"]["test"])
    assert "ports" not in app, "the app is reached through HAProxy only"
    # The drain (shutdown_drain_delay + shutdown_timeout) fits in the stop grace period.
    assert int(app["stop_grace_period"].rstrip("s")) >= 35


def test_production_runs_more_and_larger_replicas() -> None:
    base, production = (services(MODELS[d]) for d in ("base", "production"))
    assert production["app"]["deploy"]["replicas"] > base["app"]["deploy"]["replicas"]
    assert production["app"]["environment"]["QUIZ_ENV"] == "production"
    assert production["app"]["environment"]["QUIZ_DATABASE_URL_FILE"] == "/run/secrets/database_url"


def test_the_database_and_redis_read_their_passwords_from_secrets() -> None:
    found = services(MODELS["production"])
    postgres, redis = found["postgres"], found["redis"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert postgres["image"].startswith("quizplatform-postgres:")
    command = " ".join(redis["command"])
    assert '"$$(cat /run/secrets/redis_password)"' in command
    assert "requirepass" in command and "--requirepass" not in command  # not in `ps`
    assert "/run/secrets/redis_password" in " ".join(redis["healthcheck"]["test"])


def test_only_haproxy_grafana_prometheus_and_alertmanager_publish_ports() -> None:
    published = {n: s["ports"] for n, s in services(MODELS["production"]).items() if "ports" in s}
    assert set(published) == {"haproxy", "prometheus", "alertmanager", "grafana"}
    for name in ("prometheus", "alertmanager", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in published[name]), published[name]
    assert published["haproxy"] == ["${QUIZ_HTTPS_PORT:-443}:8443", "${QUIZ_HTTP_PORT:-80}:8080"]


def test_the_trusted_proxy_is_haproxys_fixed_address(tmp_path: Path) -> None:
    model: Model = MODELS["production"]
    found = services(model)
    address = found["haproxy"]["networks"]["back"]["ipv4_address"]
    subnet = model["networks"]["back"]["ipam"]["config"][0]["subnet"]
    assert address.rsplit(".", 1)[0] == subnet.rsplit(".", 1)[0]
    assert found["app"]["environment"]["QUIZ_TRUSTED_PROXIES"] == f'["{address}/32"]'


def test_every_variable_compose_reads_is_in_the_env_example() -> None:
    text = BASE.read_text() + PRODUCTION.read_text()
    used = set(re.findall(r"\$\{(\w+)", text.replace("$$", "")))
    example = (COMPOSE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert used == listed, f"compose reads {sorted(used)}, .env.example has {sorted(listed)}"
    assert not SECRET_WORD.search(" ".join(listed)), "secrets go in secrets/, not .env"
