"""Parity between a served model and the same model file scored offline: pure functions.

Requests follow the Open Inference Protocol v2 as `mlcd serve` documents it: one tensor per feature
column, ``shape [n]``, ``null`` for a missing value; the answer holds ``predict`` (labels) and, for a
classifier, ``predict_proba`` (shape ``[n, k]``, flattened row-major, with ``parameters.classes``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlcd.config.model import ColumnSpec
from mlcd.serving.protocol import NO_LOG_PARAMETER

TOLERANCE = 1e-6


@dataclass(frozen=True)
class Mismatch:
    row: int
    field: str
    offline: Any
    served: Any

    def describe(self) -> str:
        return f"row {self.row} {self.field}: offline {self.offline!r}, served {self.served!r}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def json_value(value: Any, datatype: str) -> Any:
    """A cell as JSON for its OIP datatype: NaN/None → null, numpy scalars → Python ones."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if _missing(value):
        return None
    if datatype == "FP64":
        return float(value)
    if datatype == "INT64":
        return int(value)
    if datatype == "BOOL":
        return bool(value)
    return value if isinstance(value, str) else str(value)


def infer_request(columns: Mapping[str, Sequence[Any]], datatypes: Mapping[str, str]) -> dict[str, Any]:
    """An OIP v2 request for columns of equal length, in ``datatypes``' order, kept out of the server's
    prediction log (a check is not production traffic)."""
    inputs = []
    for name, datatype in datatypes.items():
        values = columns[name]
        inputs.append({"name": name, "shape": [len(values)], "datatype": datatype,
                       "data": [json_value(v, datatype) for v in values]})
    return {"inputs": inputs, "parameters": {NO_LOG_PARAMETER: False}}


def datatypes(features: Sequence[ColumnSpec]) -> dict[str, str]:
    """The datatype `mlcd serve` expects for each feature column (its own mapping, so both sides agree)."""
    from mlcd.serving.validation import datatype_of

    return {spec.name: datatype_of(spec) for spec in features}


@dataclass(frozen=True)
class Served:
    labels: list[Any]
    proba: list[list[float]] | None
    classes: list[Any] | None


def parse_response(body: Any, rows: int) -> Served:
    """The labels and probabilities of an OIP v2 answer; ValueError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("outputs"), list):
        raise ValueError("the answer has no outputs list")
    outputs = {o.get("name"): o for o in body["outputs"] if isinstance(o, dict)}
    predict = outputs.get("predict")
    if predict is None or not isinstance(predict.get("data"), list) or len(predict["data"]) != rows:
        raise ValueError(f"the answer has no predict output with {rows} value(s)")
    proba = outputs.get("predict_proba")
    if proba is None:
        return Served(predict["data"], None, None)
    classes = (proba.get("parameters") or {}).get("classes")
    data = proba.get("data")
    if not isinstance(classes, list) or not classes or not isinstance(data, list) or len(data) != rows * len(classes):
        raise ValueError(f"predict_proba is not {rows} row(s) × its parameters.classes")
    if proba.get("shape") != [rows, len(classes)]:
        raise ValueError(f"predict_proba has shape {proba.get('shape')}, expected {[rows, len(classes)]}")
    width = len(classes)
    return Served(predict["data"], [data[i * width:(i + 1) * width] for i in range(rows)], classes)


def _same_label(offline: Any, served: Any, tolerance: float) -> bool:
    if isinstance(offline, (int, float)) and isinstance(served, (int, float)) and not isinstance(served, bool):
        return math.isclose(float(offline), float(served), rel_tol=0.0, abs_tol=tolerance)
    return str(offline) == str(served)


def compare(
    first_row: int,
    offline_labels: Sequence[Any],
    offline_proba: Sequence[Sequence[float]] | None,
    offline_classes: Sequence[Any] | None,
    served: Served,
    tolerance: float = TOLERANCE,
) -> tuple[list[Mismatch], float]:
    """Every row where the served answer differs from the offline one; and the largest probability gap.

    Labels must be identical (numbers within ``tolerance``); probabilities within ``tolerance`` each,
    matched by class name, so a server that orders classes differently is still compared correctly.
    """
    mismatches: list[Mismatch] = []
    largest = 0.0
    for index, (mine, theirs) in enumerate(zip(offline_labels, served.labels, strict=True)):
        if not _same_label(mine, theirs, tolerance):
            mismatches.append(Mismatch(first_row + index, "label", mine, theirs))
    if offline_proba is None or offline_classes is None:
        return mismatches, largest
    if served.proba is None or served.classes is None:
        mismatches.append(Mismatch(first_row, "predict_proba", "present", "missing"))
        return mismatches, largest
    position = {str(c): i for i, c in enumerate(served.classes)}
    missing = [str(c) for c in offline_classes if str(c) not in position]
    if missing or len(position) != len(offline_classes):
        mismatches.append(Mismatch(first_row, "classes", [str(c) for c in offline_classes],
                                   [str(c) for c in served.classes]))
        return mismatches, largest
    for index, (mine_row, theirs_row) in enumerate(zip(offline_proba, served.proba, strict=True)):
        for cls, mine in zip(offline_classes, mine_row, strict=True):
            theirs = theirs_row[position[str(cls)]]
            gap = abs(float(mine) - float(theirs)) if isinstance(theirs, (int, float)) else math.inf
            largest = max(largest, gap)
            if not gap <= tolerance:
                mismatches.append(Mismatch(first_row + index, f"P({cls})", float(mine), theirs))
    return mismatches, largest


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation, as numpy's default; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
