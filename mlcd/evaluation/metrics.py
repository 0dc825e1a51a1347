"""Metric computation: one function per metric name, for classification and regression."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Predictions:
    """What a model said about a holdout: labels (or values) and, for classifiers, probabilities."""

    y_true: np.ndarray[Any, Any]
    y_pred: np.ndarray[Any, Any]
    proba: np.ndarray[Any, Any] | None = None
    classes: Sequence[Any] | None = None

    def subset(self, mask: np.ndarray[Any, Any]) -> Predictions:
        return Predictions(self.y_true[mask], self.y_pred[mask],
                           None if self.proba is None else self.proba[mask], self.classes)


def _needs_proba(name: str) -> bool:
    return name in {"log_loss", "roc_auc_ovr"}


def _metric_functions() -> dict[str, Callable[[Predictions], float]]:
    from sklearn import metrics as m

    def labels(p: Predictions) -> list[Any] | None:
        return list(p.classes) if p.classes is not None else None

    return {
        "accuracy": lambda p: m.accuracy_score(p.y_true, p.y_pred),
        "balanced_accuracy": lambda p: m.balanced_accuracy_score(p.y_true, p.y_pred),
        "f1_macro": lambda p: m.f1_score(p.y_true, p.y_pred, average="macro", zero_division=0),
        "precision_macro": lambda p: m.precision_score(p.y_true, p.y_pred, average="macro", zero_division=0),
        "recall_macro": lambda p: m.recall_score(p.y_true, p.y_pred, average="macro", zero_division=0),
        "log_loss": lambda p: m.log_loss(p.y_true, p.proba, labels=labels(p)),
        "roc_auc_ovr": lambda p: (
            m.roc_auc_score(p.y_true, p.proba[:, 1]) if p.proba is not None and p.proba.shape[1] == 2
            else m.roc_auc_score(p.y_true, p.proba, multi_class="ovr", labels=labels(p))
        ),
        "rmse": lambda p: math.sqrt(m.mean_squared_error(p.y_true, p.y_pred)),
        "mae": lambda p: m.mean_absolute_error(p.y_true, p.y_pred),
        "r2": lambda p: m.r2_score(p.y_true, p.y_pred),
    }


def compute_metrics(names: Sequence[str], predictions: Predictions) -> dict[str, float | None]:
    """Each named metric; None where it is undefined for this data (e.g. AUC with one class present)."""
    functions = _metric_functions()
    results: dict[str, float | None] = {}
    for name in names:
        if _needs_proba(name) and predictions.proba is None:
            results[name] = None
            continue
        try:
            value = float(functions[name](predictions))
        except ValueError:
            value = float("nan")
        results[name] = None if math.isnan(value) else round(value, 6)
    return results
