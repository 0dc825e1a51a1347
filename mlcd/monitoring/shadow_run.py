"""``mlcd shadow`` as a library call: replay a window (or a sample) of the prediction logs through a
candidate model file and compare its predictions with what production answered.

Production's side is the logged ``prediction`` of each row: what the image in production's place actually
returned, so no production image has to run. The candidate's side is the model file scored in this process
on the logged features, as ``mlcd evaluate`` scores the holdout, or any other :class:`Candidate` (the
candidate image, scored through its endpoint: :mod:`mlcd.packaging.shadow_image`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlcd.config import Config
from mlcd.errors import CheckFailed, ModelError, UsageError
from mlcd.evaluation.gates import GateResult, churn_gate
from mlcd.model import load_model
from mlcd.model.io import file_sha256
from mlcd.monitoring.drift import PREDICTION
from mlcd.monitoring.log_reader import FieldKind, field_kind, read_window, resolve_window
from mlcd.monitoring.shadow import Churn, Task, churn, slice_churn
from mlcd.monitoring.shadow_report import shadow_json, shadow_markdown
from mlcd.monitoring.sources import configured_logs

__all__ = ["Candidate", "ShadowContext", "ShadowRequest", "ShadowResult", "ShadowRun", "configured", "replay",
           "run_shadow"]


@dataclass(frozen=True)
class ShadowRequest:
    """What ``mlcd shadow`` is asked; None everywhere: monitoring.logs, monitoring.window, model.path."""

    logs: str | None = None
    model: Path | None = None
    since: str | None = None
    until: str | None = None
    last: int | None = None
    sample: int | None = None  # at most this many rows of the window, drawn at random (seeded)
    seed: int = 0
    if_configured: bool = False


class Scorer(Protocol):
    def predict(self, features: pd.DataFrame) -> Any: ...


@dataclass(frozen=True)
class Candidate:
    """What the logged rows are replayed through: ``name`` (a model file or an image) and the sha256 of the
    model it serves, and ``model``, whose ``predict`` answers the logged features."""

    name: str
    sha256: str | None
    model: Scorer


@dataclass(frozen=True)
class ShadowResult:
    task: Task
    overall: Churn
    slices: dict[str, dict[str, Churn]]
    gate: GateResult | None


@dataclass(frozen=True)
class ShadowContext:
    model: str
    candidate: str
    logs: str
    window: str
    rows_in_window: int
    files_read: int
    files_total: int
    versions: dict[str, int] = field(default_factory=dict)
    unlogged_slices: tuple[str, ...] = ()
    first: datetime | None = None
    last: datetime | None = None
    model_sha256: str | None = None  # of the model replayed: the file's, or the one the image's label names


@dataclass(frozen=True)
class ShadowRun:
    result: ShadowResult
    context: ShadowContext
    incomplete_lines: int = 0

    def markdown(self) -> str:
        return shadow_markdown(self.result, self.context)

    def json(self) -> str:
        return json.dumps(shadow_json(self.result, self.context), indent=2, ensure_ascii=False) + "\n"

    def failure(self, report: str) -> CheckFailed | None:
        gate = self.result.gate
        if gate is None or gate.verdict != "fail":
            return None
        return CheckFailed(f"prediction churn gate failed: {gate.reason}", failures=[gate.reason],
                           fix=f"see {report}; if the change is intended, raise gates.max_prediction_churn in "
                               "mlcd.yaml")


def replay(config: Config, model: Any, frame: pd.DataFrame, slices: list[str]) -> ShadowResult:
    """The churn of ``model`` against the logged predictions of ``frame`` (features, ``prediction``)."""
    task: Task = "regression" if config.evaluate.task == "regression" else "classification"
    features = frame[config.contract.feature_names]
    try:
        candidate = np.asarray(model.predict(features)) if len(frame) else np.array([])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"the candidate model cannot score the logged rows: {exc}",
                         fix="check that contract.columns matches the columns the model was trained on") from None
    production = frame[PREDICTION].to_numpy()
    tolerance = config.gates.churn_tolerance
    overall = churn(production, candidate, task, tolerance)
    groups = {column: frame[column].to_numpy() for column in slices}
    per_slice = slice_churn(groups, production, candidate, task, tolerance)
    limit = config.gates.max_prediction_churn
    gate = None if limit is None else churn_gate(overall.rate, overall.changed, overall.rows, limit)
    return ShadowResult(task, overall, per_slice, gate)


def configured(config: Config, request: ShadowRequest) -> bool:
    """Whether there are prediction logs to replay: ``request.logs``, else monitoring.logs."""
    return bool(request.logs) or config.monitoring.logs is not None


def run_shadow(config: Config, request: ShadowRequest, now: datetime | None = None,
               candidate: Candidate | None = None) -> ShadowRun | None:
    """None when ``request.if_configured`` and no prediction logs are configured (nothing to replay yet).
    The rows are replayed through ``candidate``, by default the model file (``request.model``, model.path)."""
    if request.if_configured and not configured(config, request):
        return None
    if request.sample is not None and request.sample < 1:
        raise UsageError(f"--sample {request.sample}: the number of rows must be at least 1")
    logs = request.logs or configured_logs(config)
    window = resolve_window(request.since, request.until, request.last, config.monitoring.window,
                            now or datetime.now(timezone.utc))
    if candidate is None:
        model_path = request.model or config.resolve(config.model.path)
        candidate = Candidate(str(model_path), file_sha256(model_path),
                              load_model(model_path, config.model.trusted_types))
    features = config.contract.feature_names
    label = config.contract.column(config.contract.label)
    fields: dict[str, FieldKind] = {name: field_kind(config.contract.column(name)) for name in features}
    fields[PREDICTION] = "number" if config.evaluate.task == "regression" else field_kind(label)
    fields["model_version"] = "text"
    log = read_window(logs, fields, window)
    frame = log.frame
    if request.sample is not None and len(frame) > request.sample:
        frame = frame.sample(n=request.sample, random_state=request.seed).sort_index()
    frame = frame[frame[PREDICTION].notna()].reset_index(drop=True)
    slices = [column for column in config.slices if column in features]
    result = replay(config, candidate.model, frame, slices)
    versions = Counter(frame["model_version"].dropna().astype(str))
    context = ShadowContext(
        model=config.model.name, candidate=candidate.name, logs=logs, window=window.describe(),
        rows_in_window=len(log.frame), files_read=len(log.files_read), files_total=log.files_total,
        versions=dict(versions.most_common()),
        unlogged_slices=tuple(column for column in config.slices if column not in features),
        first=frame["ts"].iloc[0].to_pydatetime() if len(frame) else None,
        last=frame["ts"].iloc[-1].to_pydatetime() if len(frame) else None, model_sha256=candidate.sha256)
    return ShadowRun(result, context, log.incomplete_lines)
