"""The analysis of `mlcd drift`: has production moved away from the training data, and where?

The window's features and its predictions (one more column: categorical for classifiers, numeric for
regressors) are tested as one family by the drift rule of :mod:`mlcd.drift` (the ``drift`` section of
mlcd.yaml); training/serving skew is the share of logged rows that break the data contract; and each
tested column's effect is measured per time bucket, to show when a shift began.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from mlcd.config.model import Contract, DriftConfig
from mlcd.data.contract import build_schema, summarise
from mlcd.drift import (
    ColumnTest,
    Kind,
    category_keys,
    decide,
    floats,
    is_number,
    js_distance,
    measure_column,
    measure_series,
    psi_of_shares,
)

__all__ = ["PREDICTION", "Bucket", "DriftResult", "Skew", "analyse", "contract_skew", "time_buckets"]

PREDICTION = "prediction"
_MIN_BUCKET_ROWS = 30


@dataclass(frozen=True)
class Skew:
    """Training/serving skew: logged rows that break the data contract."""

    rows: int
    violating_rows: int
    max_rate: float  # monitoring.max_violation_rate
    findings: tuple[str, ...] = ()
    structural: bool = False  # a whole column has the wrong type

    @property
    def rate(self) -> float:
        return self.violating_rows / self.rows if self.rows else 0.0

    @property
    def failed(self) -> bool:
        return self.structural or self.rate > self.max_rate


@dataclass(frozen=True)
class Bucket:
    """A slice of the window in time, with each tested column's effect (PSI or JS) within it."""

    start: datetime
    end: datetime
    rows: int
    effects: dict[str, float | None]


@dataclass(frozen=True)
class DriftResult:
    rows: int
    reference_rows: int
    columns: tuple[ColumnTest, ...]
    prediction: ColumnTest | None
    skew: Skew | None
    buckets: tuple[Bucket, ...]
    thresholds: DriftConfig

    @property
    def tests(self) -> tuple[ColumnTest, ...]:
        return self.columns + ((self.prediction,) if self.prediction is not None else ())

    @property
    def tested(self) -> tuple[ColumnTest, ...]:
        return tuple(t for t in self.tests if t.pvalue is not None)

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(t.column for t in self.tests if t.drifted)

    @property
    def decided(self) -> bool:
        return bool(self.tested)

    @property
    def failed(self) -> bool:
        return bool(self.drifted) or (self.skew is not None and self.skew.failed)


# --- skew ---------------------------------------------------------------------------------------------


