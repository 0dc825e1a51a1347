"""``mlcd drift`` as a library call: a window of the prediction logs against the reference (the training
split, a file, or the training data at a git revision), measured by :mod:`mlcd.monitoring.drift` and
rendered by :mod:`mlcd.monitoring.report`; and the production model's age against monitoring.max_model_age
(:mod:`mlcd.monitoring.freshness`), which fails the run (verdict ``stale``) even without drift or logs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mlcd.config import Config
from mlcd.data.io import read_table
from mlcd.drift import Kind, monitored_columns
from mlcd.errors import CheckFailed, ConfigError, InputError
from mlcd.monitoring.drift import PREDICTION, DriftResult, analyse, contract_skew
from mlcd.monitoring.feedback_run import Feedback, FeedbackRequest, run_feedback
from mlcd.monitoring.freshness import ModelAge, production_age
from mlcd.monitoring.log_reader import FieldKind, LogWindow, field_kind, read_window, resolve_window
from mlcd.monitoring.log_writer import PROBA_PREFIX, RESERVED
from mlcd.monitoring.reference import read_reference_at, reference_revision
from mlcd.monitoring.report import Context, markdown, to_json, verdict
from mlcd.monitoring.sources import configured_labels, configured_logs
from mlcd.output import Output
from mlcd.report.fit import COMMENT_LIMIT
from mlcd.report.fit import RESERVED as FOOTER_ROOM


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
    labels: str | None = None  # None: monitoring.labels, if set


STALE = "stale"
BELOW_GATES = "below gates"


@dataclass(frozen=True)
class DriftRun:
    """The drift of the window (None when no logs are configured and only the model's age was checked),
    the production model's age when monitoring.max_model_age is set, and the production metrics on the
    window's labelled predictions when labels are configured (monitoring.labels)."""

    result: DriftResult | None
    context: Context | None
    incomplete_lines: int = 0  # last lines of log files still being written, left out
    age: ModelAge | None = None
    feedback: Feedback | None = None

    @property
    def stale(self) -> bool:
        return self.age is not None and self.age.stale

    @property
    def below_gates(self) -> bool:
        return self.feedback is not None and self.feedback.failed

    @property
    def verdict(self) -> str:
        """drift and skew first (skew says retraining on these rows would not help), then production
        metrics below the gates, then stale."""
        drifted = verdict(self.result) if self.result is not None else None
        if drifted in ("drift", "skew"):
            return drifted
        if self.below_gates:
            return BELOW_GATES
        if self.stale:
            return STALE
        return drifted or "not configured"

    @property
    def failed(self) -> bool:
        return self.stale or self.below_gates or (self.result is not None and self.result.failed)

    @property
    def failing_metrics(self) -> list[str]:
        """The metrics whose gates production traffic fails, in gate order."""
        failing = self.feedback.failing_gates if self.feedback is not None else []
        return list(dict.fromkeys(g.metric or g.name for g in failing))

    def retrain_reasons(self) -> list[str]:
        """Why retraining should start; empty when it should not, and always on skew: production rows that
        break the data contract are fixed upstream, and a model trained on them would learn the breakage."""
        if self.result is not None and verdict(self.result) == "skew":
            return []
        reasons = []
        if self.result is not None and self.result.drifted:
            reasons.append("drift in production")
        if self.below_gates:
            reasons.append(f"production {', '.join(self.failing_metrics)} below the gates")
        if self.stale:
            reasons.append("the production model is older than monitoring.max_model_age")
        return reasons

    def markdown(self, directions: Mapping[str, str] | None = None) -> str:
        lines = []
        if self.age is not None:
            mark = "❌" if self.age.stale else "✅"
            lines = [f"> {mark} {self.age.reason()[0].upper()}{self.age.reason()[1:]} (since `{self.age.tag}`, "
                     f"{self.age.since:%Y-%m-%d}).", ""]
        feedback = self._feedback_section(dict(directions or {}))
        if self.result is None or self.context is None:
            title = f"## {'❌ mlcd drift: the production model is stale' if self.stale else '✅ mlcd drift'}"
            return "\n".join([title, "", *lines, "No prediction logs are configured (monitoring.logs): no drift "
                              "was measured.", ""])
        report = markdown(self.result, self.context, limit=COMMENT_LIMIT - FOOTER_ROOM - len(feedback))
        head, _, rest = report.partition("\n")
        if self.below_gates and not self.result.failed:
            head = f"## ❌ mlcd drift: production {', '.join(self.failing_metrics)} below the gates"
        elif self.stale and not self.result.failed:  # the title says what the verdict is, not "no drift"
            head = "## ❌ mlcd drift: the production model is stale"
        return "\n".join([head, "", *lines]) + rest + feedback

    def _feedback_section(self, directions: dict[str, str]) -> str:
        if self.feedback is None:
            return ""
        return "\n" + self.feedback.markdown(directions, heading="###")

    def json(self) -> str:
        document = to_json(self.result, self.context) if self.result is not None and self.context else {}
        document |= {"verdict": self.verdict, "failed": self.failed,
                     "model_age": self.age.to_json() if self.age is not None else None,
                     "feedback": json.loads(self.feedback.to_json()) if self.feedback is not None else None,
                     "retrain": self.retrain_reasons()}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def input_problem(self) -> InputError | None:
        """Labels that contradict each other: no production metric is computed, and the run fails after its
        report is written."""
        failure = self.feedback.failure() if self.feedback is not None else None
        return failure if isinstance(failure, InputError) else None

    def failure(self, report: str) -> CheckFailed | None:
        """The error for a window that drifted or breaks the contract, production metrics below the gates,
        or a model older than monitoring.max_model_age (None when none of these), each reason in
        ``failures``; ``report`` names where the whole report is."""
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
        if self.feedback is not None and self.below_gates:
            failures += [f"{g.name} on production traffic: {g.reason}" for g in self.feedback.failing_gates]
            whats.append(f"production {', '.join(self.failing_metrics)} below the gates "
                         f"({len(self.feedback.join.rows):,} labelled predictions)")
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
    feedback = None
    if configured_labels(config, request.labels) is not None:
        feedback = run_feedback(config, FeedbackRequest(labels=request.labels, logs=logs, since=request.since,
                                                        until=request.until, last=request.last), out, now)
    return DriftRun(result, _context(config, logs, window.describe(), reference_name, log), log.incomplete_lines, age,
                    feedback)


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
