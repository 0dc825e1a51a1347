"""The shadow replay where it decides: the template project trained, production traffic logged by the real
log writer (with production's answer changed on a known share of rows), then what the delivery workflow
runs before a promotion (`mlcd shadow`, then `mlcd promote --plan --shadow` against the local registry)
and what the pull-request workflow runs (`mlcd shadow`, `mlcd compare`, `mlcd report --shadow`, the comment
and the check, on the OpenAPI-validated GitHub stand-in)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from mlcd.model.io import file_sha256
from testing.github_standin import GitHubStandin
from testing.images import unique
from testing.promotion import REGISTRY, model_labels, push_synthetic_image
from testing.repos import git, make_template_repo, mlcd
from testing.shadow import log_penguin_traffic

pytestmark = pytest.mark.integration

MODEL = "penguins-classifier"
FLIP_EVERY = 5  # production answered differently from the trained model on every fifth logged row
REPO = "octo-org/penguins"
PR = 7


@pytest.fixture(scope="module")
def main_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template project trained and committed on main, with a branch pr at the same commit."""
    repo = make_template_repo(tmp_path_factory.mktemp("shadow") / "project")
    assert mlcd(repo, "train").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "train")
    return repo


@pytest.fixture
def repo(main_repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(main_repo, copy, symlinks=True)
    return copy


def log_production(repo: Path, logs: Path) -> tuple[int, int]:
    return log_penguin_traffic(repo, logs, FLIP_EVERY)


def set_churn_limit(repo: Path, limit: float) -> None:
    """gates.max_prediction_churn in the template's mlcd.yaml, replacing the one set before."""
    config = repo / "mlcd.yaml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith("  max_prediction_churn:")]
    at = lines.index("  max_slice_gap:")
    config.write_text("\n".join([*lines[:at], f"  max_prediction_churn: {limit}", *lines[at:]]) + "\n")


def shadow(repo: Path, logs: Path, **env: str) -> dict[str, Any]:
    """`mlcd shadow` as the workflows' shadow action runs it (no-fail: exit 3 is a failed gate, reported)."""
    result = mlcd(repo, "shadow", "--logs", str(logs), "--if-configured", **env)
    assert result.returncode in (0, 3), result.stderr
    loaded: dict[str, Any] = json.loads((repo / "shadow.json").read_text())
    return loaded


# --- before a promotion: the next stage's plan ----------------------------------------------------------


@pytest.fixture(scope="module")
def registry() -> str:
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(f"the local registry on {REGISTRY} is not running (scripts/services starts it): {exc}",
                    pytrace=False)
    return f"mlcd-tests/{unique('shadow')}"


def push_image(repo: Path, registry: str) -> str:
    """The trained model's image as `mlcd package` labels it, written to the local registry; by digest."""
    metrics = json.loads((repo / "metrics.json").read_text())
    headline = {name: float(metrics[name]) for name in ("accuracy", "f1_macro", "log_loss")}
    labels = model_labels(MODEL, file_sha256(repo / "models" / "model.skops"), headline,
                          git(repo, "rev-parse", "HEAD").strip())
    digest = push_synthetic_image(registry, labels, tag=unique("candidate"))
    return f"{REGISTRY}/{registry}@{digest}"


@pytest.mark.docker  # the local registry
def test_a_churn_above_the_limit_refuses_the_plan_and_below_it_the_evidence_shows_it(
        repo: Path, registry: str, tmp_path: Path) -> None:
    rows, changed = log_production(repo, tmp_path / "logs")
    share = changed / rows
    image = push_image(repo, registry)
    config = repo / "mlcd.yaml"
    config.write_text(config.read_text().replace("\ndeploy:\n", "\ndeploy:\n  push: false\n"))  # no remote here

    low, high = round(share / 2, 4), round(share * 2, 4)
    set_churn_limit(repo, low)
    found = shadow(repo, tmp_path / "logs")
    assert (found["churn"]["rows"], found["churn"]["changed"]) == (rows, changed)
    assert found["churn"]["rate"] == pytest.approx(share) and found["gate"]["verdict"] == "fail"
    refused = mlcd(repo, "promote", image, "--to", "staging", "--plan", "--shadow", "shadow.json",
                   "--evidence", "evidence.md")
    assert refused.returncode == 3, refused.stderr
    reason = (f"gate failed: prediction churn ≤ {low:g}: {changed:,} of {rows:,} logged rows ({share:.2%}) change "
              f"prediction, more than the allowed {low:.2%}")
    assert reason in refused.stderr
    evidence = (repo / "evidence.md").read_text()
    assert evidence.splitlines()[0].endswith("❌ refused")
    why = evidence[evidence.index("### Why it is refused"):].split("\n\n")[1]
    assert why.splitlines() == [f"- {reason}"]  # the one reason, naming the gate
    assert git(repo, "tag", "--list") == ""  # a plan changes nothing

    set_churn_limit(repo, high)
    assert shadow(repo, tmp_path / "logs")["gate"]["verdict"] == "pass"
    ready = mlcd(repo, "promote", image, "--to", "staging", "--plan", "--shadow", "shadow.json",
                 "--evidence", "evidence.md")
    assert ready.returncode == 0, ready.stderr
    evidence = (repo / "evidence.md").read_text()
    assert evidence.splitlines()[0].endswith("✅ ready")
    section = evidence[evidence.index("### Shadow replay of production traffic"):]
    assert f"**{share:.2%}** change prediction ({changed:,} of {rows:,})" in section
    assert f"- ✅ prediction churn ≤ {high:g}: {changed:,} of {rows:,} logged rows ({share:.2%}) change prediction" \
        in section
    assert "- largest slice churn: `" in section


# --- in the pull request's report ------------------------------------------------------------------------


def pr_report(repo: Path, logs: Path, standin: GitHubStandin, tmp_path: Path) -> tuple[str, str]:
    """The evaluate job's commands in the pull-request workflow's order, then the gates job's comment with the
    conclusion the report's `passed` output gives; (the comment's body, the check's conclusion)."""
    git(repo, "checkout", "-qb", f"pr-{tmp_path.name}")
    assert mlcd(repo, "data", "test").returncode == 0
    shadow(repo, logs)
    assert mlcd(repo, "compare", "--base", "main", "--data-test", "data-test.json", "--no-fail").returncode == 0
    outputs = tmp_path / "outputs"
    outputs.write_text("")
    reported = mlcd(repo, "report", "--shadow", "shadow.json", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(outputs))
    assert reported.returncode == 0, reported.stderr
    [passed] = [line.split("=", 1)[1] for line in outputs.read_text().splitlines() if line.startswith("passed=")]
    head = git(repo, "rev-parse", "HEAD").strip()
    standin.add_pull_request(REPO, PR, head)
    result = mlcd(repo, "comment", "--body", "report.md", "--pr", str(PR), "--sha", head,
                  "--conclusion", "success" if passed == "true" else "failure", GITHUB_TOKEN=standin.token,
                  GITHUB_API_URL=standin.url, GITHUB_REPOSITORY=REPO, GITHUB_ACTIONS="true")
    assert result.returncode == 0, result.stderr
    [comment] = standin.repositories[REPO].issue_comments(PR)
    [check] = standin.repositories[REPO].check_runs
    assert check["name"] == "mlcd / gates"
    return comment.body, str(check["conclusion"])


def test_a_churn_over_the_limit_fails_the_pr_check_that_the_comparison_alone_passes(
        repo: Path, github_standin: GitHubStandin, tmp_path: Path) -> None:
    rows, changed = log_production(repo, tmp_path / "logs")
    set_churn_limit(repo, 0.05)
    body, conclusion = pr_report(repo, tmp_path / "logs", github_standin, tmp_path)
    assert json.loads((repo / "comparison.json").read_text())["passed"] is True  # the same model as main
    assert conclusion == "failure"
    assert "## ❌ mlcd: 1 of " in body
    assert f"> ❌ **prediction churn ≤ 0.05**: {changed:,} of {rows:,} logged rows ({changed / rows:.2%})" in body
    section = body[body.index("### Shadow replay of production traffic"):]
    assert f"Flip rate **{changed / rows:.2%}**: {changed:,} of {rows:,} rows change label." in section
    assert "<summary>Churn by slice, most first (largest: `" in section


def test_a_churn_within_the_limit_keeps_the_pr_check_passing(repo: Path, github_standin: GitHubStandin,
                                                             tmp_path: Path) -> None:
    rows, changed = log_production(repo, tmp_path / "logs")
    set_churn_limit(repo, 0.5)
    body, conclusion = pr_report(repo, tmp_path / "logs", github_standin, tmp_path)
    assert conclusion == "success" and body.count("## ✅ mlcd: ") == 1 and "❌" not in body
    assert f"| ✅ | prediction churn ≤ 0.5 | {changed:,} of {rows:,} logged rows" in body
