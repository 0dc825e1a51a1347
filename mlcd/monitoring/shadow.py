"""Prediction churn: how the candidate's predictions on logged production rows differ from what production
answered. Pure functions over arrays; :mod:`mlcd.monitoring.shadow_run` reads the logs and scores the model.

Classification: a row churns when its label changes (the flip rate), and the confusion between old and new
labels is counted. Regression: a row churns when its prediction moves by more than a tolerance, and the
differences (candidate - production) are summarised by quantiles.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlcd.evaluation.slices import MISSING_GROUP

__all__ = ["QUANTILES", "Churn", "Task", "canonical_labels", "churn", "label_churn", "slice_churn", "value_churn"]

Task = Literal["classification", "regression"]
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Churn:
    """``confusion``: production label → candidate label → rows (classification). ``differences``:
    ``mean``, ``mean_abs``, ``max_abs`` and quantiles ``p1`` … ``p99`` of candidate - production (regression)."""

    rows: int
    changed: int
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    differences: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        """The share of rows whose prediction changed; None without rows."""
        return self.changed / self.rows if self.rows else None

    def as_dict(self, confusion: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "changed": self.changed, "rate": self.rate}
        if confusion and self.confusion:
            out["confusion"] = self.confusion
        if self.differences:
            out["differences"] = self.differences
        return out


def canonical_labels(values: Any) -> Array:
    """Labels as text that compares equal across how they were stored: ``1``, ``1.0`` and ``np.int64(1)``
    are all ``"1"`` (JSON logs hold numbers as floats, models answer ints); missing values are
    ``"(missing)"``."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)), use_na_sentinel=True)
    texts = np.array([_label_text(value) for value in uniques] + [MISSING_GROUP], dtype=object)
    labels: Array = texts[codes]  # code -1 (missing) takes the last entry
    return labels


def label_churn(production: Any, candidate: Any) -> Churn:
    old, new = canonical_labels(production), canonical_labels(candidate)
    _same_length(old, new)
    pairs = pd.DataFrame({"old": old, "new": new}).value_counts(sort=False)
    confusion: dict[str, dict[str, int]] = {}
    for (before, after), count in sorted(pairs.items()):
        confusion.setdefault(str(before), {})[str(after)] = int(count)
    return Churn(len(old), int(np.count_nonzero(old != new)), confusion)


def value_churn(production: Any, candidate: Any, tolerance: float = 0.0) -> Churn:
    """Rows whose value moved by more than ``tolerance``; a value that appears or disappears (NaN on one side)
    counts as moved, and differences are summarised over the rows where both are numbers."""
    old, new = np.asarray(production, dtype=float), np.asarray(candidate, dtype=float)
    _same_length(old, new)
    difference = new - old
    both_missing = np.isnan(old) & np.isnan(new)
    moved = ~both_missing & ~(np.abs(difference) <= tolerance)
    finite = difference[np.isfinite(difference)]
    summary: dict[str, float] = {}
    if finite.size:
        summary = {"mean": float(finite.mean()), "mean_abs": float(np.abs(finite).mean()),
                   "max_abs": float(np.abs(finite).max())}
        for q, value in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True):
            summary[f"p{round(q * 100)}"] = float(value)
    return Churn(len(old), int(np.count_nonzero(moved)), differences=summary)


def churn(production: Any, candidate: Any, task: Task, tolerance: float = 0.0) -> Churn:
    if task == "regression":
        return value_churn(production, candidate, tolerance)
    return label_churn(production, candidate)


def slice_churn(groups: Mapping[str, Sequence[Any]], production: Any, candidate: Any, task: Task,
                tolerance: float = 0.0) -> dict[str, dict[str, Churn]]:
    """slice column → group → the churn of its rows (groups named as in the evaluation's slices)."""
    old, new = np.asarray(production), np.asarray(candidate)
    out: dict[str, dict[str, Churn]] = {}
    for column, values in groups.items():
        keys = canonical_labels(values)
        out[column] = {str(group): churn(old[keys == group], new[keys == group], task, tolerance)
                       for group in sorted(set(keys.tolist()))}
    return out


def _label_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _same_length(old: Array, new: Array) -> None:
    if len(old) != len(new):
        raise ValueError(f"{len(old)} production predictions but {len(new)} candidate predictions")
