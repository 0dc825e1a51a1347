"""``mlcd drift`` as a library call: a window of the prediction logs against the reference (the training
split, a file, or the training data at a git revision), measured by :mod:`mlcd.monitoring.drift` and
rendered by :mod:`mlcd.monitoring.report`; and the production model's age against monitoring.max_model_age
(:mod:`mlcd.monitoring.freshness`), which fails the run (verdict ``stale``) even without drift or logs."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mlcd.config import Config
from mlcd.data.io import read_table
from mlcd.drift import Kind, monitored_columns
from mlcd.errors import CheckFailed, ConfigError, InputError
from mlcd.monitoring.drift import PREDICTION, DriftResult, analyse, contract_skew
from mlcd.monitoring.freshness import ModelAge, production_age
from mlcd.monitoring.log_reader import FieldKind, LogWindow, field_kind, read_window, resolve_window
from mlcd.monitoring.log_writer import PROBA_PREFIX, RESERVED
from mlcd.monitoring.reference import read_reference_at, reference_revision
from mlcd.monitoring.report import Context, markdown, to_json, verdict
from mlcd.output import Output


@dataclass(frozen=True)
class DriftRequest:
    """What ``mlcd drift`` is asked; None everywhere: mlcd.yaml's logs, window and training split."""

    logs: str | None = None
    reference: Path | None = None
    reference_rev: str | None = None
    reference_predictions: str | None = None  # a predictions file (evaluate.predictions_file)
    since: str | None = None
    until: str | None = None
    last: int | None = None
    if_configured: bool = False


STALE = "stale"


@dataclass(frozen=True)
class DriftRun:
    """The drift of the window (None when no logs are configured and only the model's age was checked),
    and the production model's age when monitoring.max_model_age is set."""

    result: DriftResult | None
    context: Context | None
    incomplete_lines: int = 0  # last lines of log files still being written, left out
    age: ModelAge | None = None

    @property
    def stale(self) -> bool:
        return self.age is not None and self.age.stale

    @property
    def verdict(self) -> str:
        """drift and skew first (skew says retraining on these rows would not help), then stale."""
        drifted = verdict(self.result) if self.result is not None else None
        if drifted in ("drift", "skew") or not self.stale:
            return drifted or "not configured"
        return STALE

    @property
    def failed(self) -> bool:
        return self.stale or (self.result is not None and self.result.failed)

    def markdown(self) -> str:
        lines = []
        if self.age is not None:
            mark = "❌" if self.age.stale else "✅"
            lines = [f"> {mark} {self.age.reason()[0].upper()}{self.age.reason()[1:]} (since `{self.age.tag}`, "
                     f"{self.age.since:%Y-%m-%d}).", ""]
        if self.result is None or self.context is None:
            title = f"## {'❌ mlcd drift: the production model is stale' if self.stale else '✅ mlcd drift'}"
            return "\n".join([title, "", *lines, "No prediction logs are configured (monitoring.logs): no drift "
                              "was measured.", ""])
        report = markdown(self.result, self.context)
        if not lines:
            return report
        head, _, rest = report.partition("\n")
        return "\n".join([head, "", *lines]) + rest

    def json(self) -> str:
        document = to_json(self.result, self.context) if self.result is not None and self.context else {}
        document |= {"verdict": self.verdict, "failed": self.failed,
                     "model_age": self.age.to_json() if self.age is not None else None}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def failure(self, report: str) -> CheckFailed | None:
        """The error for a window that drifted or breaks the contract, or a model older than
        monitoring.max_model_age (None when none of these), each reason in ``failures``; ``report`` names
        where the whole report is."""
        result = self.result
        if not self.failed:
            return None
        failures = []
        if result is not None:
            for test in result.tests:
                if test.drifted and test.effect is not None:
                    failures.append(f"'{test.column}' drifted: {test.effect_name} {test.effect:.3f}, "
                                    f"{test.test} p (Holm) {test.adjusted_pvalue:.2g}")
            if result.skew is not None and result.skew.failed:
                failures.append(f"{result.skew.violating_rows} of {result.skew.rows} rows break the data contract: "
                                + "; ".join(result.skew.findings[:3]))
        whats = []
        if result is not None and result.drifted:
            whats.append(f"drift in {len(result.drifted)} of {len(result.tested)} columns: {', '.join(result.drifted)}")
        elif result is not None and result.failed:
            whats.append("production rows break the data contract (training/serving skew)")
        if self.age is not None and self.age.stale:
            failures.append(self.age.reason())
            whats.append(self.age.reason())
        return CheckFailed("; ".join(whats), failures=failures,
                           fix=f"see {report}; retrain on recent data, or fix what changed upstream")


