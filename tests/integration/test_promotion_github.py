"""Promotion's GitHub side against the OpenAPI-validated stand-in: `mlcd env setup` (reviewers, self-review,
branch policy, wait timer; idempotent, read back), `mlcd promote --via-pr` (a branch writing
deploy/<env>.yaml and a pull request carrying the evidence), the merged file promoted, and a promotion
through the webhook target (images written to the local registry over its HTTP API)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.images import start_services, unique
from testing.promotion import (
    MODEL,
    Receiver,
    commit,
    fake_sha,
    make_project,
    model_labels,
    project_config,
    push_synthetic_image,
)
from testing.repos import git, mlcd

pytestmark = pytest.mark.integration

REPO = "acme/penguins"
SECRET = "hook-secret"


def _run(project: Path, standin: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return mlcd(project, *args, GITHUB_TOKEN=standin.token, GITHUB_API_URL=standin.url, GITHUB_REPOSITORY=REPO,
                **env)


# --- mlcd env setup ----------------------------------------------------------------------------------------

ENVIRONMENTS = """\
    staging: {target: webhook, webhook: {url: "http://127.0.0.1:9/hook"}, branches: []}
    production:
      target: webhook
      webhook: {url: "http://127.0.0.1:9/hook"}
      reviewers: [octocat, acme/ml-leads]
      wait_minutes: 10
