"""The delivery and rollback workflows that `mlcd init` writes, run for real with act: a push to main trains,
gates, packages, smoke-tests and pushes the image to the local registry by digest, promotes it to staging,
writes the production plan for the approvers, and promotes it to production — Docker containers on this
machine, recorded as GTO tags in the origin repository and as Deployments on the GitHub stand-in. A second
push replaces it; the rollback workflow, dispatched by hand, puts the first one back.

One flow for the module (three act runs): each phase is a module-scoped fixture that snapshots what the
live endpoints serve right after its run, and the tests check those snapshots. Needs scripts/services
(Docker engine, registry on 127.0.0.1:5000)."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlcd.record import History
from testing import webhooks
from testing.act import Act, ActRun, called_workflow, job_permissions
from testing.github_standin import GitHubStandin
from testing.github_standin.fixtures import running_standin
from testing.github_standin.openapi import GitHubOpenAPI
from testing.images import BASE_IMAGE, REGISTRY, WHEELHOUSE, docker_client, start_services, unique
from testing.promotion import MODEL, free_port, gto, remove_containers, serving_version, set_deploy
from testing.repos import git, make_user_repo, mlcd

from .conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.docker]

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
APPROVER = "octocat"
ONE_PENGUIN = {"dataframe_records": [{"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.8,
                                      "flipper_length_mm": 217, "body_mass_g": 5200, "sex": "male"}]}
SPECIES = {"Adelie", "Chinstrap", "Gentoo"}


@dataclass
class Flow:
    repo: Path
    standin: GitHubStandin
    urls: dict[str, str]
    runs: dict[str, ActRun] = field(default_factory=dict)
    serving: dict[str, dict[str, str | None]] = field(default_factory=dict)  # phase → environment → model
    ready: dict[str, int] = field(default_factory=dict)  # phase → production's /v2/health/ready status
    predictions: dict[str, Any] = field(default_factory=dict)  # phase → production's /invocations answer

    def snapshot(self, phase: str, run: ActRun) -> None:
        self.runs[phase] = run
        self.serving[phase] = {env: serving_version(url, MODEL) for env, url in self.urls.items()}
        session = requests.Session()
        session.trust_env = False
        try:
            self.ready[phase] = session.get(f"{self.urls['production']}/v2/health/ready", timeout=5).status_code
            self.predictions[phase] = session.post(f"{self.urls['production']}/invocations", json=ONE_PENGUIN,
                                                   timeout=10).json()
        except requests.RequestException as exc:
            self.ready[phase], self.predictions[phase] = 0, str(exc)

    def history(self) -> History:
        return History.read(self.repo, MODEL)

    def deployments(self, environment: str) -> list[tuple[dict[str, Any], list[str]]]:
        """The environment's Deployments on the stand-in, oldest first, each with its states in order."""
        stored = self.standin.repositories[REPO]
        return [(d, [s["state"] for s in stored.deployment_statuses[number]])
                for number, d in sorted(stored.deployments.items()) if d["environment"] == environment]


def report(name: str, run: ActRun, workflow: Path) -> None:
    """Wall time of the run and of each job: the sum of its own steps (a composite action's inner steps,
    which act times too, are not counted twice)."""
    print(f"act {name}: exit {run.returncode} in {run.seconds:.1f}s; log {run.log}")
    jobs = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]
    steps = {str(step.get("name") or step.get("uses")) for job in jobs.values() for step in job["steps"]}
    totals: dict[str, float] = {}
    for key, seconds in run.step_seconds().items():
        job, step = key.split(": ", 1)
        if step in steps:
            totals[job] = totals.get(job, 0.0) + seconds
    for job, seconds in totals.items():
        print(f"  {seconds:7.1f}s  {job}")


def deliver(act: Act, flow: Flow, before: str, phase: str) -> ActRun:
    after = git(flow.repo, "rev-parse", "HEAD").strip()
    workflow = flow.repo / ".github" / "workflows" / "mlcd-deliver.yml"
    # the stand-in's token holds what the deploy jobs grant GITHUB_TOKEN (both the same), and no more
    flow.standin.permissions = job_permissions(workflow, "stage-2", act.mlcd)
    assert job_permissions(workflow, "stage-1", act.mlcd) == flow.standin.permissions
    flow.standin.approve_run(REPO, int(act.next_run_id()), "production", APPROVER)  # the production reviewer
    event = webhooks.push(REPO, ref="refs/heads/main", before=before, after=after)
    run = act.run("push", event, flow.repo, workflow,
                  env={"GITHUB_API_URL": flow.standin.url}, secrets={"GITHUB_TOKEN": flow.standin.token},
                  variables={"MLCD_REGISTRY": REGISTRY, "MLCD_IMAGE": REPO, "MLCD_BASE_IMAGE": BASE_IMAGE,
                             "MLCD_WHEELHOUSE": str(act.mlcd.wheelhouse(WHEELHOUSE))})
    report(f"push ({phase})", run, called_workflow(workflow, act.mlcd))
    flow.snapshot(phase, run)
    return run


