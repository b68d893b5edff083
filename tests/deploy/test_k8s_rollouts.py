"""The optional Argo Rollouts variant (deploy/k8s/extras/argo-rollouts): it builds, its
Kubernetes resources pass `kubernetes-validate --strict`, the Rollout takes over the app's
Deployment with the HPA, and its AnalysisTemplate's queries implement the project's canary
rule (quizplatform.ops.deploy.CanaryPolicy), checked with `promtool test rules` on
synthetic canary and stable traffic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from quizplatform.ops.deploy import CanaryPolicy
from tests.deploy.k8s_model import EXTRAS, built, is_crd, name, one

ROLLOUTS = "extras/argo-rollouts"
ROUTE = 'job="quiz",route="/api/v1/quizzes",method="GET"'


def test_the_rollouts_variant_exists() -> None:
    assert ROLLOUTS in EXTRAS


@pytest.mark.parametrize("extra", EXTRAS)
def test_extras_pass_kubernetes_validate_strict(extra: str) -> None:
    problems = []
    for resource in built(extra):
        if is_crd(resource):
            continue
        try:
            kubernetes_validate.validate(resource, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name(resource)}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_the_rollout_takes_over_the_deployment_with_the_hpa() -> None:
    resources = built(ROLLOUTS)
    rollout = one(resources, "Rollout", "quiz")["spec"]
    assert rollout["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "quiz",
        "scaleDown": "progressively",
    }
    canary = rollout["strategy"]["canary"]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (1, 0)
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert tuple(weights) == CanaryPolicy().steps
    assert canary["analysis"]["templates"] == [{"templateName": "quiz-canary"}]
    target = one(resources, "HorizontalPodAutoscaler", "quiz")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Rollout", "quiz")
    monitor = one(resources, "ServiceMonitor", "quiz")["spec"]["endpoints"][0]
    assert "rollouts_pod_template_hash" in {r["targetLabel"] for r in monitor["relabelings"]}


def analysis_queries() -> dict[str, str]:
    template = one(built(ROLLOUTS), "AnalysisTemplate", "quiz-canary")["spec"]
    return {
        m["name"].replace("-", "_"): m["provider"]["prometheus"]["query"]
        .replace("{{args.canary-hash}}", "c")
        .replace("{{args.stable-hash}}", "s")
        for m in template["metrics"]
    }


def test_the_analysis_thresholds_are_the_canary_policy() -> None:
    policy = CanaryPolicy()
    metrics = {
        m["name"]: m
        for m in one(built(ROLLOUTS), "AnalysisTemplate", "quiz-canary")["spec"]["metrics"]
    }
    errors, latency = metrics["error-rate-delta"], metrics["p99-ratio"]
    assert errors["successCondition"] == f"result[0] <= {policy.max_error_delta:g}"
    assert errors["failureLimit"] == 0
    assert latency["failureLimit"] == policy.latency_checks_to_fail - 1
    query = latency["provider"]["prometheus"]["query"]
    assert f"> {policy.max_latency_ratio:g} * histogram_quantile" in query
    assert f"> {policy.min_latency_delta:g}" in query
    assert f">= {policy.min_latency_requests}" in query
    assert f">= {policy.min_requests}" in errors["provider"]["prometheus"]["query"]


def series(hash_: str, status: str, per_10s: int) -> dict[str, str]:
    return {
        "series": (
            f'http_requests_total{{{ROUTE},status="{status}",rollouts_pod_template_hash="{hash_}"}}'
        ),
        "values": f"0+{per_10s}x30",
    }


def test_the_error_query_measures_the_canarys_extra_points(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (tests/integration/test_alert_rules.py fails)")
    queries = analysis_queries()
    rules = tmp_path / "analysis.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "analysis",
                        "rules": [
                            {"record": f"analysis:{k}", "expr": v} for k, v in queries.items()
                        ],
                    }
                ]
            }
        )
    )
    cases = [
        # canary 10 % errors, stable 1 %: 9 points over.
        (
            [
                series("c", "200", 90),
                series("c", "500", 10),
                series("s", "200", 99),
                series("s", "500", 1),
            ],
            9,
        ),
        # both clean (no 5xx series at all): 0.
        ([series("c", "200", 100), series("s", "200", 100)], 0),
        # canary errors but too few requests to judge: 0.
        ([series("c", "500", 0), series("s", "200", 100)], 0),
    ]
    tests = [
        {
            "interval": "10s",
            "input_series": inputs,
            "promql_expr_test": [
                {
                    "expr": "analysis:error_rate_delta",
                    "eval_time": "4m",
                    "exp_samples": [{"labels": "analysis:error_rate_delta", "value": value}],
                }
            ],
        }
        for inputs, value in cases
    ]
    check = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr  # the latency query parses too
    spec = tmp_path / "test.yml"
    spec.write_text(yaml.safe_dump({"rule_files": [rules.name], "tests": tests}))
    out = subprocess.run(
        [promtool, "test", "rules", spec.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
