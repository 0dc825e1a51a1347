"""Drift statistics and the one rule that says a column drifted, for `mlcd data test` (the data against its
reference version) and `mlcd drift` (production's logged rows against the training data), both set by the
``drift`` section of mlcd.yaml (:class:`mlcd.config.model.DriftConfig`).

Each column gets a test (a p-value: could chance alone explain the difference?) and an effect size (how
large is it?):

- numeric (contract ``int``/``float``): the two-sample Kolmogorov–Smirnov test; effect: the population
  stability index (PSI) over ``bins`` bins cut at the reference's quantiles.
- categorical (``category``/``string``/``bool``): the chi-squared test of the 2×k table of counts, with
  categories too rare for its approximation (expected count below 5) pooled; effect: the Jensen–Shannon
  distance (base 2, between 0 and 1).

Calibration: Holm's step-down procedure over the p-values of every column tested keeps the chance of
any false alarm in a sample drawn from the reference's distribution at most ``alpha``, whatever the
dependence between columns. A column drifts when Holm rejects it **and** its effect reaches
``min_effect``: dropping rejections can only lower the false-alarm rate, and the floor keeps a huge
sample from alarming on a shift too small to matter. Columns with fewer than ``min_rows`` values (in
either sample) are not tested. tests/unit/test_drift_calibration.py measures both rates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlcd.config.model import Contract, DriftConfig

__all__ = [
    "EPSILON",
    "MIN_EXPECTED",
    "ColumnTest",
    "Kind",
    "categorical_test",
    "category_keys",
    "chi2_test",
    "column_json",
    "compare_columns",
    "decide",
    "floats",
    "holm",
    "is_number",
    "js_distance",
    "ks_test",
    "measure_column",
    "measure_series",
    "monitored_columns",
    "numeric_test",
    "pool_rare",
    "psi",
    "psi_of_shares",
    "rule",
    "thresholds_json",
]

Kind = Literal["numeric", "categorical"]
EPSILON = 1e-4
MIN_EXPECTED = 5.0
_NUMERIC = ("int", "float")
_CATEGORICAL = ("category", "string", "bool")


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


# --- statistics ---------------------------------------------------------------------------------------


def psi_of_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = Σ (actual - expected) · ln(actual / expected) over aligned shares; never negative. Shares of zero
    are raised to 1e-4, so a bin or category that appears or vanishes counts without dividing by zero."""
    e = np.clip(np.asarray(expected, dtype="float64"), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype="float64"), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """PSI of two non-empty samples of finite numbers, binned at the reference's quantiles."""
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    slots = len(edges) + 1
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=slots) / len(reference)
    actual = np.bincount(np.searchsorted(edges, current, side="right"), minlength=slots) / len(current)
    return psi_of_shares(expected, actual)


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Kolmogorov–Smirnov D of two non-empty samples and its asymptotic two-sided p-value.

    D is exact and cheap for a large sample: between two distinct values of the smaller sample its
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


def numeric_test(column: str, reference: np.ndarray, current: np.ndarray, drift: DriftConfig,
                 sample: str = "window") -> ColumnTest:
    """``sample`` names the current sample in notes: the ``window`` of logged rows, or the ``data``."""
    ref = reference[np.isfinite(reference)]
    cur = current[np.isfinite(current)]
    base = ColumnTest(column, "numeric", rows=int(cur.size), reference_rows=int(ref.size))
    note = _too_few(ref.size, cur.size, drift, sample)
    if note:
        return replace(base, note=note)
    statistic, pvalue = ks_test(ref, cur)
    return replace(base, statistic=statistic, pvalue=pvalue, psi=psi(ref, cur, drift.bins))


def categorical_test(column: str, reference: pd.Series, current: pd.Series, drift: DriftConfig,
                     sample: str = "window") -> ColumnTest:
    ref_counts, cur_counts = _aligned_counts(reference, current)
    base = ColumnTest(column, "categorical", rows=int(cur_counts.sum()), reference_rows=int(ref_counts.sum()))
    note = _too_few(base.reference_rows, base.rows, drift, sample)
    if note:
        return replace(base, note=note)
    statistic, pvalue = chi2_test(ref_counts, cur_counts)
    return replace(base, statistic=statistic, pvalue=pvalue, js=js_distance(ref_counts, cur_counts))


def decide(tests: Sequence[ColumnTest], drift: DriftConfig) -> tuple[ColumnTest, ...]:
    """Holm over every tested column, then the effect floor: which columns drifted."""
    tested = [i for i, t in enumerate(tests) if t.pvalue is not None]
    adjusted = holm([tests[i].pvalue or 0.0 for i in tested])
    decided = list(tests)
    for index, value in zip(tested, adjusted, strict=True):
        test = tests[index]
        significant = value <= drift.alpha
        floor = drift.min_effect.psi if test.kind == "numeric" else drift.min_effect.js
        large = test.effect is not None and test.effect >= floor
        decided[index] = replace(test, adjusted_pvalue=value, significant=significant, drifted=significant and large)
    return tuple(decided)