def run_drift(config: Config, request: DriftRequest, out: Output, now: datetime | None = None) -> DriftRun | None:
    """The drift of the logged window against the reference, and the production model's age; None when
    ``request.if_configured``, no prediction logs are configured (nothing to measure yet) and the model is
    not older than monitoring.max_model_age."""
    now = now or datetime.now(timezone.utc)
    age = production_age(config.root, config.model.name, config.monitoring.max_model_age, now)
    if request.if_configured and not request.logs and config.monitoring.logs is None:
        return DriftRun(None, None, age=age) if age is not None and age.stale else None
    logs = request.logs or configured_logs(config)
    window = resolve_window(request.since, request.until, request.last, config.monitoring.window,
                            now)
    columns = monitored_columns(config.contract)
    _check_names(columns)
    kind: Kind = "numeric" if config.evaluate.task == "regression" else "categorical"
    label = config.contract.column(config.contract.label)
    fields: dict[str, FieldKind] = {name: field_kind(config.contract.column(name)) for name in columns}
    fields |= {PREDICTION: "number" if kind == "numeric" else field_kind(label), "model_version": "text"}

    if request.reference_rev and not request.reference:
        revision = reference_revision(config, request.reference_rev)
        reference_name = f"{config.data.train} at {revision.describe}"
        with out.group(f"read the reference: {reference_name}", ticker=True):
            reference = read_reference_at(config, revision)
    else:
        reference_path = request.reference or _training_split(config)
        reference_name = str(reference_path)
        reference = read_table(reference_path, config.data)
    expected = _reference_predictions(request.reference_predictions, config, reference)
    with out.group(f"read prediction logs {logs} ({window.describe()})", ticker=True):
        log = read_window(logs, fields, window)
    with out.group(f"drift of {len(log.frame):,} rows against {reference_name}", ticker=True):
        skew = contract_skew(log.frame, config.contract, config.monitoring.max_violation_rate)
        result = analyse(reference, log.frame, columns, config.drift,
                         prediction=(expected, kind) if expected is not None else None, skew=skew)
    return DriftRun(result, _context(config, logs, window.describe(), reference_name, log), log.incomplete_lines, age)


def configured_logs(config: Config) -> str:
    logs = config.monitoring.logs
    if logs is None:
        raise ConfigError("no prediction logs to read",
                          fix="pass --logs DIR, or set monitoring.logs in mlcd.yaml (a directory or an s3:// URL)")
    return logs if "://" in logs else str(config.resolve(logs))


def _training_split(config: Config) -> Path:
    if config.data.train is None:
        raise ConfigError("no reference: data.splits.train is not set in mlcd.yaml",
                          fix="pass --reference FILE (the data the production model was trained on), "
                              "or set data.splits.train")
    return config.resolve(config.data.train)


def _check_names(columns: dict[str, Kind]) -> None:
    clashes = [name for name in columns if name in RESERVED or name.startswith(PROBA_PREFIX)]
    if clashes:
        raise ConfigError(f"contract.columns: {', '.join(clashes)} clash with the prediction log's own fields",
                          fix=f"rename the feature(s): {', '.join(RESERVED)} and proba_* are "
                                             "reserved in the log (see docs/monitoring.md)")


def _reference_predictions(path: str | None, config: Config, reference: pd.DataFrame) -> pd.Series | None:
    """What the window's predictions are compared with: a predictions file, else the reference's labels."""
    if path is None:
        label = config.contract.label
        return reference[label] if label in reference.columns else None
    frame = read_table(Path(path), config.data)
    for column in (PREDICTION, "y_pred"):
        if column in frame.columns:
            return frame[column]
    raise InputError(f"{path} has no 'prediction' or 'y_pred' column (it has {', '.join(map(str, frame.columns))})",
                     fix="pass the predictions file `mlcd evaluate` writes (evaluate.predictions_file)")


def _context(config: Config, logs: str, asked: str, reference: str, log: LogWindow) -> Context:
    frame = log.frame
    versions = Counter(frame["model_version"].dropna().astype(str)) if "model_version" in frame else Counter()
    first = frame["ts"].iloc[0].to_pydatetime() if len(frame) else None
    last = frame["ts"].iloc[-1].to_pydatetime() if len(frame) else None
    return Context(model=config.model.name, logs=logs, window=asked, reference=reference, first=first, last=last,
                   files_read=len(log.files_read), files_total=log.files_total, versions=dict(versions.most_common()))
