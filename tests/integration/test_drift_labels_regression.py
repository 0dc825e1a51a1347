"""Labels in the daily drift run on a regression project mlcd did not write (Friedman's data, the user's
own spline-ridge script, set up by `mlcd init --train`): the holdout's predictions logged as the server
logs them, then the truth that arrived. rmse on production traffic is the rmse of those rows, and a world
that moved (the truth shifted, the inputs not) fails the rmse gate and asks for retraining."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcd.monitoring.log_writer import PredictionLogWriter, make_row
from testing.fresh import make_regression_repo
from testing.release import SAMPLE_SHA
from testing.repos import mlcd

pytestmark = pytest.mark.integration

SHIFT = 2.5  # what the truth moved by, in target units (the noise's standard deviation is 1)


@pytest.fixture(scope="module")
def friedman(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_regression_repo(tmp_path_factory.mktemp("friedman-labels") / "friedman")
    result = mlcd(repo, "init", "--data", "data.csv", "--label", "target", "--train", "train.py",
                  "--ref", f"mlcd-dev/mlcd@{SAMPLE_SHA}")
    assert result.returncode == 0, result.stderr
    assert mlcd(repo, "train").returncode == 0
    holdout_rmse = json.loads((repo / "metrics.json").read_text())["rmse"]
    config = (repo / "mlcd.yaml").read_text()
    gate = f"  metrics:\n    rmse:\n      max: {round(holdout_rmse * 1.25, 3)}\n"
    (repo / "mlcd.yaml").write_text(config.replace("  metrics:\n    rmse:\n", gate, 1) +
                                    "\ndrift:\n  min_rows: 250  # the holdout's 300 rows are the traffic\n"
                                    "\nmonitoring:\n  logs: logs\n  labels: {path: labels}\n")
    log_holdout(repo)
    return repo


def log_holdout(repo: Path) -> None:
    """Each holdout row and the model's prediction for it, logged a minute apart ending now, with request id
    the row number."""
    features = pd.read_csv(repo / "data" / "split" / "test.csv").drop(columns="target")
    predicted = pd.read_csv(repo / "predictions.csv")["y_pred"]
    start = datetime.now(timezone.utc) - timedelta(minutes=len(features) + 1)
    with PredictionLogWriter(repo / "logs", clock=start.timestamp) as writer:
        for row, values in enumerate(features.to_dict("records")):
            writer.log(make_row(model="friedman", model_version="21012a7cde36", request_id=f"row-{row}",
                                features=values, prediction=float(predicted[row]), ts=start + timedelta(minutes=row)))


def arrive(repo: Path, shift: float) -> pd.Series:
    """The truth for every logged row, moved by ``shift``, as a daily labels file; returns it."""
    truth = pd.read_csv(repo / "predictions.csv")["y_true"] + shift
    (repo / "labels").mkdir(exist_ok=True)
    pd.DataFrame({"request_id": [f"row-{row}" for row in range(len(truth))], "target": truth}).to_csv(
        repo / "labels" / "day.csv", index=False)
    return truth


def drift(repo: Path) -> tuple[int, dict[str, Any]]:
    result = mlcd(repo, "drift", "--reference-rev", "")
    assert result.returncode in (0, 3), result.stderr
    loaded: dict[str, Any] = json.loads((repo / "drift.json").read_text())
    return result.returncode, loaded


def rmse(truth: pd.Series, predicted: pd.Series) -> float:
    return float(np.sqrt(np.mean((truth.to_numpy() - predicted.to_numpy()) ** 2)))


def test_the_truth_as_it_was_passes_with_the_holdouts_rmse(friedman: Path) -> None:
    truth = arrive(friedman, 0.0)
    status, found = drift(friedman)
    assert status == 0 and found["verdict"] == "no drift" and found["retrain"] == []
    feedback = found["feedback"]
    assert feedback["verdict"] == "passed" and feedback["joined_rows"] == len(truth)
    predicted = pd.read_csv(friedman / "predictions.csv")["y_pred"]
    assert feedback["metrics"]["rmse"] == pytest.approx(rmse(truth, predicted), rel=1e-6)
    assert feedback["metrics"]["rmse"] == pytest.approx(json.loads((friedman / "metrics.json").read_text())["rmse"],
                                                         rel=1e-5)


def test_a_world_that_moved_fails_the_rmse_gate_and_asks_for_retraining(friedman: Path) -> None:
    truth = arrive(friedman, SHIFT)
    status, found = drift(friedman)
    assert status == 3 and found["verdict"] == "below gates" and found["drifted"] == []
    predicted = pd.read_csv(friedman / "predictions.csv")["y_pred"]
    assert found["feedback"]["metrics"]["rmse"] == pytest.approx(rmse(truth, predicted), rel=1e-6)
    [gate] = [g for g in found["feedback"]["gates"] if g["verdict"] == "fail"]
    assert gate["metric"] == "rmse"
    assert found["retrain"] == ["production rmse below the gates"]
    assert (friedman / "drift.md").read_text().startswith("## ❌ mlcd drift: production rmse below the gates")
