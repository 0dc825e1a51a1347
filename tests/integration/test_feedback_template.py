"""`mlcd feedback` on the template project: the holdout scored by the trained model and logged by the real
writer, its labels arriving later keyed by request id, give exactly the metrics `mlcd evaluate` gives."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlcd.config import load_config
from mlcd.evaluation.run import labelled_holdout, predict
from mlcd.model import load_model
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row
from testing.repos import mlcd

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
WINDOW = ("--since", "2024-05-01T00:00:00Z", "--until", "2024-05-02T00:00:00Z")  # mlcd.yaml's window ends now


def plain(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def log_the_holdout(repo: Path, logs: Path) -> pd.DataFrame:
    """Score the holdout with the trained model, log each row as its own request; return the labels."""
    config = load_config(str(repo / "mlcd.yaml"))
    frame = labelled_holdout(config)
    features = config.contract.feature_names
    model = load_model(config.resolve(config.model.path), config.model.trusted_types)
    labels, proba, classes = predict(model, frame[features], config.evaluate.task)
    assert proba is not None and classes is not None
    with PredictionLogWriter(logs, clock=T0.timestamp) as writer:
        for i, row in enumerate(frame[features].to_dict("records")):
            writer.log(make_row(model=config.model.name, model_version="abc123", request_id=f"req-{i}",
                                features={k: plain(v) for k, v in row.items()}, prediction=str(labels[i]),
                                probabilities={str(c): float(p) for c, p in zip(classes, proba[i], strict=True)},
                                ts=T0 + timedelta(seconds=i)))
    truth = pd.DataFrame({"request_id": [f"req-{i}" for i in range(len(frame))],
                          "species": frame[config.contract.label]})
    return truth.sample(frac=1.0, random_state=0)  # labels arrive in any order


def test_labels_joined_to_the_log_give_evaluates_metrics(trained_repo: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    log_the_holdout(trained_repo, logs).to_csv(tmp_path / "labels.csv", index=False)
    evaluated = mlcd(trained_repo, "evaluate")
    assert evaluated.returncode == 0, evaluated.stderr
    expected = json.loads((trained_repo / "metrics.json").read_text())

    result = mlcd(trained_repo, "feedback", "--labels", str(tmp_path / "labels.csv"), "--logs", str(logs), *WINDOW,
                  "--min-rows", "10", "--output", str(tmp_path / "feedback-metrics.json"),
                  "--json", str(tmp_path / "feedback.json"), "--markdown", str(tmp_path / "feedback.md"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "feedback-metrics.json").is_file(), result.stderr
    got = json.loads((tmp_path / "feedback-metrics.json").read_text())
    assert set(got) == set(expected)
    for name in ("accuracy", "f1_macro", "log_loss"):
        assert got[name] == expected[name]  # the same rows, the same numbers: exactly
    assert got["n_holdout"] == expected["n_holdout"]
    assert got["slices"] == expected["slices"]
    assert got["slice_gaps"] == expected["slice_gaps"]
    report = json.loads((tmp_path / "feedback.json").read_text())
    assert report["verdict"] == "passed" and report["problems"] == []
    assert {g["kind"] for g in report["gates"]} == {"threshold", "slice_gap"}


def test_too_few_labels_refuse_with_the_setting_named(trained_repo: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    log_the_holdout(trained_repo, logs).head(5).to_csv(tmp_path / "labels.csv", index=False)
    result = mlcd(trained_repo, "feedback", "--labels", str(tmp_path / "labels.csv"), "--logs", str(logs), *WINDOW,
                  "--output", str(tmp_path / "m.json"), "--json", str(tmp_path / "f.json"),
                  "--markdown", str(tmp_path / "f.md"))
    assert result.returncode == 0, result.stderr
    assert "5 labelled prediction(s) in the window, fewer than drift.min_rows (200)" in result.stderr
    assert not (tmp_path / "m.json").exists()
