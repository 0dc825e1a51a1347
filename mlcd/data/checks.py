"""The data test: every check runs and every failure is listed; no failure stops the other checks.

Order of the report: ``read``, the contract rules (``schema``), ``quality``, ``leakage``, ``drift``. When the
data cannot be read, the checks that need it are reported as skipped, so the list of checks stays the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlcd.config.model import Config
from mlcd.data import Check, DataTestResult, Kind
from mlcd.data.contract import contract_checks, rules
from mlcd.data.drift import ReferenceSource, drift_check, load_reference, measure_drift
from mlcd.data.io import read_table
from mlcd.data.leakage import label_leakage_check, overlap_check
from mlcd.data.quality import check_names, quality_checks
from mlcd.drift import ColumnTest
from mlcd.errors import InputError

__all__ = ["frame_checks", "run_data_test"]

_UNREAD = "the data could not be read"


def run_data_test(config: Config, data_path: Path | None = None,
                  reference: ReferenceSource | None = None) -> DataTestResult:
    """Test ``data_path`` (default: data.path) against the config; drift against ``reference`` if given."""
    path = data_path if data_path is not None else config.resolve(config.data.path)
    frame: pd.DataFrame | None
    try:
        frame = read_table(path, config.data)
    except InputError as exc:
        frame = None
        checks = [Check("read", "read", "failed", exc.one_line(), (exc.one_line(),))]
        checks += [Check(name, kind, "skipped", _UNREAD) for name, kind in frame_checks(config)]
    else:
        checks = [Check("read", "read", "passed", f"{len(frame)} rows × {len(frame.columns)} columns")]
        checks += contract_checks(frame, config.contract)
        checks += quality_checks(frame, config)
        checks.append(label_leakage_check(frame, config.contract))
    overlap = _split_overlap(config)
    if overlap is not None:
        checks.append(overlap)
    drift, columns, label, warning = _drift(config, frame, reference)
    checks.append(drift)
    return DataTestResult(
        data=_shown(path, config.root),
        rows=None if frame is None else len(frame),
        columns=None if frame is None else len(frame.columns),
        checks=tuple(checks),
        reference=label,
        drift=columns,
        warnings=(warning,) if warning else (),
    )


def frame_checks(config: Config) -> list[tuple[str, Kind]]:
    """The checks that need the data, in report order: what a run skips when the data cannot be read."""
    planned: list[tuple[str, Kind]] = [(rule, "schema") for rule in rules(config.contract)]
    planned += [(name, "quality") for name in check_names(config)]
    planned.append(("label_leakage", "leakage"))
    return planned


def _split_overlap(config: Config) -> Check | None:
    if config.data.train is None or config.data.test is None:
        return None
    paths = [config.resolve(config.data.train), config.resolve(config.data.test)]
    absent = [str(p.relative_to(config.root)) for p in paths if not p.exists()]
    if absent:
        return Check("train_test_overlap", "leakage", "skipped",
                     f"the splits are not written yet ({', '.join(absent)}): run the pipeline first")
    try:
        train, test = (read_table(p, config.data) for p in paths)
    except InputError as exc:
        return Check("train_test_overlap", "leakage", "failed", exc.one_line(), (exc.one_line(),))
    return overlap_check(train, test)


def _drift(config: Config, frame: pd.DataFrame | None, source: ReferenceSource | None
           ) -> tuple[Check, tuple[ColumnTest, ...], str | None, str | None]:
    """The drift check, its columns, the reference's name and a warning when the reference is unavailable."""
    if frame is None:
        return Check("drift", "drift", "skipped", _UNREAD), (), None, None
    if source is None:
        return (Check("drift", "drift", "skipped",
                      "no reference: set data.reference.rev in mlcd.yaml or pass --reference"), (), None, None)
    label = source.describe(config.data.path)
    try:
        reference = load_reference(source, config)
    except InputError as exc:
        warning = f"no drift reference: {exc.one_line()}"
        return Check("drift", "drift", "skipped", warning), (), label, warning
    columns = measure_drift(reference, frame, config.contract, config.drift)
    return drift_check(columns, label, config.drift), columns, label, None


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
