"""`mlcd shadow` on the template project: traffic logged by the real log writer with the production model's
answers, replayed through a candidate trained with a changed hyper-parameter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlcd.model import load_model
from mlcd.monitoring.log_writer import PredictionLogWriter, make_row
from testing.repos import mlcd

pytestmark = pytest.mark.integration

FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def log_traffic(directory: Path, model: Any, traffic: pd.DataFrame) -> None:
    """What the server logs: each request's features and production's answer (label and probabilities)."""
    labels = model.predict(traffic[FEATURES])
    proba = model.predict_proba(traffic[FEATURES])
    with PredictionLogWriter(directory, rotate_bytes=20_000) as writer:
        for i, (features, label, p) in enumerate(zip(traffic[FEATURES].to_dict("records"), labels, proba,
                                                     strict=True)):
            plain = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in features.items()}
            writer.log(make_row(model="penguins-classifier", model_version="prod", request_id=f"r{i}",
                                features=plain, prediction=str(label),
                                probabilities=dict(zip(map(str, model.classes_), map(float, p), strict=True))))


def test_replay_against_a_candidate_with_a_changed_c_reports_the_true_flip_rate(template_repo: Path,
                                                                                 tmp_path: Path) -> None:
    repo = template_repo
    assert mlcd(repo, "train").returncode == 0
    production = tmp_path / "production.skops"
    shutil.copy(repo / "models" / "model.skops", production)
    traffic = pd.concat([pd.read_csv(repo / "data" / "prepared" / name) for name in ("train.csv", "test.csv")],
                        ignore_index=True)
    logs = tmp_path / "logs"
    log_traffic(logs, load_model(production), traffic)

    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.01"))
    assert mlcd(repo, "train").returncode == 0
    old = load_model(production).predict(traffic[FEATURES])
    new = load_model(repo / "models" / "model.skops").predict(traffic[FEATURES])
    flips = old != new
    assert 0 < flips.mean() < 0.5  # the changed C moves some answers, not most

    out = tmp_path / "shadow.json"
    result = mlcd(repo, "shadow", "--logs", str(logs), "--json", str(out), "--markdown", str(tmp_path / "shadow.md"))
    assert result.returncode == 0, result.stderr
    found = json.loads(out.read_text())
    assert found["churn"]["rows"] == len(traffic)
    assert found["churn"]["changed"] == int(flips.sum())
    assert found["churn"]["rate"] == pytest.approx(flips.mean())
    confusion = found["churn"]["confusion"]
    for before in set(old):
        for after in set(new):
            assert confusion.get(before, {}).get(after, 0) == int(((old == before) & (new == after)).sum())
    for island, rows in traffic.groupby("island").groups.items():
        assert found["slices"]["island"][island]["changed"] == int(flips[np.asarray(rows)].sum())

    config = repo / "mlcd.yaml"
    original = config.read_text()
    config.write_text(original.replace("  max_slice_gap:", f"  max_prediction_churn: {flips.mean() / 2:.4f}\n"
                                                           "  max_slice_gap:"))
    failed = mlcd(repo, "shadow", "--logs", str(logs), "--json", str(out), "--markdown", str(tmp_path / "shadow.md"))
    assert failed.returncode == 3, failed.stderr
    assert "prediction churn gate failed" in failed.stderr
    assert json.loads(out.read_text())["gate"]["verdict"] == "fail"

    config.write_text(original.replace("  max_slice_gap:", f"  max_prediction_churn: {flips.mean() + 0.01:.4f}\n"
                                                           "  max_slice_gap:"))
    passed = mlcd(repo, "shadow", "--logs", str(logs), "--json", str(out), "--markdown", str(tmp_path / "shadow.md"))
    assert passed.returncode == 0, passed.stderr
    assert json.loads(out.read_text())["gate"]["verdict"] == "pass"
