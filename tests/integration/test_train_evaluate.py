"""`mlcd train` and `mlcd evaluate` on the template project with real DVC and git."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlcd.model import file_sha256
from testing.repos import git, mlcd

pytestmark = pytest.mark.integration


def test_train_runs_the_pipeline_and_records_lineage(trained_repo: Path) -> None:
    model = trained_repo / "models" / "model.skops"
    lineage = json.loads((trained_repo / "models" / "model.lineage.json").read_text())
    assert lineage["model"]["sha256"] == file_sha256(model)
    assert lineage["git"]["commit"] == git(trained_repo, "rev-parse", "HEAD").strip()
    assert lineage["git"]["dirty"] is False
    lock = yaml.safe_load((trained_repo / "dvc.lock").read_text())
    raw_md5 = next(o["md5"] for o in lock["stages"]["fetch"]["outs"] if o["path"] == "data/raw/penguins.csv")
    assert lineage["data"]["data/raw/penguins.csv"] == raw_md5
    assert "src/penguins/train.py" not in lineage["data"]
    assert lineage["params"]["train"]["classifier"]["C"] == 1.0
    assert lineage["seed"] == 42
    assert {"python", "mlcd", "scikit-learn", "dvc", "skops"} <= set(lineage["libraries"])
    assert lineage["hardware"]["cores"] >= 1 and lineage["hardware"]["cpu"]
    assert lineage["hardware"]["gpus"] == []  # no GPU on this machine
    assert lineage["training"]["duration_seconds"] > 0


def test_pipeline_evaluate_stage_wrote_metrics_with_slices(trained_repo: Path) -> None:
    metrics = json.loads((trained_repo / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95
    assert 0 < metrics["log_loss"] < 0.5
    assert metrics["n_holdout"] >= 60
    assert set(metrics["slices"]) == {"sex", "island"}
    assert set(metrics["slices"]["island"]) == {"Biscoe", "Dream", "Torgersen"}
    assert metrics["slice_gaps"]["island"]["accuracy"]["gap"] >= 0
    gates = json.loads((trained_repo / "gates.json").read_text())
    assert gates["passed"] is True
    assert {g["kind"] for g in gates["gates"]} == {"threshold", "slice_gap"}


def test_evaluate_prints_verdicts_and_sets_github_outputs(trained_repo: Path, tmp_path: Path) -> None:
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    result = mlcd(trained_repo, "evaluate", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(outputs),
                  GITHUB_STEP_SUMMARY=str(summary))
    assert result.returncode == 0, result.stderr
    assert "PASS  accuracy ≥ 0.9" in result.stderr
    assert "::group::Evaluate on the holdout" in result.stderr
    assert "passed=true" in outputs.read_text()
    assert "| accuracy |" in summary.read_text()


def test_failing_gate_exits_3_unless_no_fail(template_repo: Path) -> None:
    config = template_repo / "mlcd.yaml"
    config.write_text(config.read_text().replace("max: 0.5", "max: 0.00001"))
    assert mlcd(template_repo, "train").returncode == 0  # the DVC stage runs `mlcd evaluate --no-fail`
    assert json.loads((template_repo / "gates.json").read_text())["passed"] is False
    result = mlcd(template_repo, "evaluate")
    assert result.returncode == 3
    assert "log_loss ≤ 1e-05" in result.stderr and "above the maximum 1e-05" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reproducible_passes_and_restores_the_first_model(trained_repo: Path) -> None:
    before = file_sha256(trained_repo / "models" / "model.skops")
    lock_before = (trained_repo / "dvc.lock").read_text()
    result = mlcd(trained_repo, "train", "--check-reproducible")
    assert result.returncode == 0, result.stderr
    assert "reproducible: identical holdout predictions and metrics" in result.stderr
    assert file_sha256(trained_repo / "models" / "model.skops") == before
    assert (trained_repo / "dvc.lock").read_text() == lock_before


def test_check_reproducible_catches_unseeded_training(template_repo: Path) -> None:
    train = template_repo / "src" / "penguins" / "train.py"
    source = train.read_text()
    # an unseeded perturbation of the fitted weights: every run differs
    noise = ('    import numpy\n    step = model.named_steps["classify"]\n'
             '    step.coef_ = step.coef_ + numpy.random.default_rng().normal(0, 2.0, step.coef_.shape)\n')
    train.write_text(source.replace("    skops.io.dump(model, args.model)\n",
                                    noise + "    skops.io.dump(model, args.model)\n"))
    git(template_repo, "commit", "-qam", "unseeded noise")
    result = mlcd(template_repo, "train", "--check-reproducible")
    assert result.returncode == 3, result.stderr
    assert "training is not reproducible" in result.stderr
    assert "probabilities differ by up to" in result.stderr
    assert "Traceback" not in result.stderr


def test_untrusted_model_type_is_refused(template_repo: Path) -> None:
    model_py = template_repo / "src" / "penguins" / "model.py"
    source = model_py.read_text()
    model_py.write_text(source.replace(
        '("scale", StandardScaler()),',
        '("scale", StandardScaler()),\n        ("negate", __import__("sklearn.preprocessing").preprocessing'
        '.FunctionTransformer(__import__("operator").neg)),'))
    git(template_repo, "commit", "-qam", "a transform skops does not trust")
    result = mlcd(template_repo, "train")  # the pipeline's evaluate stage refuses the model, so DVC fails
    assert result.returncode == 5, result.stderr
    assert "contains types that are not trusted: _operator.neg" in result.stderr
    assert "model.trusted_types" in result.stderr
    result = mlcd(template_repo, "evaluate")
    assert result.returncode == 6
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "not trusted: _operator.neg" in error and "Traceback" not in result.stderr


def test_not_a_dvc_project(tmp_path: Path) -> None:
    (tmp_path / "mlcd.yaml").write_text((Path(__file__).parents[2] / "template-repo" / "mlcd.yaml").read_text())
    result = mlcd(tmp_path, "train")
    assert result.returncode == 4
    assert "is not a DVC project" in result.stderr and "dvc init" in result.stderr


def test_missing_holdout_before_training(template_repo: Path) -> None:
    result = mlcd(template_repo, "evaluate")
    assert result.returncode == 4
    assert "data/prepared/test.csv does not exist" in result.stderr
