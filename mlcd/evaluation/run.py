"""Evaluate the trained model on the holdout and write the metric, prediction and gate files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlcd.config import Config
from mlcd.errors import ConfigError, InputError, ModelError
from mlcd.evaluation.gates import GateResult, apply_gates, passed
from mlcd.evaluation.metrics import Predictions, compute_metrics
from mlcd.evaluation.slices import between_groups, largest_gap, slice_gaps, slice_metrics
from mlcd.model import load_model


@dataclass
class Evaluation:
    metrics: dict[str, float | None]
    rows: int
    slices: dict[str, dict[str, dict[str, Any]]]
    gaps: dict[str, dict[str, Any]]
    gates: list[GateResult]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return passed(self.gates)

    def metrics_document(self) -> dict[str, Any]:
        """The DVC metrics file: headline metrics at the top level, slices below."""
        return {**self.metrics, "n_holdout": self.rows, "slices": self.slices, "slice_gaps": self.gaps}


def read_holdout(config: Config, name: str) -> Any:
    """The holdout split, read as mlcd.yaml's data section describes the data."""
    from mlcd.data.io import read_table

    return read_table(config.resolve(name), config.data)


Array = np.ndarray[Any, Any]


def predict(model: Any, features: Any, task: str) -> tuple[Array, Array | None, list[Any] | None]:
    try:
        labels = np.asarray(model.predict(features))
        if task == "classification" and hasattr(model, "predict_proba"):
            return labels, np.asarray(model.predict_proba(features), dtype=float), list(model.classes_)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the model cannot score the holdout: {exc}",
                         fix="check that contract.columns matches the columns the model was trained on") from None
    return labels, None, None


def labelled_holdout(config: Config) -> Any:
    """The holdout's labelled rows, with every contract column."""
    holdout_name = config.holdout_path
    if holdout_name is None:
        raise ConfigError("no holdout to evaluate on", fix="set evaluate.holdout or data.splits.test in mlcd.yaml")
    frame = read_holdout(config, holdout_name)
    label = config.contract.label
    missing = [c for c in [label, *config.contract.feature_names] if c not in frame.columns]
    if missing:
        raise InputError(f"{holdout_name} lacks column(s) {', '.join(missing)}",
                         fix="make the pipeline keep every contract column in the holdout split")
    frame = frame[frame[label].notna()].reset_index(drop=True)
    if frame.empty:
        raise InputError(f"{holdout_name} has no labelled rows", fix="check the prepare stage's split")
    return frame


def score_model(config: Config, model_path: Path, frame: Any) -> Predictions:
    """A model file's predictions on the holdout rows ``frame``."""
    model = load_model(model_path, config.model.trusted_types)
    labels, proba, classes = predict(model, frame[config.contract.feature_names], config.evaluate.task)
    return Predictions(frame[config.contract.label].to_numpy(), labels, proba, classes)


def evaluate(config: Config) -> Evaluation:
    frame = labelled_holdout(config)
    predictions = score_model(config, config.resolve(config.model.path), frame)
    names = list(config.metrics)
    metrics = compute_metrics(names, predictions)
    groups = {column: frame[column].astype(object).where(frame[column].notna(), None).tolist()
              for column in config.slices if column in frame.columns}
    per_slice = slice_metrics(groups, predictions, names, min_rows=config.quality.min_rows_per_slice)
    gaps = slice_gaps(per_slice, names)
    largest = {metric: largest_gap(gaps, metric) for metric in names}
    gates = apply_gates(config.gates, config.metrics, metrics, largest, include_regressions=False)
    evaluation = Evaluation(metrics, len(frame), per_slice, gaps, gates)
    evaluation.files["predictions"] = write_predictions(config.resolve(config.evaluate.predictions_file),
                                                        predictions)
    return evaluation


def write_predictions(path: Path, predictions: Predictions) -> Path:
    """The predictions file: one row per holdout row, with y_true, y_pred and proba_<class> columns."""
    import pandas as pd

    out = pd.DataFrame({"row": np.arange(len(predictions.y_true)), "y_true": predictions.y_true,
                        "y_pred": predictions.y_pred})
    if predictions.proba is not None and predictions.classes is not None:
        for index, cls in enumerate(predictions.classes):
            out[f"proba_{cls}"] = predictions.proba[:, index]
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, float_format="%.17g")
    return path


def read_predictions(path: Path) -> Predictions | None:
    """The predictions file as written by write_predictions (labels as text); None when there is none."""
    if not path.is_file():
        return None
    import pandas as pd

    frame = pd.read_csv(path)
    proba_columns = [c for c in frame.columns if c.startswith("proba_")]
    proba = frame[proba_columns].to_numpy(dtype=float) if proba_columns else None
    classes = [c.removeprefix("proba_") for c in proba_columns] if proba_columns else None
    return Predictions(frame["y_true"].astype(str).to_numpy(), frame["y_pred"].astype(str).to_numpy(), proba, classes)


def write_results(config: Config, evaluation: Evaluation) -> None:
    metrics_path = config.resolve(config.evaluate.metrics_file)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(evaluation.metrics_document(), indent=2) + "\n", encoding="utf-8")
    gates_path = config.resolve(config.evaluate.gates_file)
    gates_path.parent.mkdir(parents=True, exist_ok=True)
    gates_path.write_text(json.dumps({"passed": evaluation.passed,
                                      "gates": [g.as_dict() for g in evaluation.gates]}, indent=2) + "\n",
                          encoding="utf-8")
    evaluation.files.update(metrics=metrics_path, gates=gates_path)


def render_markdown(evaluation: Evaluation, directions: dict[str, str]) -> str:
    from mlcd.evaluation.gates import ARROW

    lines = ["### Evaluation", "", f"Holdout: {evaluation.rows} rows.", "", "| metric | value | better |",
             "|---|---:|---|"]
    for name, value in evaluation.metrics.items():
        shown = "n/a" if value is None else f"{value:.4f}"
        lines.append(f"| {name} | {shown} | {directions.get(name, '')} |")
    if evaluation.gates:
        lines += ["", "| gate | verdict | reason |", "|---|---|---|"]
        lines += [f"| {g.name} | {ARROW[g.verdict]} {g.verdict} | {g.reason} |" for g in evaluation.gates]
    for column, per_metric in evaluation.gaps.items():
        for metric, gap in per_metric.items():
            lines.append("")
            lines.append(f"Largest {metric} gap in `{column}`: {gap['gap']:.4f} ({between_groups(gap)}).")
            break
    return "\n".join(lines) + "\n"
