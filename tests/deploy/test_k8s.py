"""Kubernetes (deploy/k8s): each overlay builds with `kubectl kustomize` (offline), every
built resource Kubernetes knows passes `kubernetes-validate --strict`, the operators' custom
resources pass structural checks (their schemas are not available offline: skipped with the
reason), and the project's policies hold: probes, limits, non-root, read-only root, no
`latest`, the HPA's bounds and windows, disruption budgets, default-deny network policies,
the drain, secrets by reference. The PrometheusRule, the settings profiles and the Grafana
dashboard kept under deploy/k8s/base must equal what they are copied or generated from."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from quizplatform.ops import k8s_rules
from tests.deploy.k8s_model import (
    BASE,
    CRD_KINDS,
    K8S,
    OVERLAYS,
    ROOT,
    Resource,
    built,
    containers,
    is_crd,
    name,
    one,
    pod_spec,
    selects,
    workloads,
)

#: preStop's `sleep` action needs 1.30; the newest version kubernetes-validate ships too.
K8S_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
#: What kustomize v2.0.3 (Debian's kubectl 1.20) understands, the keys used here among them.
OLD_KUSTOMIZE_KEYS = {
    "resources",
    "bases",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "commonAnnotations",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patchesStrategicMerge",
    "patchesJson6902",
}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
# What the manifests must give the pods (a pod's own network namespace); asserted in the
# built YAML only: no test binds it.
# The unspecified address, as the manifests give it to a pod's containers (its network is
# the boundary); read from YAML here, never bound.
ANY_ADDRESS = str(ipaddress.IPv4Address(0))
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "quiz-platform.json"
PRODUCTION_PROFILE = ROOT / "config" / "production.toml"


def all_resources() -> list[tuple[str, Resource]]:
    return [(overlay, r) for overlay in OVERLAYS for r in built(overlay)]


# -- build and schemas -----------------------------------------------------------------------
def test_there_are_a_staging_and_a_production_overlay() -> None:
    assert OVERLAYS == ["production", "staging"]


def test_kustomizations_use_only_what_kustomize_v2_understands() -> None:
    for path in K8S.rglob("kustomization.yaml"):
        keys = set(yaml.safe_load(path.read_text()))
        assert keys <= OLD_KUSTOMIZE_KEYS, f"{path}: {sorted(keys - OLD_KUSTOMIZE_KEYS)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_into_its_namespace(overlay: str) -> None:
    resources = built(overlay)
    assert len(resources) > 20
    namespaces = {r["metadata"].get("namespace") for r in resources}
    assert namespaces == {"quiz" if overlay == "production" else f"quiz-{overlay}"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_resources_pass_kubernetes_validate_strict(overlay: str, version: str) -> None:
    problems = []
    for resource in built(overlay):
        if is_crd(resource):
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name(resource)}: {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "kind",
    sorted(f"{api}/{kind}" for api, kinds in CRD_KINDS.items() for kind in kinds),
)
def test_custom_resources_schema_validation_is_skipped(kind: str) -> None:
    pytest.skip(
        f"{kind}: no JSON schema for this operator's CRD is available offline (kubernetes-"
        "validate ships only Kubernetes' own); checked structurally by the tests below"
    )


def test_only_the_known_custom_resources_are_used() -> None:
    for overlay, resource in all_resources():
        api = resource["apiVersion"]
        if "." in api.split("/")[0] and not api.startswith(
            ("apps/", "batch/", "policy/", "autoscaling/", "networking.k8s.io/")
        ):
            assert is_crd(resource), f"{overlay}: {name(resource)} ({api}) is not checked"


# -- workloads -------------------------------------------------------------------------------
def test_every_long_running_container_has_the_three_probes() -> None:
    for _, resource in all_resources():
        if resource["kind"] not in ("Deployment", "StatefulSet"):
            continue  # a Job runs to completion: nothing to probe
        for container in pod_spec(resource)["containers"]:
            missing = [p for p in PROBES if p not in container]
            assert not missing, f"{name(resource)} {container['name']}: no {missing}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for workload, container in containers(built(overlay)):
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            assert set(resources.get(part, {})) >= {"cpu", "memory"}, (
                f"{name(workload)} {container['name']}: {part}"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_locked_down(overlay: str) -> None:
    for workload, container in containers(built(overlay)):
        pod = pod_spec(workload).get("securityContext", {})
        where = f"{name(workload)} {container['name']}"
        assert pod.get("runAsNonRoot") is True, where
        assert pod.get("runAsUser", 0) != 0, where
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, where
        own = container.get("securityContext", {})
        assert own.get("allowPrivilegeEscalation") is False, where
        assert own.get("readOnlyRootFilesystem") is True, where
        assert own.get("capabilities", {}).get("drop") == ["ALL"], where
        assert "privileged" not in own, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_read_only_root_gets_a_writable_tmp(overlay: str) -> None:
    for workload, container in containers(built(overlay)):
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name(workload)}: no /tmp"
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name(workload)}: /tmp not emptyDir"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned_and_never_latest(overlay: str) -> None:
    for workload, container in containers(built(overlay)):
        image = container["image"]
        tag = image.rsplit("@", 1)[-1] if "@" in image else image.rsplit("/", 1)[-1]
        assert "@sha256:" in image or ":" in tag, f"{name(workload)}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name(workload)}: {image}"
        assert "set-by-overlay" not in image, f"{name(workload)}: the overlay sets no tag"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_and_worker_run_the_image_commands(overlay: str) -> None:
    resources = built(overlay)
    expected = {
        ("Deployment", "quiz"): ["serve", "--host", ANY_ADDRESS, "--port", "8000"],
        ("Deployment", "quiz-worker"): ["worker", "--metrics-host", ANY_ADDRESS, "--metrics-port"],
        ("Job", "quiz-migrate"): ["db", "upgrade"],
    }
    for (kind, workload_name), args in expected.items():
        (container,) = pod_spec(one(resources, kind, workload_name))["containers"]
        assert container["command"] == ["quiz"]
        assert container["args"][: len(args)] == args
        assert container["image"].split("/")[-1].startswith("quizplatform")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_roll_one_extra_pod_at_a_time(overlay: str) -> None:
    for workload in workloads(built(overlay)):
        if workload["kind"] != "Deployment":
            continue
        strategy = workload["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate"
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_grace_period_covers_prestop_and_the_apps_drain(overlay: str) -> None:
    profile = tomllib.loads(PRODUCTION_PROFILE.read_text())
    drain = profile["shutdown_drain_delay"] + profile["shutdown_timeout"]
    app = one(built(overlay), "Deployment", "quiz")
    (container,) = pod_spec(app)["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 3, "the ingress controller needs a moment to drop the pod"
    assert pod_spec(app)["terminationGracePeriodSeconds"] >= pre_stop + drain + 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_probes_use_the_health_endpoints(overlay: str) -> None:
    (container,) = pod_spec(one(built(overlay), "Deployment", "quiz"))["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_pods_spread_over_nodes_and_zones(overlay: str) -> None:
    spread = pod_spec(one(built(overlay), "Deployment", "quiz"))["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in spread}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


# -- scaling and disruptions -----------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hpa_scales_the_app_2_to_10_at_70_percent_cpu_with_the_windows(overlay: str) -> None:
    hpa = one(built(overlay), "HorizontalPodAutoscaler", "quiz")
    spec = hpa["spec"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert spec["scaleTargetRef"]["name"] == "quiz"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 300
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900
    assert "replicas" not in one(built(overlay), "Deployment", "quiz")["spec"], (
        "the HPA owns the app's replica count"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget(overlay: str) -> None:
    resources = built(overlay)
    budgets = [r for r in resources if r["kind"] == "PodDisruptionBudget"]
    for workload in workloads(resources):
        if workload["kind"] != "Deployment":
            continue
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(selects(b["spec"]["selector"], labels) for b in budgets), name(workload)


# -- network ---------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default(overlay: str) -> None:
    deny = one(built(overlay), "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_ingress_controller_and_prometheus_reach_the_app(overlay: str) -> None:
    policy = one(built(overlay), "NetworkPolicy", "quiz-app")["spec"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    internal = [rule for rule in policy["egress"] if "ipBlock" not in rule["to"][0]]
    targets = [peer["podSelector"]["matchLabels"] for rule in internal for peer in rule["to"]]
    assert targets == [
        {"cnpg.io/poolerName": "quiz-db-pooler-rw"},
        {"app.kubernetes.io/name": "quizplatform", "app.kubernetes.io/component": "redis"},
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_has_its_own_network_policy(overlay: str) -> None:
    resources = built(overlay)
    policies = [
        r
        for r in resources
        if r["kind"] == "NetworkPolicy" and r["spec"]["podSelector"].get("matchLabels")
    ]
    for workload in workloads(resources):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p["spec"]["podSelector"], labels) for p in policies), name(workload)


# -- configuration, secrets, ingress ---------------------------------------------------------
def test_the_settings_profiles_are_copies_of_config() -> None:
    copies = sorted((BASE / "config").glob("*.toml"))
    assert [p.name for p in copies] == ["production.toml", "staging.toml"]
    for copy in copies:
        assert copy.read_text() == (ROOT / "config" / copy.name).read_text(), (
            f"{copy} differs from config/{copy.name}: cp config/{copy.name} {copy}"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_references_only(overlay: str) -> None:
    resources = built(overlay)
    assert not [r for r in resources if r["kind"] == "Secret"], "a Secret is committed"
    external = {r["metadata"]["name"] for r in resources if r["kind"] == "ExternalSecret"}
    assert external == {"quiz-app", "quiz-db-credentials", "quiz-backup-s3"}
    env = next(r for r in resources if r["metadata"]["name"].startswith("quiz-env"))
    assert env["data"]["QUIZ_ENV"] == ("production" if overlay == "production" else overlay)
    for key, value in env["data"].items():
        assert not any(w in key for w in ("PASSWORD", "SECRET")) or key.endswith("_FILE"), key
        assert "@" not in value, f"{key}: a URL with credentials"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_has_tls_from_cert_manager_and_hides_the_operators_paths(overlay: str) -> None:
    resources = built(overlay)
    ingress = one(resources, "Ingress", "quiz")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"]
    host = ingress["spec"]["rules"][0]["host"]
    assert ingress["spec"]["tls"][0]["hosts"] == [host]
    internal = one(resources, "Ingress", "quiz-internal-paths")
    assert internal["spec"]["rules"][0]["host"] == host
    paths = {p["path"] for p in internal["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/metrics", "/health"}
    allowed = internal["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/whitelist-source-range"
    ]
    assert allowed == "127.0.0.1/32"


# -- database, monitoring --------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cloudnativepg_cluster_is_replicated_and_backed_up(overlay: str) -> None:
    resources = built(overlay)
    cluster = one(resources, "Cluster", "quiz-db")["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["synchronous"]["number"] >= 1
    store = cluster["backup"]["barmanObjectStore"]
    assert store["destinationPath"].endswith(f"/{overlay}/quiz-db")
    assert cluster["monitoring"]["enablePodMonitor"] is True
    backup = one(resources, "ScheduledBackup", "quiz-db-daily")["spec"]
    assert backup["cluster"]["name"] == "quiz-db"
    assert len(backup["schedule"].split()) == 6, "CloudNativePG's schedule has seconds first"
    pooler = one(resources, "Pooler", "quiz-db-pooler-rw")["spec"]
    assert (pooler["cluster"]["name"], pooler["type"]) == ("quiz-db", "rw")
    assert pooler["pgbouncer"]["poolMode"] == "session", "asyncpg's prepared statements"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_scrape_the_jobs_the_alerts_name(overlay: str) -> None:
    resources = built(overlay)
    services = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Service"}
    for monitor_name, port in (("quiz", "http"), ("quiz-worker", "metrics")):
        monitor = one(resources, "ServiceMonitor", monitor_name)["spec"]
        service = services[monitor_name]  # the job label is the Service's name
        assert selects(monitor["selector"], service["metadata"]["labels"])
        assert [e["port"] for e in monitor["endpoints"]] == [port]
        assert port in {p["name"] for p in service["spec"]["ports"]}


def test_prometheus_rule_is_generated_from_the_rule_files() -> None:
    committed = k8s_rules.output_path().read_text()
    assert committed == k8s_rules.render(), (
        "deploy/k8s/base/prometheusrule.yaml drifted from deploy/prometheus/rules: "
        "run python -m quizplatform.ops.k8s_rules"
    )


def test_prometheus_rule_holds_core_and_cnpg_but_not_patroni() -> None:
    rule = yaml.safe_load(k8s_rules.output_path().read_text())
    groups = {g["name"]: g for g in rule["spec"]["groups"]}
    rules_dir = ROOT / "deploy" / "prometheus" / "rules"
    for path in [*rules_dir.glob("core/*.yml"), *rules_dir.glob("cnpg/*.yml")]:
        for group in yaml.safe_load(path.read_text())["groups"]:
            assert groups[group["name"]] == group, f"{path.name}: {group['name']}"
    records = {r.get("record"): r["expr"] for g in groups.values() for r in g["rules"]}
    assert (
        "cnpg_collector_last_available_backup_timestamp"
        in records["quiz_backup_last_success_timestamp_seconds"]
    )
    exprs = " ".join(str(r["expr"]) for g in groups.values() for r in g["rules"])
    assert "db_replica_lag_seconds" not in exprs, "a Patroni rule in the Kubernetes rules"


def test_prometheus_rule_groups_are_a_valid_rule_file(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (tests/integration/test_alert_rules.py fails)")
    spec = yaml.safe_load(k8s_rules.output_path().read_text())["spec"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_dashboard_is_a_copy_of_the_shared_one() -> None:
    copy = BASE / "grafana" / "quiz-platform.json"
    if not DASHBOARD.exists():
        pytest.skip(f"{DASHBOARD.relative_to(ROOT)} does not exist on this branch yet")
    assert copy.read_text() == DASHBOARD.read_text(), (
        f"cp {DASHBOARD.relative_to(ROOT)} {copy.relative_to(ROOT)}"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_dashboard_ships_for_grafanas_sidecar(overlay: str) -> None:
    resources: list[Any] = [
        r
        for r in built(overlay)
        if r["kind"] == "ConfigMap" and r["metadata"]["name"].startswith("quiz-grafana")
    ]
    (dashboard,) = resources
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "quiz-platform.json" in dashboard["data"]
