"""Ground-truth feedback: labels that arrive later, joined to the logged predictions by an id.

Pure functions over frames: :func:`join_labels` pairs each label with the one logged prediction its id
names, and says what it could not pair (conflicting duplicates, ids on several logged rows, ids that
match nothing in the window); :func:`feedback_predictions` turns the joined rows into the
:class:`~mlcd.evaluation.metrics.Predictions` that ``mlcd evaluate`` computes its metrics from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlcd.evaluation.metrics import Predictions
from mlcd.monitoring.log_writer import PROBA_PREFIX

__all__ = ["LABEL", "Join", "feedback_predictions", "id_text", "join_labels", "slice_groups"]

LABEL = "__mlcd_label__"  # the joined label's column: never a name a log row or a contract can have
_SHOWN = 5


@dataclass(frozen=True)
class Join:
    """The rows that have both a logged prediction and a label (log order), and what was left out."""

    rows: pd.DataFrame
    labels: int  # rows in the labels file
    blank: int  # label rows without an id or without a label
    duplicates: int  # repeated rows of an id with the same label, counted once
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # id → its different labels
    ambiguous: list[str] = field(default_factory=list)  # ids on more than one logged row of the window
    unmatched: list[str] = field(default_factory=list)  # label ids with no logged row in the window
    unlabelled: int = 0  # logged rows of the window without a label (yet)

    def problems(self) -> list[str]:
        """One line for each kind of label left out, naming the first few ids."""
        lines = []
        if self.blank:
            lines.append(f"{self.blank} label row(s) have no id or no label: left out")
        if self.duplicates:
            lines.append(f"{self.duplicates} repeated label row(s) with the same id and label: counted once")
        if self.conflicts:
            shown = "; ".join(f"{key}: {' vs '.join(values)}" for key, values in list(self.conflicts.items())[:_SHOWN])
            lines.append(f"{len(self.conflicts)} id(s) have different labels: {shown}{_more(len(self.conflicts))}")
        if self.ambiguous:
            lines.append(f"{len(self.ambiguous)} id(s) name more than one logged prediction, so their labels "
                         f"cannot be paired: {_first(self.ambiguous)}")
        if self.unmatched:
            lines.append(f"{len(self.unmatched)} label id(s) match no logged prediction in the window: "
                         f"{_first(self.unmatched)}")
        return lines


def id_text(values: pd.Series) -> pd.Series:
    """Ids as text, the same whichever way a file typed them: 17, 17.0 and "17" are all "17"."""
    if not pd.api.types.is_bool_dtype(values) and pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(float)
        whole = bool(np.all(np.mod(numbers.dropna(), 1) == 0))
        texts = [None if math.isnan(v) else str(int(v)) if whole else repr(v) for v in numbers.tolist()]
    else:
        texts = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values.tolist()]
    return pd.Series(texts, index=values.index, dtype=object)


def join_labels(log: pd.DataFrame, labels: pd.DataFrame, log_id: str, label_id: str, label: str) -> Join:
    """Each label joined to the logged row of its id. ``log[log_id]`` and ``labels[label_id]`` as text
    (:func:`id_text`); labels for ids that conflict, or that name several logged rows, are left out."""
    ids = id_text(labels[label_id]) if len(labels) else pd.Series([], dtype=object)
    given = pd.DataFrame({"id": ids.to_numpy(), "label": labels[label].to_numpy() if len(labels) else []})
    present = given["id"].notna() & given["label"].notna()
    blank = int((~present).sum())
    given = given[present]
    distinct = given.assign(text=given["label"].map(str)).drop_duplicates(["id", "text"])
    duplicates = len(given) - len(distinct)
    per_id = distinct.groupby("id", sort=False)["text"].agg(list)
    conflicts = {str(key): sorted(values) for key, values in per_id.items() if len(values) > 1}
    kept = distinct[~distinct["id"].isin(conflicts.keys())].drop(columns="text").set_index("id")["label"]

    log_ids = id_text(log[log_id]) if len(log) else pd.Series([], dtype=object)
    counts = log_ids.value_counts()
    ambiguous = sorted(str(key) for key in kept.index if counts.get(key, 0) > 1)
    unmatched = [str(key) for key in kept.index if key not in counts.index]
    usable = kept.drop(index=ambiguous + unmatched)
    paired = log_ids.isin(usable.index).to_numpy()
    rows = log[paired].reset_index(drop=True)
    rows[LABEL] = usable.reindex(log_ids[paired].to_numpy()).to_numpy()
    unlabelled = int((~log_ids.isin(distinct["id"])).sum())
    return Join(rows, len(labels), blank, duplicates, conflicts, ambiguous, unmatched, unlabelled)


def feedback_predictions(rows: pd.DataFrame, prediction: str, probabilities: Sequence[str],
                         label_like: pd.Series) -> tuple[Predictions, str | None]:
    """The joined rows as :class:`Predictions`: labels and predictions of ``label_like``'s type (the labels
    file's label column), and probabilities when every row has them; with a note when some rows lack them."""
    y_true = _like(rows[LABEL], label_like)
    y_pred = _like(rows[prediction], label_like)
    if not probabilities:
        return Predictions(y_true, y_pred), None
    proba = rows[list(probabilities)].to_numpy(dtype=float)
    classes = _like(pd.Series([name.removeprefix(PROBA_PREFIX) for name in probabilities]), label_like).tolist()
    if np.isnan(proba).any():
        missing = int(np.isnan(proba).any(axis=1).sum())
        return Predictions(y_true, y_pred), (f"{missing} joined row(s) were logged without probabilities for every "
                                             f"class ({', '.join(map(str, classes))}): metrics that need "
                                             "probabilities are not computed")
    return Predictions(y_true, y_pred, proba, classes), None


def slice_groups(rows: pd.DataFrame, columns: Sequence[str],
                 integer: Sequence[str]) -> dict[str, Sequence[Any]]:
    """Each slice column's values as ``mlcd evaluate`` groups them; ``integer`` columns (logged as JSON
    numbers, read back as floats) are grouped as the integers the holdout holds."""
    groups: dict[str, Sequence[Any]] = {}
    for column in columns:
        if column not in rows.columns:
            continue
        values = rows[column]
        if column in integer and pd.api.types.is_float_dtype(values) and _whole(values.dropna()):
            values = values.astype("Int64")
        groups[column] = values.astype(object).where(values.notna(), None).tolist()
    return groups


def _like(values: pd.Series, label_like: pd.Series) -> np.ndarray[Any, Any]:
    """``values`` in the type of the labels: numbers for numeric labels (integers where they are), else as they are."""
    if pd.api.types.is_bool_dtype(label_like):
        converted = values.map(lambda v: v if isinstance(v, bool) else str(v).lower() == "true")
    elif not pd.api.types.is_numeric_dtype(label_like):
        converted = values.map(lambda v: v if isinstance(v, str) else str(v))
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        whole = pd.api.types.is_integer_dtype(label_like) and bool(numbers.notna().all()) and _whole(numbers)
        converted = numbers.astype("int64" if whole else float)
    return np.asarray(converted.to_numpy())


def _whole(values: pd.Series) -> bool:
    return bool(np.all(np.mod(values.dropna().astype(float), 1) == 0))


def _first(ids: Sequence[str]) -> str:
    return ", ".join(ids[:_SHOWN]) + _more(len(ids))


def _more(count: int) -> str:
    return f" (and {count - _SHOWN} more)" if count > _SHOWN else ""
