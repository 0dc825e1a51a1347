"""`mlcd compare` and `mlcd report` on two real commits of the template project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testing.configs import MINIMAL_CONFIG
from testing.promotion import record_promotion
from testing.repos import git, mlcd, tool_env

pytestmark = pytest.mark.integration


def test_regressing_pr_fails_the_gates_and_says_by_how_much(pr_repo: Path) -> None:
    result = mlcd(pr_repo, "compare", "--base", "main", "--data-test", "data-test.json")
    assert result.returncode == 3, result.stderr
    document = json.loads((pr_repo / "comparison.json").read_text())
    assert document["passed"] is False
    verdicts = {(g["kind"], g["metric"]): g for g in document["gates"]}
    vs_base = verdicts[("regression_vs_base", "accuracy")]
    assert vs_base["verdict"] == "fail" and "worse by" in vs_base["reason"] and "beyond noise" in vs_base["reason"]
    vs_prod = verdicts[("regression_vs_production", "accuracy")]
    assert vs_prod["verdict"] == "fail" and vs_prod["reference"] == document["production"]["metrics"]["accuracy"]
    assert verdicts[("data_tests", None)]["verdict"] == "pass"
    assert document["params_changed"] == {"train.classifier.C": [1.0, 0.002]}
    assert "models/model.skops" in document["data_changed"]
    assert "metrics.json" not in document["data_changed"]


def test_report_renders_the_comparison(pr_repo: Path, tmp_path: Path) -> None:
    mlcd(pr_repo, "compare", "--base", "main", "--data-test", "data-test.json", "--no-fail")
    summary = tmp_path / "summary.md"
    result = mlcd(pr_repo, "report", GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 0, result.stderr
    report = (pr_repo / "report.md").read_text()
    assert report.startswith("## ❌ mlcd:")
    assert "accuracy vs base (max regression 0.02)" in report
    assert "| `train.classifier.C` | 1.0 | 0.002 |" in report
    assert "### Data tests" in report and "### Slices" in report and "xychart-beta" in report
    assert summary.read_text().strip() == report.strip()


def test_the_report_says_what_head_and_base_rely_on(pr_repo: Path) -> None:
    started = time.perf_counter()
    result = mlcd(pr_repo, "compare", "--base", "main", "--no-fail")
    assert result.returncode == 0, result.stderr
    took = time.perf_counter() - started
    importance = json.loads((pr_repo / "comparison.json").read_text())["importance"]
    features = {"island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"}
    assert importance["scoring"] == "accuracy" and importance["seed"] == 0 and importance["repeats"] == 5
    assert set(importance["head"]) == set(importance["base"]) == features and importance["note"] == ""
    # main's model (C 1.0) relies on the bills; the weak one (C 0.002) barely on anything
    assert max(v["mean"] for v in importance["base"].values()) > 0.05
    assert max(v["mean"] for v in importance["head"].values()) < max(v["mean"] for v in importance["base"].values())
    again = mlcd(pr_repo, "compare", "--base", "main", "--no-fail")
    assert again.returncode == 0 and json.loads((pr_repo / "comparison.json").read_text())["importance"] == importance
    assert mlcd(pr_repo, "report").returncode == 0
    report = (pr_repo / "report.md").read_text()
    section = report[report.index("### What the model relies on"):]
    assert "| feature | base | head | change |" in section and section.count("| `") >= len(features)
    print(f"compare with importance: {took:.1f} s")


def test_unchanged_pr_passes_every_regression_gate(pr_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--branch", "main", str(pr_repo), str(clone)], check=True)
    (clone / ".dvc" / "cache").symlink_to(pr_repo / ".dvc" / "cache")  # share outputs instead of re-running
    assert mlcd(clone, "train").returncode == 0
    result = mlcd(clone, "compare", "--base", "origin/main")
    assert result.returncode == 0, result.stderr
    gates = json.loads((clone / "comparison.json").read_text())["gates"]
    assert {g["verdict"] for g in gates if g["kind"].startswith("regression")} == {"pass"}


def test_shallow_clone_fetches_the_base(pr_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth=1", "--branch", "pr", f"file://{pr_repo}", str(clone)], check=True)
    for name in ("metrics.json", "predictions.csv"):
        (clone / name).write_text((pr_repo / name).read_text())
    assert git(clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    result = mlcd(clone, "compare", "--base", "origin/main", "--no-fail")
    assert result.returncode == 0, result.stderr
    document = json.loads((clone / "comparison.json").read_text())
    assert document["base"]["rev"] == git(pr_repo, "rev-parse", "main").strip()


def test_missing_base_revision_says_how_to_fix(pr_repo: Path, tmp_path: Path) -> None:
    result = mlcd(pr_repo, "compare", "--base", "origin/no-such-branch")
    assert result.returncode == 4
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "base revision 'origin/no-such-branch' is not in the repository" in error
    assert "fetch-depth: 0" in error


def test_base_metrics_tracked_by_dvc_are_read_through_dvc(tmp_path: Path) -> None:
    from mlcd.compare.snapshot import load_snapshot

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, env=tool_env())
    (repo / "metrics.json").write_text('{"accuracy": 0.875}')
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "metrics.json"], cwd=repo, check=True, env=tool_env())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "metrics tracked by DVC")
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "ls-files", "metrics.json").strip() == ""  # not in git: only DVC knows it
    snapshot = load_snapshot(repo, "base", commit, "metrics.json", "params.yaml")
    assert snapshot.metric("accuracy") == 0.875


def test_a_broken_dvc_remote_fails_the_base_gate_with_the_remotes_error(tmp_path: Path) -> None:
    """The base's metrics are a DVC output that neither the cache nor the (broken) remote can give: the base
    gate errors with the reason, and the comparison fails; it never passes as 'no baseline'."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "-q"], cwd=repo, check=True, env=tool_env())
    (repo / "mlcd.yaml").write_text(MINIMAL_CONFIG + "metrics: {accuracy:}\n"
                                    "gates: {metrics: {accuracy: {max_regression_vs_base: 0.02}}}\n")
    (repo / "metrics.json").write_text('{"accuracy": 0.99}')
    subprocess.run([*dvc, "add", "-q", "metrics.json"], cwd=repo, check=True, env=tool_env())
    subprocess.run([*dvc, "remote", "add", "-d", "broken", str(tmp_path / "gone")], cwd=repo, check=True,
                   env=tool_env())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "metrics tracked by DVC; a remote that is gone")
    shutil.rmtree(repo / ".dvc" / "cache")  # a fresh runner: only the remote could give the base's metrics
    git(repo, "checkout", "-q", "-b", "pr")
    (repo / "metrics.json").write_text('{"accuracy": 0.5}')
    result = mlcd(repo, "compare", "--base", "main", "--no-fail")
    assert result.returncode == 0, result.stderr
    document = json.loads((repo / "comparison.json").read_text())
    [gate] = [g for g in document["gates"] if g["kind"] == "regression_vs_base"]
    assert gate["verdict"] == "error"
    assert "the baseline could not be read: metrics.json at" in gate["reason"]
    assert "tracked by DVC but could not be read" in gate["reason"] and "dvc status --cloud" in gate["reason"]
    assert document["passed"] is False
    assert mlcd(repo, "compare", "--base", "main").returncode == 3


