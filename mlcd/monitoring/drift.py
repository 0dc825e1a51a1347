"""The decision of `mlcd drift`: has production moved away from the training data, and where?

Each column gets a test (a p-value: could chance alone explain the difference?) and an effect size (how
large is it?):

- numeric (contract ``int``/``float``): the two-sample Kolmogorov–Smirnov test; effect: the population
  stability index (PSI) over ``bins`` bins cut at the reference's quantiles.
- categorical (``category``/``string``/``bool``): the chi-squared test of the 2×k table of counts, with
  categories too rare for its approximation (expected count below 5) pooled; effect: the Jensen–Shannon
  distance (base 2, between 0 and 1).

The prediction is one more column, categorical for classifiers and numeric for regressors.

Calibration: Holm's step-down procedure over the p-values of every column tested keeps the chance of
any false alarm in a window drawn from the training distribution at most ``alpha``, whatever the
dependence between columns. A column alarms when Holm rejects it **and** its effect reaches
``min_effect``: dropping rejections can only lower the false-alarm rate, and the floor keeps a huge
window from alarming on a shift too small to matter. tests/unit/test_drift_calibration.py measures both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlcd.config.model import Contract, MonitoringConfig
from mlcd.data.contract import build_schema, summarise
from mlcd.data.drift import psi, psi_of_shares

__all__ = [
    "MIN_EXPECTED",
    "PREDICTION",
    "Bucket",
    "ColumnTest",
    "DriftResult",
    "Kind",
    "Skew",
    "Thresholds",
    "analyse",
    "categorical_test",
    "chi2_test",
    "compare_columns",
    "contract_skew",
    "decide",
    "holm",
    "js_distance",
    "ks_test",
    "monitored_columns",
    "numeric_test",
    "pool_rare",
    ]

Kind = Literal["numeric", "categorical"]
MIN_EXPECTED = 5.0
PREDICTION = "prediction"
_NUMERIC = ("int", "float")
_CATEGORICAL = ("category", "string", "bool")
_MIN_BUCKET_ROWS = 30


@dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.05
    min_psi: float = 0.1
    min_js: float = 0.1
    min_rows: int = 500
    bins: int = 10
    max_violation_rate: float = 0.01

    @classmethod
    def from_config(cls, config: MonitoringConfig) -> Thresholds:
        return cls(alpha=config.alpha, min_psi=config.min_effect.psi, min_js=config.min_effect.js,
                   min_rows=config.min_rows, bins=config.bins, max_violation_rate=config.max_violation_rate)


@dataclass(frozen=True)
class ColumnTest:
    """One column's test. ``statistic`` is KS's D or χ²; ``adjusted_pvalue`` is Holm's; ``note`` says why
    the column was not tested."""

    column: str
    kind: Kind
    rows: int
    reference_rows: int
    statistic: float | None = None
    pvalue: float | None = None
    adjusted_pvalue: float | None = None
    psi: float | None = None
    js: float | None = None
    significant: bool = False
    drifted: bool = False
    note: str | None = None

    @property
    def test(self) -> str:
        return "KS" if self.kind == "numeric" else "χ²"

    @property
    def effect_name(self) -> str:
        return "PSI" if self.kind == "numeric" else "JS"

    @property
    def effect(self) -> float | None:
        return self.psi if self.kind == "numeric" else self.js


@dataclass(frozen=True)
class Skew:
    """Training/serving skew: logged rows that break the data contract."""

    rows: int
    violating_rows: int
    findings: tuple[str, ...] = ()
    structural: bool = False  # a whole column has the wrong type
    max_rate: float = 0.01

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
    thresholds: Thresholds

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


# --- statistics ---------------------------------------------------------------------------------------


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Kolmogorov–Smirnov D of two non-empty samples and its asymptotic two-sided p-value.

    D is exact and cheap for a large window: between two distinct values of the smaller sample its
    ECDF is flat, so the largest gap lies at those values, from either side. The p-value is scipy's
    ``ks_2samp(method="asymp")``: Kolmogorov's distribution at the effective size n·m/(n+m).
    """
    small, large = (reference, current) if reference.size <= current.size else (current, reference)
    values, counts = np.unique(small, return_counts=True)
    small_cdf = np.cumsum(counts) / small.size
    small_before = np.concatenate([[0.0], small_cdf[:-1]])
    ordered = np.sort(large)
    large_cdf = np.searchsorted(ordered, values, side="right") / large.size
    large_before = np.searchsorted(ordered, values, side="left") / large.size
    d = float(max(np.max(np.abs(small_cdf - large_cdf)), np.max(np.abs(small_before - large_before))))
    effective = round(small.size * large.size / (small.size + large.size))
    return d, float(np.clip(stats.kstwo.sf(d, max(effective, 1)), 0.0, 1.0))


