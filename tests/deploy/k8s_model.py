"""Building the Kubernetes overlays (deploy/k8s) for the tests: `kubectl kustomize`, offline.

kubectl is Debian's kubernetes-client (kubectl 1.20, kustomize v2.0.3; scripts/system-deps.sh
installs it) or any newer kubectl; the kustomizations use only what both understand. When
kubectl is missing the tests fail, as the other deployment tools' do; QUIZ_ALLOW_MISSING_TOOLS=1
turns that into a skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
#: Optional variants built on an overlay (deploy/k8s/extras).
EXTRAS = sorted(f"extras/{p.name}" for p in (K8S / "extras").iterdir() if p.is_dir())

Resource = dict[str, Any]

#: Kinds of the operators' custom resources: kubernetes-validate has no schema for them.
CRD_KINDS = {
    "postgresql.cnpg.io/v1": {"Cluster", "ScheduledBackup", "Pooler"},
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
    "external-secrets.io/v1": {"ExternalSecret"},
    "argoproj.io/v1alpha1": {"Rollout", "AnalysisTemplate"},
}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def kubectl() -> str:
    """kubectl's path, or a failure (a skip with QUIZ_ALLOW_MISSING_TOOLS=1) naming the fix."""
    path = shutil.which("kubectl")
    if path is None:
        message = (
            "kubectl is not installed: `make test` installs it (Debian package "
            "kubernetes-client); QUIZ_ALLOW_MISSING_TOOLS=1 skips these tests instead"
        )
        if os.environ.get("QUIZ_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return path


def kustomize(directory: Path) -> str:
    """`kubectl kustomize DIR`'s output; a failed build fails with what kubectl printed."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, f"kubectl kustomize {directory}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@functools.cache
def built(overlay: str) -> tuple[Resource, ...]:
    """The resources an overlay (or ``extras/<name>``) builds to (built once per session)."""
    directory = K8S / overlay if overlay.startswith("extras/") else K8S / "overlays" / overlay
    text = kustomize(directory)
    return tuple(doc for doc in yaml.safe_load_all(text) if doc)


def is_crd(resource: Resource) -> bool:
    """Whether the resource is one of an operator's custom resources."""
    return resource["kind"] in CRD_KINDS.get(resource["apiVersion"], set())


def name(resource: Resource) -> str:
    """kind/name, for messages."""
    return f"{resource['kind']}/{resource['metadata']['name']}"


def one(resources: tuple[Resource, ...], kind: str, resource_name: str) -> Resource:
    """The resource of this kind and name (the only one)."""
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == resource_name]
    assert len(found) == 1, f"{kind}/{resource_name}: {len(found)} found"
    return found[0]


def pod_spec(resource: Resource) -> Resource:
    """The pod template's spec of a workload."""
    spec: Resource = resource["spec"]["template"]["spec"]
    return spec


def workloads(resources: tuple[Resource, ...]) -> list[Resource]:
    """Deployments, StatefulSets and Jobs."""
    return [r for r in resources if r["kind"] in WORKLOADS]


def containers(resources: tuple[Resource, ...]) -> list[tuple[Resource, Resource]]:
    """Every (workload, container) pair, init containers included."""
    return [
        (w, c)
        for w in workloads(resources)
        for c in [*pod_spec(w).get("initContainers", []), *pod_spec(w)["containers"]]
    ]


def selects(selector: Resource, labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector (or {}: everything) selects these labels."""
    wanted = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())