def test_configured_production_ref(pr_repo: Path, tmp_path: Path) -> None:
    config = pr_repo / "mlcd-production-ref.yaml"  # paths in a config are relative to its directory
    config.write_text((pr_repo / "mlcd.yaml").read_text() + "\ncompare:\n  production: main~0\n  history: 3\n")
    result = mlcd(pr_repo, "compare", "--config", str(config), "--base", "main", "--no-fail",
                  "--output", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "c.json").read_text())
    assert document["production"]["rev"] == git(pr_repo, "rev-parse", "main").strip()


def test_production_numbers_come_from_the_promotion_record_not_a_stale_metrics_file(tmp_path: Path) -> None:
    """Deliveries train without committing metrics.json, so the file at the production commit is the
    init-time model's; the record `mlcd promote` wrote holds what production was evaluated at."""

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "mlcd.yaml").write_text(MINIMAL_CONFIG + "metrics: {accuracy:}\n"
                                    "gates: {metrics: {accuracy: {max_regression_vs_production: 0.02}}}\n")
    (repo / "metrics.json").write_text('{"accuracy": 0.70}')  # the model of the day mlcd was added
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    for _ in range(2):  # two merges, delivered: metrics.json untouched
        git(repo, "commit", "-q", "--allow-empty", "-m", "merge")
    delivered = git(repo, "rev-parse", "HEAD").strip()
    record_promotion(repo, "demo", "v0.0.2", delivered, 1, metrics={"accuracy": 0.93})
    git(repo, "checkout", "-q", "-b", "readme-only")
    (repo / "README.md").write_text("typo fixed\n")
    (repo / "metrics.json").write_text('{"accuracy": 0.85}')  # what this run evaluated: worse than production
    result = mlcd(repo, "compare", "--base", "main", "--no-fail")
    assert result.returncode == 0, result.stderr
    document = json.loads((repo / "comparison.json").read_text())
    # the base is the delivered commit: its numbers are the ones its delivery evaluated, not the stale file's
    assert document["base"]["metrics"] == {"accuracy": 0.93}
    assert document["base"]["source"] == "the evaluation recorded when v0.0.2 was registered (`demo@v0.0.2`)"
    assert document["production"]["metrics"] == {"accuracy": 0.93}
    assert document["production"]["source"] == "the promotion record of v0.0.2 (`demo#production#1`)"
    [gate] = [g for g in document["gates"] if g["kind"] == "regression_vs_production"]
    assert (gate["verdict"], gate["reference"]) == ("fail", 0.93)  # against the stale 0.70 it would pass
    assert mlcd(repo, "report").returncode == 0
    report = (repo / "report.md").read_text()
    assert "Where the numbers come from: base: the evaluation recorded when v0.0.2 was registered " \
           "(`demo@v0.0.2`), recorded just now; production: the promotion record of v0.0.2 (`demo#production#1`), " \
           "recorded just now." in report
