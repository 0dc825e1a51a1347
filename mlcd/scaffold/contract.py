"""A first data contract inferred from a data file, for the user to review: dtypes, ranges with a
margin, the allowed values of low-cardinality text, and which columns may be empty."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

MAX_CATEGORIES = 20  # text columns with at most this many distinct values become categories
RANGE_MARGIN = 0.1  # ranges are widened by this share of the observed span on each side
MAX_SLICES = 2


@dataclass(frozen=True)
class InferredContract:
    label: str
    task: str  # "classification" or "regression"
    columns: dict[str, dict[str, Any]]
    slices: list[str]


def infer_contract(frame: pd.DataFrame, label: str) -> InferredContract:
    columns = {str(name): infer_column(frame[name]) for name in frame.columns}
    label_spec = columns[label]
    regression = label_spec["dtype"] == "float" or (
        label_spec["dtype"] == "int" and frame[label].nunique() > MAX_CATEGORIES)
    if not regression and label_spec["dtype"] in ("int", "string"):
        values = sorted(frame[label].dropna().unique().tolist(), key=str)
        label_spec = {"dtype": "category", "allowed": [_plain(v) for v in values]}
        if frame[label].isna().any():
            label_spec["nullable"] = True
        columns[label] = label_spec
    slices = [name for name, spec in columns.items()
              if name != label and spec["dtype"] == "category" and len(spec.get("allowed", [])) <= 5][:MAX_SLICES]
    return InferredContract(label, "regression" if regression else "classification", columns, slices)


def infer_column(series: pd.Series) -> dict[str, Any]:
    spec: dict[str, Any]
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series):
        spec = {"dtype": "bool"}
    elif pd.api.types.is_integer_dtype(series):
        spec = {"dtype": "int", **_range(values, integer=True)}
    elif pd.api.types.is_float_dtype(series):
        spec = {"dtype": "float", **_range(values, integer=False)}
    elif pd.api.types.is_datetime64_any_dtype(series):
        spec = {"dtype": "datetime"}
    else:
        distinct = values.astype(str).unique().tolist()
        if 0 < len(distinct) <= MAX_CATEGORIES:
            spec = {"dtype": "category", "allowed": sorted(distinct)}
        else:
            spec = {"dtype": "string"}
    if series.isna().any():
        spec["nullable"] = True
    return spec


def _range(values: pd.Series, *, integer: bool) -> dict[str, Any]:
    if values.empty:
        return {}
    low, high = float(values.min()), float(values.max())
    margin = (high - low) * RANGE_MARGIN or abs(high) * RANGE_MARGIN or 1.0
    step = _step(high - low + 2 * margin)
    low, high = math.floor((low - margin) / step) * step, math.ceil((high + margin) / step) * step
    if float(values.min()) >= 0 > low:
        low = 0.0  # a column that was never negative stays non-negative
    if integer:
        return {"min": math.floor(low), "max": math.ceil(high)}
    return {"min": _plain(low), "max": _plain(high)}


def _step(span: float) -> float:
    """A round step a tenth of the span's order of magnitude: ranges read 2300–6700, not 2340.2–6659.8."""
    magnitude = abs(span)
    return 10.0 ** max(math.floor(math.log10(magnitude)) - 1, -6) if magnitude else 1.0


def _plain(value: Any) -> Any:
    """A YAML-friendly number: whole floats as ints, others rounded to remove binary noise."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return int(value) if value.is_integer() else float(f"{value:.6g}")
    return value
