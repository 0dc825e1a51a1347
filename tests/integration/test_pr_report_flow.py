"""The pull-request flow: compare → report → comment, posted to the OpenAPI-validated GitHub stand-in."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from testing.fresh import make_fresh_repo
from testing.github_standin import Fault, GitHubStandin
from testing.release import SAMPLE_SHA
from testing.repos import git, mlcd

pytestmark = pytest.mark.integration

REPO = "octo-org/penguins"
PR = 12
MARKER = "<!-- mlcd:report -->"


def publish(repo: Path, standin: GitHubStandin, conclusion: str) -> None:
    env = {"GITHUB_TOKEN": standin.token, "GITHUB_API_URL": standin.url, "GITHUB_REPOSITORY": REPO,
           "GITHUB_ACTIONS": "true"}
    head = git(repo, "rev-parse", "HEAD").strip()
    result = mlcd(repo, "comment", "--body", "report.md", "--pr", str(PR), "--sha", head,
                  "--conclusion", conclusion, **env)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def own_pr_repo(pr_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the shared PR repository, for a test that pushes more commits."""
    copy = tmp_path / "project"
    shutil.copytree(pr_repo, copy, symlinks=True)
    return copy


def test_regressing_pr_gets_one_sticky_comment_and_a_failing_check(own_pr_repo: Path,
                                                                    github_standin: GitHubStandin) -> None:
    pr_repo = own_pr_repo
    github_standin.add_pull_request(REPO, PR, git(pr_repo, "rev-parse", "HEAD").strip())
    assert mlcd(pr_repo, "compare", "--base", "main", "--data-test", "data-test.json").returncode == 3
    assert mlcd(pr_repo, "report").returncode == 0
    publish(pr_repo, github_standin, "failure")

    [comment] = github_standin.repositories[REPO].issue_comments(PR)
    first_id, first_body = comment.id, comment.body
    assert comment.body.startswith(MARKER)
    assert "## ❌ mlcd:" in comment.body
    assert "| accuracy ↑ |" in comment.body and "🔴 ▼" in comment.body  # metric, delta and direction
    assert "❌ | accuracy vs base (max regression 0.02)" in comment.body
    assert "worse by" in comment.body
    [check] = github_standin.repositories[REPO].check_runs
    assert check["name"] == "mlcd / gates"
    assert check["conclusion"] == "failure"
    assert "accuracy vs base" in check["output"]["summary"]

    # a second push: the same comment is updated in place, never duplicated
    params = pr_repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.002", "C: 0.004"))
    assert mlcd(pr_repo, "train").returncode == 0
    assert mlcd(pr_repo, "compare", "--base", "main", "--data-test", "data-test.json", "--no-fail").returncode == 0
    assert mlcd(pr_repo, "report").returncode == 0
    publish(pr_repo, github_standin, "failure")
    [updated] = github_standin.repositories[REPO].issue_comments(PR)
    assert updated.id == first_id
    assert updated.body != first_body and "| `train.classifier.C` | 1.0 | 0.004 |" in updated.body
    assert len(github_standin.calls("issues/create-comment")) == 1
    assert len(github_standin.calls("issues/update-comment")) == 1
    assert len(github_standin.repositories[REPO].check_runs) == 2


def test_without_a_token_the_comment_goes_to_a_file(pr_repo: Path) -> None:
    assert mlcd(pr_repo, "compare", "--base", "main", "--no-fail").returncode == 0
    assert mlcd(pr_repo, "report").returncode == 0
    result = mlcd(pr_repo, "comment", "--body", "report.md")
    assert result.returncode == 0, result.stderr
    assert "mlcd-comment.md" in result.stderr
    assert (pr_repo / "mlcd-comment.md").read_text().count("## ❌ mlcd:") == 1


def test_comment_command_rides_out_rate_limits_and_server_errors(pr_repo: Path, github_standin: GitHubStandin,
                                                                  tmp_path: Path) -> None:
    github_standin.add_pull_request(REPO, PR, git(pr_repo, "rev-parse", "HEAD").strip())
    github_standin.inject(Fault(429, operation="issues/list-comments", headers={"Retry-After": "1"}))
    github_standin.inject(Fault(500, times=1, operation="issues/create-comment"))
    body = tmp_path / "report.md"
    body.write_text("## ✅ mlcd: all 1 gates passed\n")
    started = time.monotonic()
    result = mlcd(pr_repo, "comment", "--body", str(body), "--pr", str(PR), GITHUB_TOKEN=github_standin.token,
                  GITHUB_API_URL=github_standin.url, GITHUB_REPOSITORY=REPO)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert [r.status for r in github_standin.requests] == [429, 200, 500, 200, 201]  # the lost create looked up
    assert len(github_standin.repositories[REPO].issue_comments(PR)) == 1


def test_comment_command_without_permission_says_which_and_how(pr_repo: Path, github_standin: GitHubStandin,
                                                               tmp_path: Path) -> None:
    github_standin.add_pull_request(REPO, PR, git(pr_repo, "rev-parse", "HEAD").strip())
    github_standin.permissions["pull-requests"] = "read"
    github_standin.permissions["issues"] = "read"
    body = tmp_path / "report.md"
    body.write_text("report\n")
    result = mlcd(pr_repo, "comment", "--body", str(body), "--pr", str(PR), GITHUB_TOKEN=github_standin.token,
                  GITHUB_API_URL=github_standin.url, GITHUB_REPOSITORY=REPO)
    assert result.returncode == 7
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "pull-requests: write" in error and "permissions:" in error
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("corrupt", "column_line"), [
    (lambda text: text.replace("bill_length_mm", "bill_length", 1), "column 'bill_length_mm' is missing"),
    (lambda text: text.replace(",17.4,", ",17.4mm,", 1).replace(",19.3,", ",about 19,", 1),
     "column 'bill_depth_mm': expected float, found str with values that are not numbers (e.g. '17.4mm', 'about 19')"),
], ids=["renamed-column", "strings-in-a-numeric-column"])
def test_bad_data_gets_a_comment_and_a_failing_check_naming_the_column(
        tmp_path: Path, penguins_csv: Path, github_standin: GitHubStandin, corrupt: Any, column_line: str) -> None:
    """What the PR workflow does when the data test fails before training (the same commands, in order):
    the comment and the check say the data tests failed and name the column, and nothing was trained."""
    repo = make_fresh_repo(tmp_path / "fresh", penguins_csv)
    assert mlcd(repo, "init", "--data", "data.csv", "--label", "species", "--train", "train.py",
                "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}").returncode == 0
    data = repo / "data.csv"
    data.write_text(corrupt(data.read_text()))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "new data")
    github_standin.add_pull_request(REPO, PR, git(repo, "rev-parse", "HEAD").strip())
    tested = mlcd(repo, "data", "test", "--if-present")
    assert tested.returncode == 3 and column_line in tested.stderr
    assert mlcd(repo, "report", "--failed", "training", "--data-test", "data-test.json").returncode == 0
    publish(repo, github_standin, "failure")

    [comment] = github_standin.repositories[REPO].issue_comments(PR)
    assert "## ❌ mlcd: the data tests failed, so fresh was not trained" in comment.body
    assert column_line in comment.body
    [check] = github_standin.repositories[REPO].check_runs
    assert (check["name"], check["conclusion"]) == ("mlcd / gates", "failure")
    assert column_line in check["output"]["summary"]
    assert not (repo / "models" / "model.skops").exists()