def contract_skew(window: pd.DataFrame, contract: Contract, max_rate: float) -> Skew:
    """Rows of the window that break the contract's rules for features (dtypes, nulls, ranges, categories)."""
    from pandera.errors import SchemaErrors

    features = Contract(label=contract.label, columns=contract.features, strict=False)
    frame = window.reset_index(drop=True)
    try:
        build_schema(features).validate(frame, lazy=True, inplace=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        findings = summarise(cases, frame, features)
        violating = int(cases["index"].dropna().nunique())
        structural = any(f.rule in ("columns", "dtypes") for f in findings)
        return Skew(len(frame), violating, max_rate, tuple(f.message for f in findings), structural)
    return Skew(len(frame), 0, max_rate)


# --- the whole analysis -------------------------------------------------------------------------------


def analyse(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    columns: Mapping[str, Kind],
    drift: DriftConfig,
    *,
    prediction: tuple[pd.Series, Kind] | None = None,
    skew: Skew | None = None,
    buckets: int = 12,
) -> DriftResult:
    """Test every column (and ``window['prediction']`` against ``prediction``, the reference labels or
    predictions) as one family; the effects per time bucket of ``ts``. ``skew`` (:func:`contract_skew`) is
    carried into the result."""
    tests = [measure_column(name, kind, reference, window, drift) for name, kind in columns.items()]
    if prediction is not None:
        series, kind = prediction
        if PREDICTION in window.columns:
            tests.append(measure_series(PREDICTION, kind, series, window[PREDICTION], drift))
        else:
            tests.append(ColumnTest(PREDICTION, kind, 0, int(series.notna().sum()), note="missing in the window"))
    decided = decide(tests, drift)
    has_prediction = prediction is not None
    features = decided[:-1] if has_prediction else decided
    references = {name: reference[name] for name in columns if name in reference.columns}
    if prediction is not None:
        references[PREDICTION] = prediction[0]
    return DriftResult(
        rows=len(window),
        reference_rows=len(reference),
        columns=tuple(features),
        prediction=decided[-1] if has_prediction else None,
        skew=skew,
        buckets=time_buckets(window, references, decided, drift, buckets),
        thresholds=drift,
    )


def time_buckets(window: pd.DataFrame, references: Mapping[str, pd.Series], tests: Sequence[ColumnTest],
                 drift: DriftConfig, count: int) -> tuple[Bucket, ...]:
    """The window cut into ``count`` equal spans of ``ts``, with each tested column's effect in each span.

    A bucket's effect is noisier than the window's (fewer rows): it shows when a shift began, the
    decision is the whole window's. Spans with fewer than 30 values have no effect (None). Each column
    is binned (numeric: at the reference's quantiles, as :func:`mlcd.drift.psi` does) or coded
    (categorical) once, and one ``bincount`` of (bucket, bin) pairs counts every bucket at once.
    """
    if "ts" not in window.columns or window.empty or count < 1:
        return ()
    stamps = _naive_utc(window["ts"])
    start, span = stamps[0], stamps[-1] - stamps[0]
    edges = [start + (span * i) // count for i in range(count + 1)]
    bounds = np.array([0, *np.searchsorted(stamps, edges[1:-1], side="left").tolist(), len(window)])
    bucket = np.repeat(np.arange(count), np.diff(bounds))
    effects: dict[str, list[float | None]] = {}
    for test in tests:
        if test.pvalue is None or test.column not in window.columns:
            continue
        expected, codes = _binned(test, references[test.column], window[test.column], drift.bins)
        slots = len(expected) + 1  # the last slot holds missing values
        counts = np.bincount(bucket * slots + codes, minlength=count * slots).reshape(count, slots)[:, :-1]
        effects[test.column] = [_bucket_effect(test.kind, expected, row.astype("float64")) for row in counts]
    return tuple(Bucket(_utc(edges[i]), _utc(edges[i + 1]), int(bounds[i + 1] - bounds[i]),
                        {name: values[i] for name, values in effects.items()}) for i in range(count))


def _binned(test: ColumnTest, reference: pd.Series, current: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's counts per bin or category, and each window row's bin or category (missing: one past
    the last)."""
    if test.kind == "numeric":
        ref = floats(reference)
        ref = ref[np.isfinite(ref)]
        cuts = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        values = floats(current)
        codes = np.searchsorted(cuts, values, side="right")
        codes[~np.isfinite(values)] = len(cuts) + 1
        expected = np.bincount(np.searchsorted(cuts, ref, side="right"), minlength=len(cuts) + 1)
        return expected.astype("float64"), codes
    numeric = is_number(reference) and is_number(current)
    known = category_keys(reference, numeric).value_counts()
    found, uniques = pd.factorize(current)  # hashes each row once (Arrow's dictionary encoding for text)
    keys = category_keys(pd.Series(uniques), numeric)
    unseen = keys[~keys.isin(known.index)]
    categories = pd.Index(known.index).append(pd.Index(unseen))
    lookup = np.append(categories.get_indexer(keys), len(categories))  # factorize's -1 (missing) takes the last
    expected = np.concatenate([known.to_numpy(dtype="float64"), np.zeros(len(unseen))])
    return expected, lookup[found]


def _bucket_effect(kind: Kind, expected: np.ndarray, actual: np.ndarray) -> float | None:
    if actual.sum() < _MIN_BUCKET_ROWS:
        return None
    if kind == "numeric":
        return psi_of_shares(expected / expected.sum(), actual / actual.sum())
    return js_distance(expected, actual)


def _naive_utc(ts: pd.Series) -> np.ndarray:
    index = pd.DatetimeIndex(ts)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    values: np.ndarray = index.to_numpy()
    return values


def _utc(moment: np.datetime64) -> datetime:
    value: datetime = pd.Timestamp(moment).tz_localize("UTC").to_pydatetime()
    return value