@pytest.fixture(scope="module")
def flow(act: Act, github_openapi: GitHubOpenAPI, users_mlcd: Path) -> Iterator[Flow]:
    """The template project as a user's repository (trained, committed, origin on GitHub) whose deploy
    settings name ports and containers of this test's own, and the GitHub stand-in it talks to."""
    problem = start_services()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    target = act.repositories / REPO
    if target.exists():
        shutil.rmtree(target)
    repo = make_user_repo(target, REPO, users_mlcd)
    prefix = unique("mlcd-e2e")
    urls = {"staging": f"http://127.0.0.1:{free_port()}", "production": f"http://127.0.0.1:{free_port()}"}
    set_deploy(repo, {"stages": ["staging", "production"], "environments": {
        env: {"target": "docker", "url": url, "docker": {"container": f"{prefix}-{env}"}}
        for env, url in urls.items()}})
    client = docker_client()
    try:
        with running_standin(github_openapi) as standin:
            yield Flow(repo, standin, urls)
    finally:
        remove_containers(client, prefix)


@pytest.fixture(scope="module")
def first(act: Act, flow: Flow) -> ActRun:
    before = git(flow.repo, "rev-parse", "HEAD").strip()
    params = flow.repo / "params.yaml"
    params.write_text(params.read_text().replace("max_iter: 1000", "max_iter: 1500"))
    git(flow.repo, "commit", "-qam", "params: max_iter 1500; deploy: this test's ports and containers")
    return deliver(act, flow, before, "first")


@pytest.fixture(scope="module")
def second(act: Act, flow: Flow, first: ActRun) -> ActRun:
    assert first.returncode == 0, "the first delivery failed"
    before = git(flow.repo, "rev-parse", "HEAD").strip()
    params = flow.repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5"))  # another model, as accurate
    git(flow.repo, "commit", "-qam", "params: C 0.5")
    return deliver(act, flow, before, "second")


@pytest.fixture(scope="module")
def rolled_back(act: Act, flow: Flow, first: ActRun, second: ActRun) -> ActRun:
    assert second.returncode == 0, "the second delivery failed"
    [first_version] = {e.version for e in flow.history().registrations() if e.digest == digest_of(first)}
    assert first_version is not None
    workflow = ".github/workflows/mlcd-rollback.yml"
    event = webhooks.workflow_dispatch(REPO, workflow=workflow, inputs={"environment": "production",
                                                                        "version": first_version})
    flow.standin.permissions = job_permissions(flow.repo / workflow, "rollback", act.mlcd)
    run = act.run("workflow_dispatch", event, flow.repo, flow.repo / workflow,
                  env={"GITHUB_API_URL": flow.standin.url}, secrets={"GITHUB_TOKEN": flow.standin.token},
                  variables={"MLCD_REGISTRY": REGISTRY})
    report("workflow_dispatch (rollback)", run, called_workflow(flow.repo / workflow, act.mlcd))
    flow.snapshot("rollback", run)
    return run


def digest_of(run: ActRun) -> str:
    digests = set(re.findall(r"::set-output:: digest=(sha256:[0-9a-f]{64})", run.output))
    assert len(digests) == 1, digests
    return digests.pop()


def test_a_push_to_main_delivers_the_image_by_digest_to_staging_and_production(flow: Flow, first: ActRun) -> None:
    assert first.returncode == 0, first.output[-8000:]
    digest = digest_of(first)
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{REPO}/manifests/{digest}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Docker-Content-Digest"] == digest
    assert "::set-output:: passed=true" in "\n".join(first.job_lines("package, smoke-test, push"))
    assert not any("Attest" in line and "Success - Main" in line for line in first.output.splitlines())

    # the record in the origin repository: registered, then in staging, then in production, by this digest
    history = flow.history()
    [registered] = history.registrations()
    assert registered.digest == digest and registered.image == f"{REGISTRY}/{REPO}@{digest}"
    version = registered.version
    assert gto(flow.repo, "show")[MODEL]["stage"] == {"staging": version, "production": version}
    events = [(e["event"], e["stage"]) for e in reversed(gto(flow.repo, "history", MODEL))]
    assert events == [("registration", None), ("assignment", "staging"), ("assignment", "production")]
    production = history.current("production")
    assert production is not None and production.data.get("approver") == APPROVER
    assert production.model_sha256 == registered.model_sha256

    # both environments serve that model, and production answers
    model = str(registered.model_sha256)[:12]
    assert flow.serving["first"] == {"staging": model, "production": model}
    assert flow.ready["first"] == 200
    [species] = flow.predictions["first"]["predictions"]
    assert species in SPECIES
    for job in ("staging", "production"):
        parity = "\n".join(first.job_lines(job))
        assert "rows scored identically" in parity, f"{job}: the deployed endpoint was not checked for parity"


