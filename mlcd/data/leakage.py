"""Leakage: test rows that also appear in the training split, and features that give the label away."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlcd.config.model import Contract
from mlcd.data import Check, fmt, summary

__all__ = ["label_leakage_check", "overlap_check", "relabelling", "row_hashes"]

_EXAMPLES = 3
_SAMPLE = 10_000


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A 64-bit hash per row, equal for rows with equal values whatever dtype each file was read with.

    Numbers are compared as floats (a column with a missing value reads as float in one file and int in
    another), everything else as text; missing values are equal to each other.
    """
    normalised = pd.DataFrame(
        {name: _normalise(frame[name]) for name in columns},
        index=pd.RangeIndex(len(frame)),
    )
    hashes: np.ndarray = pd.util.hash_pandas_object(normalised, index=False).to_numpy()
    return hashes


def _normalise(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return pd.Series(series.to_numpy(dtype="float64", na_value=np.nan))
    values = series.astype(object).to_numpy()
    return pd.Series(np.where(pd.isna(values), "\0missing", values.astype(str)), dtype=object)


def overlap_check(train: pd.DataFrame, test: pd.DataFrame) -> Check:
    """Fails when any test row, on the columns both splits share, is identical to a training row."""
    columns = [c for c in train.columns if c in set(test.columns)]
    if not columns:
        return Check("train_test_overlap", "leakage", "skipped", "the train and test splits share no column")
    seen = row_hashes(test, columns)
    leaked = np.isin(seen, row_hashes(train, columns))
    count = int(leaked.sum())
    if count:
        rows = ", ".join(str(i) for i in test.index[leaked][:_EXAMPLES])
        message = (f"{count} of {len(test)} test rows ({count / len(test):.1%}) also appear in the training split "
                   f"(e.g. test index {rows})")
        return Check("train_test_overlap", "leakage", "failed", message, (message,))
    return Check("train_test_overlap", "leakage", "passed",
                 f"none of {len(test)} test rows appears among {len(train)} training rows")


def relabelling(feature: pd.Series, label: pd.Series) -> dict[object, object] | None:
    """The mapping label value → feature value when the feature is the label renamed one-to-one, else None.

    Only rows where both are present count. A label with a single value, or data in which no label value
    repeats, cannot show leakage, so gives None.
    """
    both = feature.notna().to_numpy() & label.notna().to_numpy()
    feature, label = feature[both], label[both]
    # A mapping that is not one-to-one on some rows is not one-to-one on all: look at a few rows first.
    if len(feature) > _SAMPLE and _bijection(feature.iloc[:_SAMPLE], label.iloc[:_SAMPLE]) is None:
        return None
    mapping = _bijection(feature, label)
    if mapping is None or len(mapping) < 2 or len(feature) <= len(mapping):
        return None
    return mapping


def _bijection(feature: pd.Series, label: pd.Series) -> dict[object, object] | None:
    feature_codes, feature_values = pd.factorize(feature)
    label_codes, label_values = pd.factorize(label)
    pairs = pd.unique(feature_codes.astype(np.int64) * len(label_values) + label_codes)
    if not len(pairs) == len(feature_values) == len(label_values):
        return None
    return {label_values[p % len(label_values)]: feature_values[p // len(label_values)] for p in pairs}


def label_leakage_check(frame: pd.DataFrame, contract: Contract) -> Check:
    """Fails when a feature column equals the label, or is the label renamed value by value."""
    label = contract.label
    if label not in frame.columns:
        return Check("label_leakage", "leakage", "skipped", f"label column '{label}' is missing")
    features = [name for name in contract.feature_names if name in frame.columns]
    problems = []
    for name in features:
        mapping = relabelling(frame[name], frame[label])
        if mapping is None:
            continue
        if all(fmt(k) == fmt(v) for k, v in mapping.items()):
            problems.append(f"feature '{name}' is a copy of the label '{label}'")
        else:
            shown = ", ".join(f"{fmt(k)} → {fmt(v)}" for k, v in list(mapping.items())[:_EXAMPLES])
            problems.append(f"feature '{name}' is the label '{label}' renamed one-to-one ({shown})")
    if problems:
        fix = "; drop the column or mark it `feature: false` in contract.columns"
        return Check("label_leakage", "leakage", "failed", summary(problems) + fix, tuple(problems))
    return Check("label_leakage", "leakage", "passed", f"no feature of {len(features)} determines the label one-to-one")
