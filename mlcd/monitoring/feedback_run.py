"""``mlcd feedback`` as a library call: read the labels and a window of the prediction logs, join them
(:mod:`mlcd.monitoring.feedback`), and compute on the joined rows what ``mlcd evaluate`` computes on the
holdout: the configured metrics, the per-slice metrics and gaps, and the threshold and slice-gap gates."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mlcd.config import Config
from mlcd.errors import CheckFailed, ConfigError, InputError, UsageError
from mlcd.evaluation.gates import ARROW, FAILING, GateResult, apply_gates
from mlcd.evaluation.metrics import compute_metrics
from mlcd.evaluation.run import Evaluation
from mlcd.evaluation.slices import between_groups, largest_gap, slice_gaps, slice_metrics
from mlcd.monitoring.drift import PREDICTION
from mlcd.monitoring.feedback import Join, feedback_predictions, id_text, join_labels, slice_groups
from mlcd.monitoring.log_reader import FieldKind, Window, field_kind, list_logs, read_window, resolve_window
from mlcd.monitoring.log_writer import PROBA_PREFIX
from mlcd.monitoring.sources import LabelSource, configured_labels, configured_logs, read_labels
from mlcd.output import Output, write_result_file

__all__ = ["Feedback", "FeedbackRequest", "run_feedback", "write_feedback"]

_LISTED = 100  # ids listed in the JSON report per kind


@dataclass(frozen=True)
class FeedbackRequest:
    """What ``mlcd feedback`` is asked: the labels (a file, a directory of files, or an fsspec URL; None:
    monitoring.labels), and the column that pairs their rows with logged predictions (``id_column``: the
    logged request id; ``key``: a feature column in both; None: monitoring.labels' own)."""

    labels: str | None = None
    id_column: str | None = None
    key: str | None = None
    logs: str | None = None
    since: str | None = None
    until: str | None = None
    last: int | None = None
    min_rows: int | None = None


@dataclass
class Feedback:
    labels: str
    logs: str
    window: str
    logged: int  # logged rows in the window
    join: Join
    min_rows: int
    min_rows_from: str
    late: list[str] = field(default_factory=list)  # label ids logged outside the window
    notes: list[str] = field(default_factory=list)
    evaluation: Evaluation | None = None

    @property
    def unmatched(self) -> list[str]:
        late = set(self.late)
        return [key for key in self.join.unmatched if key not in late]

    @property
    def refusal(self) -> str | None:
        """Why no metric is computed on this few rows; None when there are enough."""
        rows = len(self.join.rows)
        if rows < max(self.min_rows, 1):
            return (f"{rows} labelled prediction(s) in the window, fewer than {self.min_rows_from} "
                    f"({self.min_rows}): too few to compute metrics on")
        return None

    @property
    def verdict(self) -> str:
        if self.evaluation is None:
            return "conflicting labels" if self.join.conflicts else "not enough data"
        return "passed" if self.evaluation.passed else "below gates"

    def problems(self) -> list[str]:
        join = self.join
        lines = [line for line in join.problems() if "match no logged prediction" not in line]
        if self.late:
            lines.append(f"{len(self.late)} label id(s) are for predictions logged outside the window ({self.window}): "
                         f"late, not joined: {', '.join(self.late[:5])}{' …' if len(self.late) > 5 else ''}")
        unmatched = self.unmatched
        if unmatched:
            lines.append(f"{len(unmatched)} label id(s) match no logged prediction: "
                         f"{', '.join(unmatched[:5])}{' …' if len(unmatched) > 5 else ''}")
        return lines + self.notes + ([self.refusal] if self.refusal else [])

    def to_json(self) -> str:
        join, evaluation = self.join, self.evaluation
        document: dict[str, Any] = {
            "verdict": self.verdict, "failed": self.failed, "labels": self.labels, "logs": self.logs,
            "window": self.window, "logged_rows": self.logged, "label_rows": join.labels, "joined_rows": len(join.rows),
            "min_rows": {"value": self.min_rows, "from": self.min_rows_from},
            "counts": {"blank": join.blank, "duplicates": join.duplicates, "conflicting_ids": len(join.conflicts),
                       "ambiguous_ids": len(join.ambiguous), "late_ids": len(self.late),
                       "unmatched_ids": len(self.unmatched), "unlabelled_predictions": join.unlabelled},
            "ids": {"conflicting": dict(list(join.conflicts.items())[:_LISTED]), "ambiguous": join.ambiguous[:_LISTED],
                    "late": self.late[:_LISTED], "unmatched": self.unmatched[:_LISTED]},
            "problems": self.problems(),
            "metrics": evaluation.metrics_document() if evaluation is not None else None,
            "gates": [g.as_dict() for g in evaluation.gates] if evaluation is not None else [],
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    @property
    def failed(self) -> bool:
        return self.evaluation is not None and not self.evaluation.passed

    @property
    def failing_gates(self) -> list[GateResult]:
        """The gates the production metrics fail."""
        gates = self.evaluation.gates if self.evaluation is not None else []
        return [g for g in gates if g.verdict in FAILING]

    def markdown(self, directions: dict[str, str], heading: str = "##") -> str:
        mark = {"passed": "✅", "below gates": "❌", "conflicting labels": "❌"}.get(self.verdict, "⚪")
        lines = [f"{heading} {mark} mlcd feedback: {self.verdict}", "",
                 f"Labels `{self.labels}` joined to the prediction logs `{self.logs}` ({self.window}): "
                 f"{len(self.join.rows):,} labelled prediction(s) of {self.logged:,} logged; "
                 f"{self.join.unlabelled:,} logged prediction(s) have no label yet.", ""]
        problems = self.problems()
        if problems:
            lines += [*(f"- {line}" for line in problems), ""]
        evaluation = self.evaluation
        if evaluation is None:
            return "\n".join(lines) + "\n"
        lines += ["| metric | value | better |", "|---|---:|---|"]
        for name, value in evaluation.metrics.items():
            lines.append(f"| {name} | {'n/a' if value is None else f'{value:.4f}'} | {directions.get(name, '')} |")
        if evaluation.gates:
            lines += ["", "| gate | verdict | reason |", "|---|---|---|"]
            lines += [f"| {g.name} | {ARROW[g.verdict]} {g.verdict} | {g.reason} |" for g in evaluation.gates]
        for column, per_metric in evaluation.gaps.items():
            for metric, gap in list(per_metric.items())[:1]:
                lines += ["", f"Largest {metric} gap in `{column}`: {gap['gap']:.4f} ({between_groups(gap)})."]
        return "\n".join(lines) + "\n"

    def gate_lines(self) -> list[tuple[str, bool]]:
        """Each gate's verdict as a line, and whether it fails."""
        gates = self.evaluation.gates if self.evaluation is not None else []
        return [(f"{g.verdict.upper():<5} {g.name}: {g.reason}", g.verdict in FAILING) for g in gates]

    def failure(self) -> InputError | CheckFailed | None:
        """Conflicting labels (exit 4), or a gate the production metrics fail (exit 3); None otherwise."""
        if self.join.conflicts:
            return InputError(f"{self.labels}: {len(self.join.conflicts)} id(s) have different labels "
                              f"({', '.join(list(self.join.conflicts)[:5])})",
                              fix="keep one label per id (the corrected one) and run mlcd feedback again")
        if self.evaluation is None or self.evaluation.passed:
            return None
        failing = [f"{g.name}: {g.reason}" for g in self.failing_gates]
        return CheckFailed(f"{len(failing)} gate(s) failed on production traffic: " + "; ".join(failing),
                           failures=failing, fix="retrain on recent data, or find what changed upstream")


def run_feedback(config: Config, request: FeedbackRequest, out: Output, now: datetime | None = None) -> Feedback:
    if request.key and request.id_column:
        raise UsageError("--key cannot be combined with --id-column", fix="pass one or the other")
    source = configured_labels(config, request.labels, request.id_column, request.key)
    if source is None:
        raise ConfigError("no labels to join", fix="pass --labels FILE, or set monitoring.labels.path in mlcd.yaml "
                                                   "(a file, a directory of files or an fsspec URL)")
    label = config.contract.label
    option = "--labels" if request.labels else "monitoring.labels.path"
    named_by = _id_option(request, source)
    with out.group(f"read labels {source.location}", ticker=True):
        labels = read_labels(source.location, config, {source.label_id: named_by, label: "contract.label"}, option)
    label_id, log_id = source.label_id, source.log_id
    logs = request.logs or configured_logs(config)
    window = resolve_window(request.since, request.until, request.last, config.monitoring.window,
                            now or datetime.now(timezone.utc))
    id_kind = _id_kind(config, log_id)
    fields = _fields(config, log_id, id_kind)
    probabilities = _probability_fields(logs) if config.evaluate.task == "classification" else []
    fields |= {name: "number" for name in probabilities}
    with out.group(f"read prediction logs {logs} ({window.describe()})", ticker=True):
        log = read_window(logs, fields, window)
    join = join_labels(log.frame, labels, log_id, label_id, label)
    min_rows = request.min_rows if request.min_rows is not None else config.drift.min_rows
    feedback = Feedback(source.location, logs, window.describe(), len(log.frame), join, min_rows,
                        "--min-rows" if request.min_rows is not None else "drift.min_rows")
    if join.unmatched and window != Window():
        with out.group("look for unmatched label ids outside the window", ticker=True):
            everything = read_window(logs, {log_id: id_kind}, Window()).frame
        logged = set(id_text(everything[log_id]).dropna())
        feedback.late = [key for key in join.unmatched if key in logged]
    if feedback.refusal is None and not join.conflicts:
        feedback.evaluation = _evaluate(config, join, probabilities, labels[label], feedback.notes)
    return feedback


def write_feedback(feedback: Feedback, metrics: Path, json_path: Path, markdown: str, markdown_path: Path) -> None:
    """The report files, and the metrics file in ``mlcd evaluate``'s format when metrics were computed."""
    if feedback.evaluation is not None:
        write_result_file(metrics, json.dumps(feedback.evaluation.metrics_document(), indent=2) + "\n", "--output")
        feedback.evaluation.files["metrics"] = metrics
    write_result_file(json_path, feedback.to_json(), "--json")
    write_result_file(markdown_path, markdown, "--markdown")


def _evaluate(config: Config, join: Join, probabilities: list[str], label_like: pd.Series,
              notes: list[str]) -> Evaluation:
    predictions, note = feedback_predictions(join.rows, PREDICTION, probabilities, label_like)
    if note:
        notes.append(note)
    names = list(config.metrics)
    metrics = compute_metrics(names, predictions)
    integer = [c.name for c in config.contract.columns if c.dtype == "int"]
    groups = slice_groups(join.rows, config.slices, integer)
    per_slice = slice_metrics(groups, predictions, names, min_rows=config.quality.min_rows_per_slice)
    gaps = slice_gaps(per_slice, names)
    largest = {metric: largest_gap(gaps, metric) for metric in names}
    gates = apply_gates(config.gates, config.metrics, metrics, largest, include_regressions=False)
    return Evaluation(metrics, len(join.rows), per_slice, gaps, gates)


def _id_option(request: FeedbackRequest, source: LabelSource) -> str:
    """Where the labels' id column was named."""
    if request.key:
        return "--key"
    if request.id_column:
        return "--id-column"
    if source.key:
        return "monitoring.labels.key"
    return "monitoring.labels.id_column" if source.id_column else "--id-column, default request_id"


def _id_kind(config: Config, column: str) -> FieldKind:
    names = {c.name for c in config.contract.columns}
    return field_kind(config.contract.column(column)) if column in names else "text"


def _fields(config: Config, log_id: str, id_kind: FieldKind) -> dict[str, FieldKind]:
    contract = config.contract
    label = contract.column(contract.label)
    fields: dict[str, FieldKind] = {log_id: id_kind}
    fields[PREDICTION] = "number" if config.evaluate.task == "regression" else field_kind(label)
    for column in config.slices:
        if column in contract.feature_names:
            fields[column] = field_kind(contract.column(column))
    return fields


def _probability_fields(location: str) -> list[str]:
    """The ``proba_<class>`` fields of the logs, in the order the first row of each file has them (the
    model's classes)."""
    fs, files = list_logs(location)
    found: dict[str, None] = {}
    for file in files:
        try:
            with fs.open(file.path, "rb") as raw:
                if file.path.endswith(".gz"):
                    with gzip.open(raw) as unzipped:
                        line = unzipped.readline()
                else:
                    line = raw.readline()
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read {file.path}: {exc}", fix="check the file's permissions") from None
        try:
            row = json.loads(line) if line.strip() else {}
        except ValueError:
            continue  # read_window names the bad line
        if isinstance(row, dict):
            found |= {key: None for key in row if key.startswith(PROBA_PREFIX)}
    return list(found)
