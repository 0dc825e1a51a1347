"""Drift of the data against a reference version of it (the data on the base branch, or a file).

The rule, per column (``drift.columns``, default: every feature):

- numeric (contract dtype ``int`` or ``float``): the population stability index (PSI) over ``drift.bins`` bins
  cut at the reference's quantiles, and the two-sample Kolmogorov-Smirnov test. The column drifts when
  ``PSI >= drift.psi_threshold`` **and** ``KS p-value < drift.ks_pvalue``.
- categorical (``category``, ``string``, ``bool``): the PSI over the categories, and the chi-squared test
  of the 2×k table of counts. The column drifts when ``PSI >= drift.psi_threshold`` **and**
  ``chi-squared p-value < drift.chi2_pvalue``.

Both conditions must hold: the PSI says the shift is large, the test that it is not chance. A test alone
flags tiny shifts in large data, and the PSI alone flags noise in small data. Missing values and infinities
are left out (null rates are a quality check); ``datetime`` columns are not checked. Shares of zero are
raised to 1e-4 in the PSI, so a category or bin that appears or vanishes counts without dividing by zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mlcd.config.model import Config, Contract, DriftConfig
from mlcd.data import Check, ColumnDrift, plural
from mlcd.data.io import data_format, first_line, parse_table, read_table
from mlcd.errors import InputError

__all__ = [
    "EPSILON",
    "ReferenceSource",
    "categorical_drift",
    "chi2_pvalue",
    "drift_check",
    "ks_pvalue",
    "load_reference",
    "measure_drift",
    "numeric_drift",
    "psi",
    "psi_of_shares",
    "reference_source",
]

EPSILON = 1e-4
_NUMERIC = ("int", "float")
_CATEGORICAL = ("category", "string", "bool")


# --- statistics ---------------------------------------------------------------------------------------


def psi_of_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = Σ (actual - expected) · ln(actual / expected) over aligned shares; never negative."""
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


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    return float(stats.ks_2samp(reference, current).pvalue)


