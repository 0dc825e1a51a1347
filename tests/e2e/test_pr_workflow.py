"""The pull-request workflow that `mlcd init` writes, run for real with act on the template project: a
regressing pull request gets the report comment and a failing `mlcd / gates` check on the
OpenAPI-validated GitHub stand-in. (A passing one, training on a GPU runner's labels, runs in
test_init_workflows.py on a brand-new repository.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from testing import webhooks
from testing.act import Act, ActRun
from testing.github_standin import GitHubStandin
from testing.repos import git

from .conftest import REPO

pytestmark = pytest.mark.e2e

PR = 7


def open_pull_request(repo: Path, branch: str, params_change: tuple[str, str]) -> tuple[str, str]:
    base_sha = git(repo, "rev-parse", "main").strip()
    git(repo, "checkout", "-qb", branch)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace(*params_change))
    git(repo, "commit", "-qam", f"params: {params_change[1].strip()}")
    return base_sha, git(repo, "rev-parse", "HEAD").strip()


def run_pr_workflow(act: Act, repo: Path, standin: GitHubStandin, branch: str, base_sha: str,
                    head_sha: str, *, variables: dict[str, str] | None = None,
                    platforms: dict[str, str] | None = None) -> ActRun:
    standin.add_pull_request(REPO, PR, head_sha)
    event = webhooks.pull_request(REPO, PR, head_ref=branch, head_sha=head_sha, base_ref="main", base_sha=base_sha)
    run = act.run("pull_request", event, repo, repo / ".github" / "workflows" / "mlcd-pr.yml",
                  env={"GITHUB_API_URL": standin.url}, secrets={"GITHUB_TOKEN": standin.token},
                  variables=variables or {}, platforms=platforms or {})
    print(f"act pull_request: exit {run.returncode} in {run.seconds:.1f}s; log {run.log}")
    for step, seconds in sorted(run.step_seconds().items(), key=lambda item: -item[1])[:12]:
        print(f"  {seconds:7.1f}s  {step}")
    return run


def test_regressing_pull_request_gets_a_failing_check(act: Act, user_repo: Path,
                                                       github_standin: GitHubStandin) -> None:
    base_sha, head_sha = open_pull_request(user_repo, "too-much-regularisation", ("C: 1.0", "C: 0.002"))
    run = run_pr_workflow(act, user_repo, github_standin, "too-much-regularisation", base_sha, head_sha)
    assert run.returncode != 0, "a failed gate must fail the workflow run"
    assert any("Job failed" in line for line in run.job_lines("publish the report")), run.output[-6000:]

    [comment] = github_standin.repositories[REPO].issue_comments(PR)
    assert "## ❌ mlcd:" in comment.body
    assert "accuracy vs base" in comment.body
    # main was never delivered, so the DVC remote lacks its model: the noise tests say they are unpaired and why
    assert ("Noise tests against the base: unpaired, on the head's rows alone: the base model could not be read: "
            "models/model.skops at ") in comment.body
    assert "neither the DVC cache nor the DVC remote has it" in comment.body
    [check] = github_standin.repositories[REPO].check_runs
    assert check["name"] == "mlcd / gates"
    assert check["conclusion"] == "failure"
    assert check["head_sha"] == head_sha