"""


@pytest.fixture
def admin(github_standin: Any) -> Any:
    github_standin.add_repository(REPO)
    github_standin.add_user("octocat")
    github_standin.add_team("acme", "ml-leads")
    github_standin.permissions.update({"administration": "write", "members": "read"})
    return github_standin


def test_env_setup_configures_each_environment_and_reads_it_back(tmp_path: Path, admin: Any) -> None:
    project = make_project(tmp_path, project_config("127.0.0.1:5000/m", ENVIRONMENTS))
    result = _run(project, admin, "env", "setup")
    assert result.returncode == 0, result.stderr
    assert f"{REPO}: staging (created)" in result.stderr
    stored = admin.repositories[REPO].environments
    production = stored["production"]
    assert production["wait_timer"] == 10 and production["prevent_self_review"] is True
    assert sorted(r["type"] for r in production["reviewers"]) == ["Team", "User"]
    assert production["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    policies = admin.repositories[REPO].branch_policies["production"]
    assert [p["name"] for p in policies.values()] == ["main"]
    assert stored["staging"]["deployment_branch_policy"] is None and stored["staging"]["reviewers"] == []

    calls = len(admin.requests)
    again = _run(project, admin, "env", "setup")
    assert again.returncode == 0, again.stderr
    assert f"{REPO}: production already as configured" in again.stderr
    writes = [r for r in admin.requests[calls:] if r.call.method in ("POST", "DELETE")]
    assert writes == []  # idempotent: no policy created or removed twice
    assert [p["name"] for p in admin.repositories[REPO].branch_policies["production"].values()] == ["main"]


def test_env_setup_removes_branch_policies_mlcd_yaml_no_longer_has(tmp_path: Path, admin: Any) -> None:
    project = make_project(tmp_path, project_config("127.0.0.1:5000/m", ENVIRONMENTS.replace(
        "wait_minutes: 10", "wait_minutes: 10\n      branches: [main, release/*]")))
    assert _run(project, admin, "env", "setup", "--environment", "production").returncode == 0
    (project / "mlcd.yaml").write_text(project_config("127.0.0.1:5000/m", ENVIRONMENTS))
    result = _run(project, admin, "env", "setup", "--environment", "production")
    assert result.returncode == 0, result.stderr
    assert "branch policy release/* removed" in result.stderr
    assert [p["name"] for p in admin.repositories[REPO].branch_policies["production"].values()] == ["main"]


def test_more_than_six_reviewers_are_refused_before_any_call(tmp_path: Path, admin: Any) -> None:
    seven = "[" + ", ".join(f"user{n}" for n in range(7)) + "]"
    text = project_config("127.0.0.1:5000/m", ENVIRONMENTS.replace("[octocat, acme/ml-leads]", seven))
    project = make_project(tmp_path, text)
    result = _run(project, admin, "env", "setup")
    assert result.returncode == 2
    assert "reviewers" in result.stderr and "6" in result.stderr
    assert admin.requests == []


def test_a_token_that_cannot_administer_gets_the_fix(tmp_path: Path, admin: Any) -> None:
    admin.permissions["administration"] = "read"
    project = make_project(tmp_path, project_config("127.0.0.1:5000/m", ENVIRONMENTS))
    result = _run(project, admin, "env", "setup", "--environment", "production")
    assert result.returncode == 7
    assert "cannot change environments" in result.stderr and "Administration: write" in result.stderr


# --- promotion through the webhook target, and by pull request ---------------------------------------------


@pytest.fixture(scope="module")
def registry() -> str:
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return f"mlcd-tests/{unique('webhook')}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(SECRET.encode()).start()
    yield hook
    hook.stop()
    assert hook.bad_signatures == 0


@pytest.fixture
def hooked(tmp_path: Path, receiver: Receiver, registry: str, github_standin: Any) -> Path:
    github_standin.add_repository(REPO)
    github_standin.permissions.update({"deployments": "write", "contents": "write", "pull-requests": "write"})
    environments = "\n".join(f"    {name}: {{target: webhook, webhook: {{url: \"{receiver.url}\", "
                             f"secret_env: HOOK_SECRET, attempts: 3}}}}" for name in ("staging", "production"))
    project = make_project(tmp_path, project_config(f"127.0.0.1:5000/{registry}", environments))
    (project / ".gitignore").write_text("*.md\n")
    git(project, "add", ".gitignore")
    commit(project, "ignore evidence")
    return project


def _image(project: Path, registry: str, name: str, accuracy: float = 0.95) -> tuple[str, str]:
    revision = commit(project, f"train {name}")
    sha = fake_sha(name)
    labels = model_labels(MODEL, sha, {"accuracy": accuracy, "log_loss": 0.2}, revision)
    return push_synthetic_image(registry, labels, tag=name), sha


@pytest.mark.docker
def test_a_promotion_through_the_webhook_is_signed_retried_and_recorded(hooked: Path, receiver: Receiver,
                                                                        registry: str, github_standin: Any) -> None:
    digest, sha = _image(hooked, registry, "v1")
    receiver.fail_times = 1  # one 503 first: retried with the same delivery
    result = _run(hooked, github_standin, "promote", digest, "--to", "staging", "--register-as", "v1.0.0",
                  HOOK_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    assert receiver.deployed["staging"]["digest"] == digest
    [delivery] = receiver.deliveries
    assert delivery["event"] == "deploy" and delivery["version"] == "v1.0.0" and delivery["model_sha256"] == sha
    assert delivery["evidence"]["gates"][0]["verdict"] == "pass"
    tag = git(hooked, "cat-file", "-p", f"{MODEL}#staging#1")
    assert f"digest: {digest}" in tag and "target: webhook" in tag
    [deployment] = github_standin.repositories[REPO].deployments.values()
    assert deployment["environment"] == "staging" and deployment["payload"]["digest"] == digest


@pytest.mark.docker
def test_a_refusing_webhook_fails_the_promotion_and_records_nothing(hooked: Path, receiver: Receiver,
                                                                    registry: str, github_standin: Any) -> None:
    digest, _ = _image(hooked, registry, "v1")
    receiver.refuse.add(digest)
    result = _run(hooked, github_standin, "promote", digest, "--to", "staging", HOOK_SECRET=SECRET)
    assert result.returncode == 9, result.stderr
    assert "refused to deploy" in result.stderr and "never became ready" in result.stderr
    assert git(hooked, "tag", "--list") == ""


@pytest.mark.docker
def test_a_missing_webhook_secret_is_a_config_error_naming_the_variable(hooked: Path, registry: str,
                                                                       github_standin: Any) -> None:
    digest, _ = _image(hooked, registry, "v1")
    result = _run(hooked, github_standin, "promote", digest, "--to", "staging")
    assert result.returncode == 2
    assert "HOOK_SECRET is not set" in result.stderr and "secrets.HOOK_SECRET" in result.stderr


@pytest.mark.docker
def test_via_pr_proposes_the_promotion_and_the_merged_file_is_promoted(hooked: Path, receiver: Receiver,
                                                                       registry: str, github_standin: Any,
                                                                       tmp_path: Path) -> None:
    digest, _ = _image(hooked, registry, "v1")
    assert _run(hooked, github_standin, "promote", digest, "--to", "staging", "--register-as", "v1.0.0",
                HOOK_SECRET=SECRET).returncode == 0
    status_before = git(hooked, "status", "--porcelain")

    result = _run(hooked, github_standin, "promote", "v1.0.0", "--to", "production", "--via-pr")
    assert result.returncode == 0, result.stderr
    [pull] = github_standin.repositories[REPO].pulls.values()
    assert pull["head"] == "mlcd/promote-production" and pull["base"] == "main"
    assert pull["title"] == f"Promote {MODEL} v1.0.0 to production"
    assert "## Promotion of penguins-classifier v1.0.0 to production: ✅ ready" in pull["body"]
    assert "production" not in receiver.deployed  # proposed, not deployed
    assert git(hooked, "status", "--porcelain") == status_before  # the checkout is untouched
    origin = tmp_path / "origin.git"
    written = yaml.safe_load(git(origin, "show", "mlcd/promote-production:deploy/production.yaml"))
    assert written["digest"] == digest and written["version"] == "v1.0.0"

    again = _run(hooked, github_standin, "promote", "v1.0.0", "--to", "production", "--via-pr")
    assert again.returncode == 0, again.stderr
    assert len(github_standin.repositories[REPO].pulls) == 1  # the same pull request, updated

    # merged: the promotion workflow promotes what deploy/production.yaml names
    git(origin, "update-ref", "refs/heads/main", "refs/heads/mlcd/promote-production")
    git(hooked, "pull", "-q", "--ff-only", "origin", "main")
    merged = _run(hooked, github_standin, "promote", "--to", "production", HOOK_SECRET=SECRET)
    assert merged.returncode == 0, merged.stderr
    assert receiver.deployed["production"]["digest"] == digest


@pytest.mark.docker
def test_plan_writes_the_evidence_and_step_summary_without_changing_anything(hooked: Path, registry: str,
                                                                             github_standin: Any,
                                                                             tmp_path: Path) -> None:
    digest, _ = _image(hooked, registry, "v1", accuracy=0.85)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    smoke = tmp_path / "smoke.json"
    smoke.write_text(json.dumps({"image": "x", "passed": True, "parity": {"rows": 69, "mismatches": []},
                                 "latency_ms": {"p50": 2.5}}))
    result = _run(hooked, github_standin, "promote", digest, "--to", "staging", "--plan", "--smoke", str(smoke),
                  GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
    assert result.returncode == 3
    assert "::error title=mlcd promote refused::gate failed: accuracy ≥ 0.9" in result.stderr
    text = summary.read_text()
    assert "❌ refused" in text and "✅ `mlcd smoke` of `x`: parity on 69 rows, 0 mismatch(es)" in text
    assert f"digest={digest}" in outputs.read_text()
    assert git(hooked, "tag", "--list") == "" and github_standin.repositories[REPO].deployments == {}