def pool_rare(reference: np.ndarray, current: np.ndarray,
              min_expected: float = MIN_EXPECTED) -> tuple[np.ndarray, np.ndarray]:
    """Counts (aligned by category) with every category whose expected count is below ``min_expected`` in
    either sample pooled into one, so the chi-squared approximation holds."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    seen = (ref + cur) > 0
    ref, cur = ref[seen], cur[seen]
    total = ref + cur
    if total.sum() == 0:
        return ref, cur
    smaller = min(ref.sum(), cur.sum()) / total.sum()
    rare = total * smaller < min_expected
    if not rare.any():
        return ref, cur
    ref = np.append(ref[~rare], ref[rare].sum())
    cur = np.append(cur[~rare], cur[rare].sum())
    if (ref[-1] + cur[-1]) * smaller < min_expected and len(ref) > 2:
        smallest = int(np.argmin((ref + cur)[:-1]))  # the pool is still too small: merge it with the rarest
        ref[smallest] += ref[-1]
        cur[smallest] += cur[-1]
        ref, cur = ref[:-1], cur[:-1]
    return ref, cur


def chi2_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """χ² and its p-value for two count vectors aligned by category, rare categories pooled."""
    ref, cur = pool_rare(reference, current)
    if len(ref) < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(np.vstack([ref, cur]))
    return float(result.statistic), float(result.pvalue)


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2) between two count or share vectors aligned by category: 0 to 1."""
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    value = float(jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2))
    return min(max(value, 0.0), 1.0) if np.isfinite(value) else 0.0


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values: reject those ≤ alpha to keep the family-wise error rate at most alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


# --- columns ------------------------------------------------------------------------------------------


def numeric_test(column: str, reference: np.ndarray, current: np.ndarray, thresholds: Thresholds) -> ColumnTest:
    ref = reference[np.isfinite(reference)]
    cur = current[np.isfinite(current)]
    base = ColumnTest(column, "numeric", rows=int(cur.size), reference_rows=int(ref.size))
    note = _too_few(ref.size, cur.size, thresholds)
    if note:
        return replace(base, note=note)
    statistic, pvalue = ks_test(ref, cur)
    return replace(base, statistic=statistic, pvalue=pvalue, psi=psi(ref, cur, thresholds.bins))


def categorical_test(column: str, reference: pd.Series, current: pd.Series, thresholds: Thresholds) -> ColumnTest:
    ref_counts, cur_counts = _aligned_counts(reference, current)
    base = ColumnTest(column, "categorical", rows=int(cur_counts.sum()), reference_rows=int(ref_counts.sum()))
    note = _too_few(base.reference_rows, base.rows, thresholds)
    if note:
        return replace(base, note=note)
    statistic, pvalue = chi2_test(ref_counts, cur_counts)
    return replace(base, statistic=statistic, pvalue=pvalue, js=js_distance(ref_counts, cur_counts))


def decide(tests: Sequence[ColumnTest], thresholds: Thresholds) -> tuple[ColumnTest, ...]:
    """Holm over every tested column, then the effect floor: which columns drifted."""
    tested = [i for i, t in enumerate(tests) if t.pvalue is not None]
    adjusted = holm([tests[i].pvalue or 0.0 for i in tested])
    decided = list(tests)
    for index, value in zip(tested, adjusted, strict=True):
        test = tests[index]
        significant = value <= thresholds.alpha
        floor = thresholds.min_psi if test.kind == "numeric" else thresholds.min_js
        large = test.effect is not None and test.effect >= floor
        decided[index] = replace(test, adjusted_pvalue=value, significant=significant, drifted=significant and large)
    return tuple(decided)


def compare_columns(reference: pd.DataFrame, window: pd.DataFrame, columns: Mapping[str, Kind],
                 thresholds: Thresholds) -> tuple[ColumnTest, ...]:
    """Every column tested and decided together (one family): the features of a drift check."""
    return decide([_test_column(name, kind, reference, window, thresholds) for name, kind in columns.items()],
                  thresholds)


def monitored_columns(contract: Contract) -> dict[str, Kind]:
    """The contract's features that drift is measured on (``datetime`` columns are not)."""
    kinds: dict[str, Kind] = {}
    for spec in contract.features:
        if spec.dtype in _NUMERIC:
            kinds[spec.name] = "numeric"
        elif spec.dtype in _CATEGORICAL:
            kinds[spec.name] = "categorical"
    return kinds


def _test_column(name: str, kind: Kind, reference: pd.DataFrame, window: pd.DataFrame,
                 thresholds: Thresholds) -> ColumnTest:
    for frame, where in ((reference, "reference"), (window, "window")):
        if name not in frame.columns:
            return ColumnTest(name, kind, 0, 0, note=f"missing in the {where}")
    return _test_series(name, kind, reference[name], window[name], thresholds)


def _test_series(name: str, kind: Kind, reference: pd.Series, current: pd.Series,
                 thresholds: Thresholds) -> ColumnTest:
    if kind == "categorical":
        return categorical_test(name, reference, current, thresholds)
    for series, where in ((reference, "reference"), (current, "window")):
        if not _is_number(series):
            return ColumnTest(name, kind, 0, 0, note=f"not numeric in the {where} ({series.dtype})")
    return numeric_test(name, _floats(reference), _floats(current), thresholds)