def chi2_pvalue(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """p-value of the chi-squared test that both count vectors (aligned by category) share a distribution."""
    table = np.vstack([reference_counts, current_counts]).astype("float64")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def numeric_drift(column: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig) -> ColumnDrift:
    ref = reference[np.isfinite(reference)]
    cur = current[np.isfinite(current)]
    if ref.size == 0 or cur.size == 0:
        where = "reference" if ref.size == 0 else "data"
        return ColumnDrift(column, "numeric", False, note=f"no values in the {where}")
    value = psi(ref, cur, config.bins)
    pvalue = ks_pvalue(ref, cur)
    drifted = value >= config.psi_threshold and pvalue < config.ks_pvalue
    return ColumnDrift(column, "numeric", drifted, psi=value, ks_pvalue=pvalue)


def categorical_drift(column: str, reference: pd.Series, current: pd.Series, config: DriftConfig) -> ColumnDrift:
    ref = reference.dropna()
    cur = current.dropna()
    if ref.empty or cur.empty:
        where = "reference" if ref.empty else "data"
        return ColumnDrift(column, "categorical", False, note=f"no values in the {where}")
    counts = pd.concat([_counts(ref), _counts(cur)], axis=1).fillna(0).to_numpy(dtype="float64")
    ref_counts, cur_counts = counts[:, 0], counts[:, 1]
    value = psi_of_shares(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    pvalue = chi2_pvalue(ref_counts, cur_counts)
    drifted = value >= config.psi_threshold and pvalue < config.chi2_pvalue
    return ColumnDrift(column, "categorical", drifted, psi=value, chi2_pvalue=pvalue)


def _counts(values: pd.Series) -> pd.Series:
    """Counts keyed by the value's text, so True read as bool and 'True' read as text are one category."""
    return values.astype(str).value_counts()


def measure_drift(reference: pd.DataFrame, current: pd.DataFrame, contract: Contract,
                  config: DriftConfig) -> tuple[ColumnDrift, ...]:
    names = config.columns if config.columns is not None else tuple(contract.feature_names)
    results = []
    for name in names:
        spec = contract.column(name)
        if spec.dtype in _NUMERIC:
            results.append(_numeric_column(name, reference, current, config))
        elif spec.dtype in _CATEGORICAL:
            results.append(_categorical_column(name, reference, current, config))
    return tuple(results)


def _numeric_column(name: str, reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig) -> ColumnDrift:
    missing = _missing(name, reference, current)
    if missing:
        return ColumnDrift(name, "numeric", False, note=missing)
    for frame, where in ((reference, "reference"), (current, "data")):
        dtype = frame[name].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return ColumnDrift(name, "numeric", False, note=f"not numeric in the {where} ({dtype})")
    return numeric_drift(name, _floats(reference[name]), _floats(current[name]), config)


def _categorical_column(name: str, reference: pd.DataFrame, current: pd.DataFrame,
                        config: DriftConfig) -> ColumnDrift:
    missing = _missing(name, reference, current)
    if missing:
        return ColumnDrift(name, "categorical", False, note=missing)
    return categorical_drift(name, reference[name], current[name], config)


def _missing(name: str, reference: pd.DataFrame, current: pd.DataFrame) -> str | None:
    if name not in reference.columns:
        return "missing in the reference"
    if name not in current.columns:
        return "missing in the data"
    return None


def _floats(series: pd.Series) -> np.ndarray:
    values: np.ndarray = series.to_numpy(dtype="float64", na_value=np.nan)
    return values


def drift_check(columns: tuple[ColumnDrift, ...], reference: str, config: DriftConfig) -> Check:
    measured = [c for c in columns if c.note is None]
    if not measured:
        return Check("drift", "drift", "skipped", f"no column could be compared with {reference}",
                     tuple(f"'{c.column}': {c.note}" for c in columns))
    drifted = [c for c in measured if c.drifted]
    if drifted:
        problems = tuple(f"'{c.column}' drifted: {_stats(c)}" for c in drifted)
        message = (f"{len(drifted)} of {plural(len(measured), 'compared column')} drifted from {reference}: "
                   + "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else ""))
        return Check("drift", "drift", "failed", message, problems)
    worst = max(measured, key=lambda c: c.psi or 0.0)
    return Check("drift", "drift", "passed",
                 f"no drift in {plural(len(measured), 'compared column')} against {reference} "
                 f"(largest PSI {worst.psi:.3f}, '{worst.column}'; threshold {config.psi_threshold})")


def _stats(column: ColumnDrift) -> str:
    test = (f"KS p={column.ks_pvalue:.2g}" if column.ks_pvalue is not None
            else f"chi-squared p={column.chi2_pvalue:.2g}")
    return f"PSI {column.psi:.3f}, {test}"


# --- the reference ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSource:
    """Either a file, or data.path as DVC tracks it at a git revision."""

    path: Path | None = None
    rev: str | None = None

    def describe(self, data_path: str) -> str:
        return str(self.path) if self.path is not None else f"{data_path}@{self.rev}"


def reference_source(config: Config, path: str | None = None, rev: str | None = None) -> ReferenceSource | None:
    """Precedence: --reference PATH, --reference-rev REV, data.reference.path, data.reference.rev.

    PATH is relative to the current directory, data.reference.path to the repository root.
    """
    if path:
        return ReferenceSource(path=Path(path))
    if rev:
        return ReferenceSource(rev=rev)
    if config.data.reference_path:
        return ReferenceSource(path=config.resolve(config.data.reference_path))
    if config.data.reference_rev:
        return ReferenceSource(rev=config.data.reference_rev)
    return None


def load_reference(source: ReferenceSource, config: Config) -> pd.DataFrame:
    """The reference frame; an InputError says why there is none (unknown revision, file not tracked, …)."""
    if source.path is not None:
        return read_table(source.path, config.data)
    import dvc.api
    from dvc.exceptions import DvcException

    name = source.describe(config.data.path)
    try:
        with dvc.api.open(config.data.path, repo=str(config.root), rev=source.rev, mode="rb") as handle:
            content = handle.read()
    except (DvcException, OSError) as exc:
        raise InputError(f"cannot read {name}: {first_line(exc)}",
                         fix="fetch the revision (git fetch) and make sure the data is tracked and pushed there") \
            from None
    return parse_table(content, name, config.data, data_format(config.data.path, config.data.format))