def compare_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: Mapping[str, Kind],
                    drift: DriftConfig, sample: str = "window") -> tuple[ColumnTest, ...]:
    """Every column tested and decided together (one family)."""
    return decide([measure_column(name, kind, reference, current, drift, sample) for name, kind in columns.items()],
                  drift)


def monitored_columns(contract: Contract, names: Sequence[str] | None = None) -> dict[str, Kind]:
    """The columns drift is measured on: ``names`` (drift.columns, in `mlcd data test`), else the contract's
    features; ``datetime`` columns are not."""
    specs = [contract.column(name) for name in names] if names is not None else contract.features
    kinds: dict[str, Kind] = {}
    for spec in specs:
        if spec.dtype in _NUMERIC:
            kinds[spec.name] = "numeric"
        elif spec.dtype in _CATEGORICAL:
            kinds[spec.name] = "categorical"
    return kinds


def measure_column(name: str, kind: Kind, reference: pd.DataFrame, current: pd.DataFrame, drift: DriftConfig,
                sample: str = "window") -> ColumnTest:
    for frame, where in ((reference, "reference"), (current, sample)):
        if name not in frame.columns:
            return ColumnTest(name, kind, 0, 0, note=f"missing in the {where}")
    return measure_series(name, kind, reference[name], current[name], drift, sample)


def measure_series(name: str, kind: Kind, reference: pd.Series, current: pd.Series, drift: DriftConfig,
                sample: str = "window") -> ColumnTest:
    if kind == "categorical":
        return categorical_test(name, reference, current, drift, sample)
    for series, where in ((reference, "reference"), (current, sample)):
        if not is_number(series):
            return ColumnTest(name, kind, 0, 0, note=f"not numeric in the {where} ({series.dtype})")
    return numeric_test(name, floats(reference), floats(current), drift, sample)


def _too_few(reference_rows: int, rows: int, drift: DriftConfig, sample: str) -> str | None:
    if rows < drift.min_rows:
        return f"{rows} values in the {sample}, fewer than drift.min_rows ({drift.min_rows})"
    if reference_rows < drift.min_rows:
        return f"{reference_rows} values in the reference, fewer than drift.min_rows ({drift.min_rows})"
    return None


def is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def floats(series: pd.Series) -> np.ndarray:
    values: np.ndarray = series.to_numpy(dtype="float64", na_value=np.nan)
    return values


def category_keys(series: pd.Series, numeric: bool) -> pd.Series:
    """Category keys: numbers as floats (1 read from CSV equals 1.0 read from JSON), anything else as text
    (True read as bool equals 'True' read as text)."""
    present = series.dropna()
    return present.astype("float64") if numeric else present.astype(str)


def _aligned_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    numeric = is_number(reference) and is_number(current)
    counts = pd.concat([category_keys(reference, numeric).value_counts(),
                        category_keys(current, numeric).value_counts()], axis=1).fillna(0)
    table = counts.to_numpy(dtype="float64")
    return table[:, 0], table[:, 1]


# --- how results are shown ----------------------------------------------------------------------------


def rule(drift: DriftConfig, tests: int) -> str:
    """The rule in one sentence, for the reports of both commands."""
    return (f"A column drifts when its p-value, adjusted by Holm's procedure over all {tests} tests, is at most "
            f"α = {drift.alpha} (the chance of any false alarm) **and** its effect reaches PSI ≥ "
            f"{drift.min_effect.psi} (numeric) or Jensen–Shannon distance ≥ {drift.min_effect.js} (categorical).")


def thresholds_json(drift: DriftConfig, tests: int) -> dict[str, Any]:
    return {"alpha": drift.alpha, "tests": tests, "correction": "holm",
            "min_effect": {"psi": drift.min_effect.psi, "js": drift.min_effect.js}, "min_rows": drift.min_rows,
            "bins": drift.bins}


def column_json(test: ColumnTest) -> dict[str, Any]:
    return {"column": test.column, "kind": test.kind, "rows": test.rows, "reference_rows": test.reference_rows,
            "test": test.test if test.pvalue is not None else None, "statistic": _finite(test.statistic),
            "pvalue": _finite(test.pvalue), "adjusted_pvalue": _finite(test.adjusted_pvalue),
            "effect": test.effect_name.lower(), "effect_value": _finite(test.effect),
            "significant": test.significant, "drifted": test.drifted, "note": test.note}


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: a statistic that is not a number is null."""
    return value if value is not None and math.isfinite(value) else None