def test_the_staging_job_shows_production_s_approvers_the_evidence_for_that_digest(first: ActRun) -> None:
    summaries = first.summaries("staging")
    [plan] = [s for s in summaries if " to production: " in s]
    assert re.search(rf"## Promotion of {MODEL} v[\d.]+ to production: ✅ ready", plan), plan
    assert f"| Image | `{REGISTRY}/{REPO}@{digest_of(first)}` |" in plan
    assert "| Has run in | staging |" in plan
    assert "| production runs now | nothing recorded |" in plan
    assert "### Metrics against production" in plan and "### Gates" in plan
    assert re.search(r"\| ✅ \| accuracy ≥ 0\.9", plan), plan
    assert "| ✅ | data tests | every data test passed |" in plan
    assert "### Data tests\n\n✅ passed" in plan
    assert re.search(rf"- ✅ `mlcd smoke` of `{re.escape(REGISTRY)}/{REPO}@{digest_of(first)}`: parity on \d+ rows, "
                     r"0 mismatch\(es\)", plan), plan
    [staged] = [s for s in summaries if " to staging: " in s]
    assert re.search(r"- ✅ deployed endpoint: \d+ rows, 0 mismatch\(es\)", staged), staged


def test_deployments_are_recorded_on_github(flow: Flow, first: ActRun) -> None:
    digest = digest_of(first)
    for environment in ("staging", "production"):
        [(deployment, states)] = flow.deployments(environment)
        assert deployment["payload"]["digest"] == digest
        assert states == ["queued", "in_progress", "success"]
        assert deployment["production_environment"] is (environment == "production")


def test_a_second_push_replaces_the_model_after_the_evidence_against_production(flow: Flow, first: ActRun,
                                                                                 second: ActRun) -> None:
    assert second.returncode == 0, second.output[-8000:]
    old, new = flow.serving["first"]["production"], flow.serving["second"]["production"]
    assert new is not None and new != old
    assert flow.serving["second"]["staging"] == new
    [plan] = [s for s in second.summaries("staging") if " to production: " in s]
    assert re.search(r"\| production runs now \| v[\d.]+ \(`" + re.escape(digest_of(first)) + "`\\) \\|", plan), plan
    assert re.search(r"\| accuracy \| 1 \| 1 \| no change \|", plan), plan
    states = [states for _, states in flow.deployments("production")]
    assert states == [["queued", "in_progress", "success", "inactive"], ["queued", "in_progress", "success"]]


def test_the_rollback_workflow_puts_the_first_model_back_in_production(flow: Flow, first: ActRun, second: ActRun,
                                                                        rolled_back: ActRun) -> None:
    assert rolled_back.returncode == 0, rolled_back.output[-8000:]
    assert flow.serving["rollback"] == {"staging": flow.serving["second"]["staging"],
                                        "production": flow.serving["first"]["production"]}
    assert flow.ready["rollback"] == 200
    assert flow.predictions["rollback"]["predictions"][0] in SPECIES
    history = flow.history()
    production = history.current("production")
    assert production is not None and production.kind == "rollback"
    assert history.digest_of(production) == digest_of(first)
    status = mlcd(flow.repo, "status", "--no-fetch", "--json")
    assert status.returncode == 0, status.stderr
    environments = json.loads(status.stdout)["environments"]
    assert environments["production"]["current"]["digest"] == digest_of(first)
    assert environments["production"]["current"]["kind"] == "rollback"
    assert environments["staging"]["current"]["digest"] == digest_of(second)
    [(deployment, states)] = flow.deployments("production")[-1:]
    assert deployment["payload"]["kind"] == "rollback" and deployment["payload"]["digest"] == digest_of(first)
    assert states == ["queued", "in_progress", "success"]
    rollback_log = "\n".join(rolled_back.job_lines("roll back production"))
    assert "model file, copied out of" in rollback_log  # the first version's, from its image
    assert re.search(r"parity: \d+ rows scored identically", rollback_log), rollback_log[-4000:]
    [summary] = rolled_back.summaries("roll back production")
    assert "## Rollback of" in summary and "to production" in summary
