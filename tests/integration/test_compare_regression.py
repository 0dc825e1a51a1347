"""The noise exemption on a regression project mlcd did not write (Friedman's data, the user's own
spline-ridge script, rmse lower-is-better): a small real regression fails with the paired reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcd.compare.run import noise_check
from mlcd.evaluation.gates import GateResult
from mlcd.evaluation.run import read_predictions
from testing.fresh import make_regression_repo
from testing.release import SAMPLE_SHA
from testing.repos import git, mlcd

pytestmark = pytest.mark.integration


def test_a_small_real_rmse_regression_fails_with_the_paired_reason(tmp_path: Path) -> None:
    repo = make_regression_repo(tmp_path / "friedman")
    result = mlcd(repo, "init", "--data", "data.csv", "--label", "target", "--train", "train.py",
                  "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}")
    assert result.returncode == 0, result.stderr
    assert mlcd(repo, "train").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mlcd init --train, trained")  # the model itself is in DVC's cache, not git
    base_rmse = json.loads((repo / "metrics.json").read_text())["rmse"]

    git(repo, "checkout", "-qb", "more-regularisation")
    script = repo / "train.py"
    script.write_text(script.read_text().replace("ALPHA = 1.0", "ALPHA = 20.0"))
    assert mlcd(repo, "train").returncode == 0
    head_rmse = json.loads((repo / "metrics.json").read_text())["rmse"]
    assert 1.04 < head_rmse / base_rmse < 1.10  # a few percent worse: what the head-alone interval calls noise

    result = mlcd(repo, "compare", "--base", "main", "--no-fail")
    assert result.returncode == 0, result.stderr
    document = json.loads((repo / "comparison.json").read_text())
    [gate] = [g for g in document["gates"] if g["kind"] == "regression_vs_base" and g["metric"] == "rmse"]
    assert gate["verdict"] == "fail"
    assert "paired 95% bootstrap interval of head - base" in gate["reason"]
    assert "beyond noise (the interval excludes 0)" in gate["reason"]
    assert document["noise"][gate["name"]]["method"] == "paired bootstrap"
    assert document["base"]["metrics"]["rmse"] == pytest.approx(base_rmse, rel=1e-9)  # the same rows, rescored
    assert document["pairing"].startswith("paired row by row with the base commit's model")
    assert mlcd(repo, "compare", "--base", "main").returncode == 3

    # What compare did before: the head's interval alone waves the same regression through.
    head = read_predictions(repo / "predictions.csv")
    alone = noise_check(GateResult(gate["name"], "regression_vs_base", "fail", "", "rmse", head_rmse, base_rmse),
                        head, None, confidence=0.95, resamples=1000)
    assert alone is not None and alone.within_noise

    assert mlcd(repo, "report").returncode == 0
    report = (repo / "report.md").read_text()
    assert "Noise tests against the base: paired row by row with the base commit's model" in report


def test_without_the_base_model_the_test_is_unpaired_and_says_why(tmp_path: Path) -> None:
    """A base commit whose model DVC cannot give (no cache, no remote): the base's recorded numbers, an
    unpaired test, and the reason in the gate."""
    repo = make_regression_repo(tmp_path / "friedman")
    assert mlcd(repo, "init", "--data", "data.csv", "--label", "target", "--train", "train.py",
                "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}").returncode == 0
    assert mlcd(repo, "train").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "trained")
    git(repo, "checkout", "-qb", "pr")
    script = repo / "train.py"
    script.write_text(script.read_text().replace("ALPHA = 1.0", "ALPHA = 60.0"))
    assert mlcd(repo, "train").returncode == 0
    model_cache = repo / ".dvc" / "cache"
    base_md5 = [line.split()[-1] for line in git(repo, "show", "main:dvc.lock").splitlines() if "md5:" in line]
    for path in model_cache.rglob("*"):
        if path.is_file() and any(str(path).replace("/", "").endswith(md5) for md5 in base_md5):
            path.unlink()  # what a fresh runner without the DVC remote has of the base: nothing
    result = mlcd(repo, "compare", "--base", "main", "--no-fail")
    assert result.returncode == 0, result.stderr
    document = json.loads((repo / "comparison.json").read_text())
    assert document["pairing"].startswith("unpaired, on the head's rows alone: the base model could not be read: "
                                          "models/model.skops at ")
    assert "is tracked by DVC but could not be read" in document["pairing"]
    [gate] = [g for g in document["gates"] if g["kind"] == "regression_vs_base" and g["metric"] == "rmse"]
    assert gate["verdict"] == "fail" and "(unpaired: the base model could not be read" in gate["reason"]