def _too_few(reference_rows: int, rows: int, thresholds: Thresholds) -> str | None:
    if rows < thresholds.min_rows:
        return f"{rows} values in the window, fewer than monitoring.min_rows ({thresholds.min_rows})"
    if reference_rows < thresholds.min_rows:
        return f"{reference_rows} values in the reference, fewer than monitoring.min_rows ({thresholds.min_rows})"
    return None


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _floats(series: pd.Series) -> np.ndarray:
    values: np.ndarray = series.to_numpy(dtype="float64", na_value=np.nan)
    return values


def _keys(series: pd.Series, numeric: bool) -> pd.Series:
    """Category keys: numbers as floats (1 read from CSV equals 1.0 read from JSON), anything else as text."""
    present = series.dropna()
    return present.astype("float64") if numeric else present.astype(str)


def _aligned_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    numeric = _is_number(reference) and _is_number(current)
    counts = pd.concat([_keys(reference, numeric).value_counts(), _keys(current, numeric).value_counts()],
                       axis=1).fillna(0)
    table = counts.to_numpy(dtype="float64")
    return table[:, 0], table[:, 1]


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
        return Skew(len(frame), violating, tuple(f.message for f in findings), structural, max_rate)
    return Skew(len(frame), 0, max_rate=max_rate)


# --- the whole analysis -------------------------------------------------------------------------------


def analyse(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    columns: Mapping[str, Kind],
    thresholds: Thresholds,
    *,
    prediction: tuple[pd.Series, Kind] | None = None,
    contract: Contract | None = None,
    buckets: int = 12,
) -> DriftResult:
    """Test every column (and ``window['prediction']`` against ``prediction``, the reference labels or
    predictions) as one family; measure skew against ``contract``; the effects per time bucket of ``ts``."""
    tests = [_test_column(name, kind, reference, window, thresholds) for name, kind in columns.items()]
    if prediction is not None:
        series, kind = prediction
        if PREDICTION in window.columns:
            tests.append(_test_series(PREDICTION, kind, series, window[PREDICTION], thresholds))
        else:
            tests.append(ColumnTest(PREDICTION, kind, 0, int(series.notna().sum()), note="missing in the window"))
    decided = decide(tests, thresholds)
    has_prediction = prediction is not None
    features = decided[:-1] if has_prediction else decided
    skew = contract_skew(window, contract, thresholds.max_violation_rate) if contract is not None else None
    references = {name: reference[name] for name in columns if name in reference.columns}
    if prediction is not None:
        references[PREDICTION] = prediction[0]
    return DriftResult(
        rows=len(window),
        reference_rows=len(reference),
        columns=tuple(features),
        prediction=decided[-1] if has_prediction else None,
        skew=skew,
        buckets=time_buckets(window, references, decided, thresholds, buckets),
        thresholds=thresholds,
    )


def time_buckets(window: pd.DataFrame, references: Mapping[str, pd.Series], tests: Sequence[ColumnTest],
                 thresholds: Thresholds, count: int) -> tuple[Bucket, ...]:
    """The window cut into ``count`` equal spans of ``ts``, with each tested column's effect in each span.

    A bucket's effect is noisier than the window's (fewer rows): it shows when a shift began, the
    decision is the whole window's. Spans with fewer than 30 values have no effect (None). Each column
    is binned (numeric: at the reference's quantiles, as :func:`mlcd.data.drift.psi` does) or coded
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
        expected, codes = _binned(test, references[test.column], window[test.column], thresholds.bins)
        slots = len(expected) + 1  # the last slot holds missing values
        counts = np.bincount(bucket * slots + codes, minlength=count * slots).reshape(count, slots)[:, :-1]
        effects[test.column] = [_bucket_effect(test.kind, expected, row.astype("float64")) for row in counts]
    return tuple(Bucket(_utc(edges[i]), _utc(edges[i + 1]), int(bounds[i + 1] - bounds[i]),
                        {name: values[i] for name, values in effects.items()}) for i in range(count))


def _binned(test: ColumnTest, reference: pd.Series, current: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's counts per bin or category, and each window row's bin or category (missing: one past
    the last)."""
    if test.kind == "numeric":
        ref = _floats(reference)
        ref = ref[np.isfinite(ref)]
        cuts = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        values = _floats(current)
        codes = np.searchsorted(cuts, values, side="right")
        codes[~np.isfinite(values)] = len(cuts) + 1
        expected = np.bincount(np.searchsorted(cuts, ref, side="right"), minlength=len(cuts) + 1)
        return expected.astype("float64"), codes
    numeric = _is_number(reference) and _is_number(current)
    known = _keys(reference, numeric).value_counts()
    found, uniques = pd.factorize(current)  # hashes each row once (Arrow's dictionary encoding for text)
    keys = _keys(pd.Series(uniques), numeric)
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
