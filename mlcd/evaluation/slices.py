"""Per-slice metrics and the largest gap between the groups of a slice (a fairness measure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlcd.evaluation.metrics import Predictions, compute_metrics

MISSING_GROUP = "(missing)"


def slice_metrics(
    groups: dict[str, Sequence[Any]],
    predictions: Predictions,
    metric_names: Sequence[str],
    min_rows: int = 1,
) -> dict[str, dict[str, dict[str, Any]]]:
    """slice column → group value → {"n": rows, metric: value}. Groups under min_rows get only "n"."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for column, values in groups.items():
        keys = np.array([MISSING_GROUP if _is_missing(v) else str(v) for v in values], dtype=object)
        per_group: dict[str, dict[str, Any]] = {}
        for group in sorted(set(keys.tolist())):
            mask = keys == group
            rows = int(mask.sum())
            entry: dict[str, Any] = {"n": rows}
            if rows >= max(min_rows, 1):
                entry.update(compute_metrics(metric_names, predictions.subset(mask)))
            per_group[group] = entry
        out[column] = per_group
    return out


def slice_gaps(
    per_slice: dict[str, dict[str, dict[str, Any]]], metric_names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """slice column → metric → {"gap", "best", "worst"} over groups that have a value."""
    gaps: dict[str, dict[str, Any]] = {}
    for column, per_group in per_slice.items():
        gaps[column] = {}
        for metric in metric_names:
            scored = {g: v[metric] for g, v in per_group.items() if v.get(metric) is not None}
            if len(scored) < 2:
                continue
            high = max(scored, key=lambda g: scored[g])
            low = min(scored, key=lambda g: scored[g])
            gaps[column][metric] = {"gap": round(scored[high] - scored[low], 6), "highest": high, "lowest": low}
    return gaps


def between_groups(gap: Mapping[str, Any]) -> str:
    """Which groups a gap lies between, in words: "male vs female", or that every group scores the same."""
    if gap["gap"] == 0:
        return "every group scores the same"
    return f"{gap['highest']} vs {gap['lowest']}"


def largest_gap(gaps: dict[str, dict[str, Any]], metric: str) -> tuple[str, float] | None:
    """(slice column, gap) with the largest gap for a metric across all slices."""
    candidates = [(column, entry[metric]["gap"]) for column, entry in gaps.items() if metric in entry]
    return max(candidates, key=lambda c: c[1]) if candidates else None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
