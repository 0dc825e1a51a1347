from __future__ import annotations

import numpy as np
import pytest

from mlcd.evaluation.metrics import Predictions, compute_metrics
from mlcd.evaluation.slices import MISSING_GROUP, between_groups, largest_gap, slice_gaps, slice_metrics


def make_predictions() -> Predictions:
    y_true = np.array(["a", "a", "b", "b", "a", "b"])
    y_pred = np.array(["a", "b", "b", "b", "a", "a"])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.1, 0.9], [0.7, 0.3], [0.6, 0.4]])
    return Predictions(y_true, y_pred, proba, ["a", "b"])


def test_classification_metrics_match_hand_computed_values() -> None:
    metrics = compute_metrics(["accuracy", "f1_macro", "log_loss", "roc_auc_ovr"], make_predictions())
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert metrics["f1_macro"] == pytest.approx(2 / 3, abs=1e-6)
    expected_log_loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.9, 0.7, 0.4]))
    assert metrics["log_loss"] == pytest.approx(expected_log_loss, abs=1e-6)
    assert metrics["roc_auc_ovr"] is not None


def test_probability_metrics_are_none_without_probabilities() -> None:
    p = make_predictions()
    metrics = compute_metrics(["log_loss", "accuracy"], Predictions(p.y_true, p.y_pred))
    assert metrics["log_loss"] is None and metrics["accuracy"] is not None


def test_regression_metrics() -> None:
    p = Predictions(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    metrics = compute_metrics(["rmse", "mae", "r2"], p)
    assert metrics["rmse"] == pytest.approx(np.sqrt(4 / 3), abs=1e-6)
    assert metrics["mae"] == pytest.approx(2 / 3, abs=1e-6)


def test_slices_group_missing_values_and_find_the_largest_gap() -> None:
    groups = {"sex": ["f", "f", "m", "m", None, "m"]}
    per_slice = slice_metrics(groups, make_predictions(), ["accuracy"], min_rows=2)
    assert per_slice["sex"]["f"] == {"n": 2, "accuracy": 0.5}
    assert per_slice["sex"]["m"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert per_slice["sex"][MISSING_GROUP] == {"n": 1}  # too small to score
    gaps = slice_gaps(per_slice, ["accuracy"])
    assert gaps["sex"]["accuracy"]["highest"] == "m"
    assert gaps["sex"]["accuracy"]["gap"] == pytest.approx(1 / 6, abs=1e-5)
    assert largest_gap(gaps, "accuracy") == ("sex", gaps["sex"]["accuracy"]["gap"])
    assert largest_gap(gaps, "f1_macro") is None


def test_a_gap_names_its_groups_unless_every_group_scores_the_same() -> None:
    per_slice = {"sex": {"female": {"accuracy": 1.0}, "male": {"accuracy": 0.9}},
                 "island": {"Biscoe": {"accuracy": 1.0}, "Dream": {"accuracy": 1.0}}}
    gaps = slice_gaps(per_slice, ["accuracy"])
    assert between_groups(gaps["sex"]["accuracy"]) == "female vs male"
    assert between_groups(gaps["island"]["accuracy"]) == "every group scores the same"
