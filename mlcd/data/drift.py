"""The data test's drift check: the data against a reference version of it (the data on the base branch, or
a file), by the drift rule `mlcd drift` uses (:mod:`mlcd.drift`, the ``drift`` section of mlcd.yaml).

Every column in ``drift.columns`` (default: every feature; ``datetime`` columns are not checked) is tested
and decided as one family: a column drifts when Holm's procedure over the p-values of all of them (KS for
numbers, chi-squared for categories) rejects it at ``drift.alpha`` **and** its effect (PSI for numbers,
Jensen–Shannon distance for categories) reaches ``drift.min_effect``. Missing values are left out (null
rates are a quality check); a column with fewer than ``drift.min_rows`` values in the data or the
reference is not tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlcd.config.model import Config, Contract, DriftConfig
from mlcd.data import Check, plural
from mlcd.data.io import data_format, first_line, parse_table, read_table
from mlcd.drift import ColumnTest, compare_columns, monitored_columns
from mlcd.errors import InputError

__all__ = ["ReferenceSource", "drift_check", "load_reference", "measure_drift", "reference_source"]


def measure_drift(reference: pd.DataFrame, current: pd.DataFrame, contract: Contract,
                  drift: DriftConfig) -> tuple[ColumnTest, ...]:
    return compare_columns(reference, current, monitored_columns(contract, drift.columns), drift, sample="data")


def drift_check(columns: tuple[ColumnTest, ...], reference: str, drift: DriftConfig) -> Check:
    tested = [c for c in columns if c.pvalue is not None]
    if not tested:
        notes = tuple(f"'{c.column}': {c.note}" for c in columns)
        first = f" ({notes[0]}{', …' if len(notes) > 1 else ''})" if notes else ""
        return Check("drift", "drift", "skipped", f"no column could be tested against {reference}{first}", notes)
    drifted = [c for c in tested if c.drifted]
    if drifted:
        problems = tuple(f"'{c.column}' drifted: {_stats(c)}" for c in drifted)
        message = (f"{len(drifted)} of {plural(len(tested), 'tested column')} drifted from {reference}: "
                   + "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else ""))
        return Check("drift", "drift", "failed", message, problems)
    return Check("drift", "drift", "passed",
                 f"no drift in {plural(len(tested), 'tested column')} against {reference} (Holm at α = "
                 f"{drift.alpha}; effect floors PSI {drift.min_effect.psi}, JS {drift.min_effect.js})")


def _stats(column: ColumnTest) -> str:
    return f"{column.effect_name} {column.effect:.3f}, {column.test} p (Holm) {column.adjusted_pvalue:.2g}"


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
