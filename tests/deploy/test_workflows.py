"""The GitHub Actions workflows (.github/workflows): valid against GitHub's workflow schema
(`check-jsonschema --builtin-schema vendor.github-workflows`, offline) and the project's
policy: least-privilege permissions, third-party actions pinned to full commit SHAs, no
secret in a shell line, the pull-request workflow runs what `make test` runs, and the main
workflow deploys by digest with smoke tests and rollbacks. Each policy check also runs on a
broken sample, so a check that can no longer fail fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# The only write permissions a job may ask for: (workflow, job) -> scopes.
WRITES_ALLOWED = {("deploy.yml", "image"): {"packages"}}
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<target>\S+)(?P<rest>.*)$")
SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s*v\d+(\.\d+)*\s*$")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def triggers(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, spec in workflow["jobs"].items() for step in spec["steps"]]


def run_text(workflow: dict[str, Any], job: str | None = None) -> str:
    return "\n".join(
        str(step.get("run", "")) for name, step in steps(workflow) if job in (None, name)
    )


# ---------------------------------------------------------------------------- checks -----
def permission_problems(name: str, workflow: dict[str, Any]) -> list[str]:
    problems = []
    if workflow.get("permissions") != {"contents": "read"}:
        problems.append(f"{name}: top-level permissions must be exactly contents: read")
    for job, spec in workflow["jobs"].items():
        granted = spec.get("permissions", {})
        if not isinstance(granted, dict):
            problems.append(f"{name}/{job}: permissions {granted!r} (name each scope)")
            continue
        for scope, level in granted.items():
            if level == "write" and scope not in WRITES_ALLOWED.get((name, job), set()):
                problems.append(f"{name}/{job}: {scope}: write is not allowed here")
            elif level not in ("read", "write", "none"):
                problems.append(f"{name}/{job}: {scope}: {level!r}")
    return problems


def pin_problems(name: str, text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES.match(line)
        if match is None:
            continue
        action, _, ref = match["target"].strip("'\"").partition("@")
        where = f"{name}:{number} {action}"
        if action.startswith("./"):
            continue
        if action.startswith("docker://"):
            if not ref.startswith("sha256:"):
                problems.append(f"{where}: a docker:// action needs a digest")
        elif not SHA.match(ref):
            problems.append(f"{where}@{ref}: pin a full commit SHA")
        elif not VERSION_COMMENT.match(match["rest"]):
            problems.append(f"{where}: add the release as a comment (# vX.Y.Z)")
    return problems


def secret_problems(name: str, workflow: dict[str, Any]) -> list[str]:
    """Secrets reach shell lines only through `env:` and are never printed; no shell line
    expands an expression a pull request's author controls (script injection)."""
    problems = []
    for job, step in steps(workflow):
        script = str(step.get("run", ""))
        where = f"{name}/{job}/{step.get('name', step.get('uses', '?'))}"
        if "secrets." in script:
            problems.append(f"{where}: a secret in a run line (pass it through env)")
        if re.search(r"\$\{\{\s*github\.(event|head_ref)", script):
            problems.append(f"{where}: an event field expanded in a run line")
        if re.search(r"^\s*set\s+-[a-z]*x", script, re.MULTILINE):
            problems.append(f"{where}: set -x would print the secrets")
        for var, value in (step.get("env") or {}).items():
            if "secrets." in str(value) and re.search(rf"(echo|cat)\b[^\n>|]*\${{?{var}\b", script):
                problems.append(f"{where}: prints the secret {var}")
    return problems


def test_the_workflows_exist() -> None:
    assert {"ci.yml", "deploy.yml"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_valid_against_the_github_workflow_schema(path: Path) -> None:
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = (WORKFLOWS / "ci.yml").read_text().replace("runs-on:", "runs_on:", 1)
    broken.write_text(text)
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "runs_on" in done.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    assert permission_problems(path.name, load(path)) == []


def test_the_permission_check_catches_broad_grants() -> None:
    workflow = {
        "permissions": "write-all",
        "jobs": {"a": {"permissions": {"contents": "write"}}, "b": {"permissions": "write-all"}},
    }
    assert len(permission_problems("x.yml", workflow)) == 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actions_pinned_to_full_commit_shas(path: Path) -> None:
    assert pin_problems(path.name, path.read_text()) == []


def test_the_pin_check_catches_tags_short_shas_and_missing_comments() -> None:
    sample = "\n".join(
        [
            "      - uses: actions/checkout@v4",
            "      - uses: actions/checkout@11bd719",
            "        uses: docker/login-action@9780b0c442fbb1117ed29e0efdff1e18412f7567",
            "      - uses: docker://alpine:3.20",
            "      - uses: ./.github/actions/local",
            "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
        ]
    )
    assert len(pin_problems("x.yml", sample)) == 4


def test_one_action_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in FILES:
        for line in path.read_text().splitlines():
            if (match := USES.match(line)) is not None:
                action, _, ref = match["target"].partition("@")
                pins.setdefault(action, set()).add(ref + match["rest"])
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_secret_in_a_shell_line(path: Path) -> None:
    assert secret_problems(path.name, load(path)) == []


def test_the_secret_check_catches_echoed_and_inline_secrets() -> None:
    workflow = {
        "jobs": {
            "a": {
                "steps": [
                    {"run": "deploy --token ${{ secrets.TOKEN }}"},
                    {"env": {"T": "${{ secrets.TOKEN }}"}, "run": 'echo "$T"'},
                    {"run": 'echo "${{ github.event.pull_request.title }}"'},
                    {"run": "set -eux\nmake"},
                    {"env": {"T": "${{ secrets.TOKEN }}"}, "run": 'printf %s "$T" > f'},
                ]
            }
        }
    }
    assert len(secret_problems("x.yml", workflow)) == 4


# ---------------------------------------------------------------------- what they do -----
def makefile_drills() -> list[str]:
    match = re.search(r"^STACK_DRILLS := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match is not None
    return match[1].split()


def test_pull_requests_run_what_make_test_runs() -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert set(triggers(ci)) == {"pull_request"}
    text = run_text(ci)
    for command in ("make lint", "scripts/system-deps.sh", "scripts/pip-audit.sh", "pytest"):
        assert command in text, command
    # The suite minus only the drills (measured on the project's machines) and the contract
    # run, which has its own job with more examples.
    ignored = set(re.findall(r"--ignore=(\S+)", run_text(ci, "test")))
    assert ignored == {*makefile_drills(), "tests/security/test_openapi_contract.py"}
    assert "tests/security/test_openapi_contract.py" in run_text(ci, "schemathesis")
    assert "cyclonedx-py" in run_text(ci, "audit")
    for job in ("test", "schemathesis"):
        spec = ci["jobs"][job]
        assert set(spec["services"]) == {"postgres", "redis"}
        assert {"QUIZ_TEST_DATABASE_URL", "QUIZ_TEST_REDIS_URL"} <= set(spec["env"])
    image_steps = [s.get("uses", "") for s in ci["jobs"]["image"]["steps"]]
    assert any(u.startswith("docker/build-push-action@") for u in image_steps)
    assert any(u.startswith("aquasecurity/trivy-action@") for u in image_steps)


def test_no_image_or_service_floats_on_latest() -> None:
    for path in FILES:
        for job, spec in load(path)["jobs"].items():
            images = [spec.get("container", {}).get("image", "")]
            images += [s.get("image", "") for s in spec.get("services", {}).values()]
            for image in filter(None, images):
                assert ":" in image and not image.endswith(":latest"), f"{path.name}/{job}: {image}"


def test_main_deploys_by_digest_to_staging_then_production() -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    assert triggers(deploy) == {"push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    build = next(s for s in jobs["image"]["steps"] if s.get("id") == "build")
    assert build["uses"].startswith("docker/build-push-action@") and build["with"]["push"]
    assert jobs["image"]["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    for job in ("staging", "production"):
        image = jobs[job]["env"]["IMAGE"]
        assert image.endswith("@${{ needs.image.outputs.digest }}"), image
        assert 'kustomize edit set image "quizplatform=${IMAGE}"' in run_text(deploy, job)
    assert "kubectl apply -k deploy/k8s/overlays/staging" in run_text(deploy, "staging")
    assert jobs["production"]["needs"] == ["image", "staging"]
    # Manual approval: the `production` environment's required reviewers (repository
    # settings, docs/deploy-pipeline.md).
    assert jobs["production"]["environment"]["name"] == "production"
    assert "kubectl apply -k deploy/k8s/extras/argo-rollouts" in run_text(deploy, "production")


@pytest.mark.parametrize("job", ["staging", "production"])
def test_each_environment_is_smoke_tested_and_rolled_back_on_failure(job: str) -> None:
    deploy = load(WORKFLOWS / "deploy.yml")
    job_steps = deploy["jobs"][job]["steps"]
    ids = [s.get("id") for s in job_steps]
    smoke = job_steps[ids.index("smoke")]
    assert (
        ".venv/bin/quiz smoke" in smoke["run"] and "--metrics-url http://127.0.0.1" in smoke["run"]
    )
    rollback = [s for s in job_steps[ids.index("smoke") + 1 :] if "failure()" in s.get("if", "")]
    assert len(rollback) == 1, "one rollback step after the smoke test, run on failure"
    undo = rollback[0]["run"]
    if job == "staging":  # plain Deployments: back to the previous ReplicaSet
        assert re.search(r"rollout undo deployment/quiz$", undo, re.MULTILINE), undo
    else:  # Argo Rollouts: the previous image goes back through the Rollout
        assert 'set image deployment/quiz "app=${PREVIOUS_IMAGE}"' in undo
        assert "scripts/wait-rollout.sh" in undo


def test_paths_the_workflows_run_exist() -> None:
    text = "\n".join(p.read_text() for p in FILES)
    for path in sorted(set(re.findall(r"\b((?:scripts|tests)/[\w./-]+\.(?:sh|py))", text))):
        assert (REPO / path).exists(), path


def test_names_match_the_kubernetes_manifests() -> None:
    base = REPO / "deploy" / "k8s" / "base"
    if not base.exists():
        pytest.skip("deploy/k8s is not in this tree yet")
    names = {
        (doc["kind"], doc["metadata"]["name"])
        for path in base.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and "kind" in doc
    }
    assert {("Deployment", "quiz"), ("Deployment", "quiz-worker"), ("Job", "quiz-migrate")} <= names
    assert ("Service", "quiz") in names
    for overlay, namespace in (("staging", "quiz-staging"), ("production", "quiz")):
        kustomization = yaml.safe_load(
            (REPO / "deploy" / "k8s" / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        assert kustomization["namespace"] == namespace
        assert [i["name"] for i in kustomization["images"]] == ["quizplatform"]


def test_wait_rollout_decides_on_the_rollout_status(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        "field=${@: -1}; field=${field#jsonpath=\\{.status.}; field=${field%\\}}\n"
        'case $field in phase) echo -n "$PHASE";; abort) echo -n "$ABORT";;\n'
        '  currentPodHash) echo -n "$CURRENT";; stableRS) echo -n "$STABLE";; *) echo -n x;; esac\n'
    )
    fake.chmod(0o755)

    def wait(timeout: str, previous: str, **status: str) -> int:
        env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "ABORT": ""}
        env |= {k.upper(): v for k, v in status.items()}
        script = REPO / "scripts" / "wait-rollout.sh"
        args = [str(script), "quiz", "quiz", timeout, previous]
        return subprocess.run(args, env=env, capture_output=True, timeout=30).returncode

    assert wait("30", "old", phase="Healthy", current="new", stable="new") == 0
    assert wait("30", "old", phase="Degraded", current="new", stable="old") == 1
    assert wait("30", "old", phase="Paused", current="new", stable="old", abort="true") == 1
    # Not seen by the controller yet (still the old revision): not done.
    assert wait("0", "old", phase="Healthy", current="old", stable="old") == 1
